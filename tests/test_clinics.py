"""Platform onboarding (`/v1/clinics`) and the set-password page behind invite links."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from service.core import context
from service.core.clock import utcnow
from service.core.ids import digest, new_secret
from service.core.passwords import verify_secret
from service.db import uow
from service.staff.models import StaffMember
from tests.fixtures import ClinicHandle

NEW_PASSWORD = "a long enough new password"


def _body(**changes: object) -> dict[str, object]:
    slug = f"onboard-{new_secret()[:10].lower().replace('_', '-').strip('-')}x"
    body = {
        "name": "Riverside Couples Practice",
        "slug": slug,
        "timezone": "Europe/Berlin",
        "admin_email": f"Owner@{slug}.example",
        "admin_name": "Rosa Owner",
    }
    body.update(changes)
    return body


def _member(staff_id: str | uuid.UUID) -> StaffMember:
    with context.system_context("test check"), uow.unit_of_work() as session:
        return session.get(StaffMember, uuid.UUID(str(staff_id)))


def _path(url: str) -> str:
    return urlsplit(url).path


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def _onboard(client, platform, **changes: object):
    response = client.post("/v1/clinics", json=_body(**changes), headers=platform.headers)
    assert response.status_code == 201, response.json
    return response


# -- POST /v1/clinics ---------------------------------------------------------------------------


def test_platform_creates_a_clinic_with_its_first_admin(client, platform, settings):
    body = _body(locale="de")
    response = client.post("/v1/clinics", json=body, headers=platform.headers)

    assert response.status_code == 201, response.json
    clinic = response.json
    assert clinic["slug"] == body["slug"] and clinic["name"] == body["name"]
    assert clinic["timezone"] == "Europe/Berlin" and clinic["locale"] == "de"
    assert response.headers["Location"] == f"/v1/clinics/{clinic['id']}"
    invite_url = clinic["admin_invite_url"]
    assert invite_url.startswith(f"{settings.base_url}/invite/")
    token = invite_url.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits, URL-safe

    admin = _member(clinic["admin_id"])
    assert str(admin.clinic_id) == clinic["id"]
    assert admin.role == "admin" and admin.active
    assert admin.email == body["admin_email"].lower()
    assert admin.display_name == "Rosa Owner"
    assert admin.password_hash is None
    assert admin.invite_token_hash == digest(token)  # only the digest is stored
    expected_expiry = utcnow() + timedelta(seconds=settings.invite_ttl)
    assert abs(admin.invite_expires_at - expected_expiry) < timedelta(minutes=1)


def test_platform_reads_the_clinic_it_created(client, platform):
    created = _onboard(client, platform).json

    one = client.get(f"/v1/clinics/{created['id']}", headers=platform.headers)
    assert one.status_code == 200
    assert one.json["slug"] == created["slug"]
    assert "admin_invite_url" not in one.json
    assert one.headers["ETag"] == '"1"'

    missing = client.get(f"/v1/clinics/{uuid.uuid4()}", headers=platform.headers)
    assert missing.status_code == 404


def test_platform_lists_clinics_page_by_page(client, platform):
    created = _onboard(client, platform).json
    seen: list[str] = []
    url = "/v1/clinics?limit=200"
    for _ in range(100):
        response = client.get(url, headers=platform.headers)
        assert response.status_code == 200
        seen += [item["id"] for item in response.json["items"]]
        if response.json["next_cursor"] is None:
            break
        url = f"/v1/clinics?limit=200&cursor={response.json['next_cursor']}"
    assert created["id"] in seen
    assert len(seen) == len(set(seen))


def test_onboarding_is_audited_in_the_new_clinic(client, platform, settings):
    created = _onboard(client, platform).json
    client.get(f"/v1/clinics/{created['id']}", headers=platform.headers)
    new_clinic = ClinicHandle(uuid.UUID(created["id"]), created["slug"], settings.token_issuer)
    token = new_clinic.token_for(uuid.UUID(created["admin_id"]), "admin")

    events = client.get(
        "/v1/audit-events?limit=200", headers={"Authorization": f"Bearer {token}"}
    ).json["items"]

    seen = {(e["action"], e["resource_type"], e["resource_id"], e["actor_id"]) for e in events}
    assert ("create", "clinic", created["id"], platform.client_id) in seen
    assert ("create", "staff", created["admin_id"], platform.client_id) in seen
    assert ("read", "clinic", created["id"], platform.client_id) in seen


def test_duplicate_slug_is_409_naming_slug(client, platform):
    first = _onboard(client, platform).json
    again = client.post("/v1/clinics", json=_body(slug=first["slug"]), headers=platform.headers)
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    assert "slug" in again.json["errors"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"owner": "me"}, "owner"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"admin_email": "not-an-email"}, "admin_email"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"name": "Bad\x00name"}, "name"),
        ({"admin_name": ""}, "admin_name"),
        ({"cors_origins": ["https://x.example"]}, "cors_origins"),
    ],
)
def test_bad_onboarding_body_is_422_naming_the_field(client, platform, changes, field):
    response = client.post("/v1/clinics", json=_body(**changes), headers=platform.headers)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]


def test_missing_timezone_is_422(client, platform):
    body = _body()
    del body["timezone"]
    response = client.post("/v1/clinics", json=body, headers=platform.headers)
    assert response.status_code == 422
    assert "timezone" in response.json["errors"]


def test_idempotency_key_replays_the_onboarding(client, platform):
    body = _body()
    headers = {**platform.headers, "Idempotency-Key": f"onboard-{new_secret()[:12]}"}

    first = client.post("/v1/clinics", json=body, headers=headers)
    again = client.post("/v1/clinics", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json == {**first.json, "admin_invite_url": None}  # the link is never stored
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.headers["Idempotent-Replayed"] == "true"  # deprecated, still sent
    different = client.post("/v1/clinics", json=_body(), headers=headers)
    assert different.status_code == 422
    assert "Idempotency-Key" in different.json["errors"]


def test_only_platform_tokens_may_onboard(client, admin, clinic):
    for method in ("get", "post"):
        kwargs = {"json": _body()} if method == "post" else {}
        anonymous = getattr(client, method)("/v1/clinics", **kwargs)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        as_admin = getattr(client, method)("/v1/clinics", headers=admin.headers, **kwargs)
        assert as_admin.status_code == 403
    integrator = clinic.integrator("clinic.read", "clinic.write")
    assert client.get(f"/v1/clinics/{clinic.id}", headers=integrator.headers).status_code == 403
    assert client.get(f"/v1/clinics/{clinic.id}", headers=admin.headers).status_code == 403


# -- the set-password page ----------------------------------------------------------------------


def test_invite_link_sets_the_password_once(client, platform):
    created = _onboard(client, platform).json
    path = _path(created["admin_invite_url"])

    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'autocomplete="new-password"' in html and '<label for="password">' in html
    assert created["name"] in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Frame-Options"] == "DENY"
    csrf = _csrf(html)

    done = client.post(
        path, data={"csrf_token": csrf, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert "password is set" in done.get_data(as_text=True)

    admin = _member(created["admin_id"])
    assert verify_secret(admin.password_hash, NEW_PASSWORD)
    assert admin.password_hash.startswith("$argon2id$")
    assert admin.invite_token_hash is None and admin.invite_expires_at is None

    assert client.get(path).status_code == 404
    reuse = client.post(path, data={"csrf_token": csrf, "password": "x" * 20, "confirm": "x" * 20})
    assert reuse.status_code == 404
    assert verify_secret(_member(created["admin_id"]).password_hash, NEW_PASSWORD)


def test_short_or_mismatched_password_shows_the_form_again(client, platform):
    created = _onboard(client, platform).json
    path = _path(created["admin_invite_url"])
    csrf = _csrf(client.get(path).get_data(as_text=True))

    short = client.post(path, data={"csrf_token": csrf, "password": "short", "confirm": "short"})
    assert short.status_code == 422
    assert "at least 12 characters" in short.get_data(as_text=True)
    assert 'role="alert"' in short.get_data(as_text=True)

    mismatch = client.post(
        path, data={"csrf_token": csrf, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"}
    )
    assert mismatch.status_code == 422
    assert "do not match" in mismatch.get_data(as_text=True)

    admin = _member(created["admin_id"])
    assert admin.password_hash is None and admin.invite_token_hash is not None
    # The link still works after a failed attempt.
    ok = client.post(
        path, data={"csrf_token": csrf, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert ok.status_code == 200


def test_a_post_without_the_csrf_token_changes_nothing(client, platform, app):
    created = _onboard(client, platform).json
    path = _path(created["admin_invite_url"])
    fresh = app.test_client()  # no session cookie: as if another site posted the form
    refused = fresh.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert refused.status_code == 400
    assert _member(created["admin_id"]).password_hash is None


def test_unknown_and_expired_links(client, platform):
    assert client.get(f"/invite/{new_secret()}").status_code == 404
    assert client.get("/invite/short").status_code == 404

    created = _onboard(client, platform).json
    with context.system_context("test expire"), uow.unit_of_work() as session:
        session.execute(
            sa.update(StaffMember)
            .where(StaffMember.id == uuid.UUID(created["admin_id"]))
            .values(invite_expires_at=utcnow() - timedelta(seconds=1))
        )
    path = _path(created["admin_invite_url"])
    expired = client.get(path)
    assert expired.status_code == 410
    assert "expired" in expired.get_data(as_text=True)
    posted = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert posted.status_code == 410


def test_set_password_posts_are_rate_limited(client, app, platform):
    path = _path(_onboard(client, platform).json["admin_invite_url"])
    relaxed = app.config["SETTINGS"]
    app.config["SETTINGS"] = dataclasses.replace(relaxed, login_rate_limit="3 per minute")
    try:
        responses = [
            client.post(
                path,
                data={"password": "guess", "confirm": "guess"},
                environ_base={"REMOTE_ADDR": "198.51.100.31"},
            )
            for _ in range(4)
        ]
        page = client.get(path, environ_base={"REMOTE_ADDR": "198.51.100.31"})
    finally:
        app.config["SETTINGS"] = relaxed
    assert [r.status_code for r in responses[:3]] == [400, 400, 400]  # no CSRF token
    limited = responses[3]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert "Too many attempts" in limited.get_data(as_text=True)
    assert page.status_code == 200  # only POSTs count
