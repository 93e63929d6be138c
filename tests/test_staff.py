"""`/v1/staff`: list, invite, read, change, deactivate/reactivate, re-invite."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest

from service.core import context
from service.core.ids import ROUTE_LENGTH, digest, new_secret, route_of, routed_secret
from service.core.passwords import verify_secret
from service.db import uow
from service.staff.models import StaffMember

SECRET_FIELDS = {"password_hash", "invite_token_hash", "tokens_valid_after"}


def _member(staff_id: str | uuid.UUID) -> StaffMember:
    with context.system_context("test check"), uow.unit_of_work() as session:
        return session.get(StaffMember, uuid.UUID(str(staff_id)))


def _invite_body(**changes: object) -> dict[str, object]:
    body = {
        "email": f"new-{new_secret()[:8].lower()}@clinic.example",
        "role": "therapist",
        "display_name": "Noor Haddad",
    }
    body.update(changes)
    return body


def _events(client, admin, **query: str) -> list[dict]:
    response = client.get(
        "/v1/audit-events", query_string={"limit": 200, **query}, headers=admin.headers
    )
    assert response.status_code == 200, response.json
    return response.json["items"]


# -- list ----------------------------------------------------------------------------------------


def test_staff_list_is_the_callers_clinic_only(client, clinic, other_clinic, admin):
    therapist = clinic.staff("therapist")
    stranger = other_clinic.staff("therapist")
    for caller in (admin, therapist, clinic.staff("supervisor")):
        response = client.get("/v1/staff", headers=caller.headers)
        assert response.status_code == 200
        ids = {item["id"] for item in response.json["items"]}
        assert {str(admin.id), str(therapist.id)} <= ids
        assert str(stranger.id) not in ids
        for item in response.json["items"]:
            assert not SECRET_FIELDS & set(item)


def test_staff_list_refuses_anonymous_and_platform(client, platform, clinic):
    anonymous = client.get("/v1/staff")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/v1/staff", headers=platform.headers).status_code == 403
    no_scope = clinic.integrator("couples.read")
    assert client.get("/v1/staff", headers=no_scope.headers).status_code == 403


def test_staff_list_filters(client, clinic, admin):
    ana = clinic.staff("therapist", display_name="Ana Reyes Filtertest")
    sam = clinic.staff("therapist", display_name="Sam Whitfield", email="sam.filter@x.example")
    sup = clinic.staff("supervisor")
    gone = clinic.staff("therapist", active=False)

    def ids(**query: object) -> set[str]:
        response = client.get("/v1/staff", query_string=query, headers=admin.headers)
        assert response.status_code == 200, response.json
        return {item["id"] for item in response.json["items"]}

    assert ids(role="therapist") == {str(ana.id), str(sam.id), str(gone.id)}
    assert ids(role="supervisor") == {str(sup.id)}
    assert ids(role="therapist", active="false") == {str(gone.id)}
    assert str(gone.id) not in ids(active="true")
    assert ids(q="reyes filter") == {str(ana.id)}  # display name, case-insensitive
    assert ids(q="SAM.FILTER@") == {str(sam.id)}  # email
    assert ids(q="100%_") == set()  # LIKE wildcards are literal
    bad = client.get("/v1/staff", query_string={"role": "owner"}, headers=admin.headers)
    assert bad.status_code == 400 and "role" in bad.json["errors"]
    unknown = client.get("/v1/staff", query_string={"sort": "name"}, headers=admin.headers)
    assert unknown.status_code == 400 and "sort" in unknown.json["errors"]


def test_staff_list_pages_with_cursor_and_link(client, clinic, admin):
    for _ in range(3):
        clinic.staff("therapist")
    first = client.get("/v1/staff?limit=2", headers=admin.headers)
    assert first.status_code == 200
    assert len(first.json["items"]) == 2
    cursor = first.json["next_cursor"]
    assert cursor
    link = first.headers["Link"]
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    assert f"cursor={cursor}" in match.group(1) and "limit=2" in match.group(1)

    second = client.get(f"/v1/staff?limit=2&cursor={cursor}", headers=admin.headers)
    via_link = urlsplit(match.group(1))
    followed = client.get(f"{via_link.path}?{via_link.query}", headers=admin.headers)
    assert followed.json == second.json
    assert len(second.json["items"]) == 2
    assert second.json["next_cursor"] is None and "Link" not in second.headers
    all_ids = [item["id"] for item in first.json["items"] + second.json["items"]]
    assert len(set(all_ids)) == 4  # the admin and three therapists, none twice

    bad = client.get("/v1/staff?cursor=not-a-cursor", headers=admin.headers)
    assert bad.status_code == 400 and "cursor" in bad.json["errors"]


def test_staff_reads_are_audited(client, clinic, admin):
    therapist = clinic.staff("therapist")
    client.get("/v1/staff", headers=admin.headers)
    client.get(f"/v1/staff/{therapist.id}", headers=admin.headers)

    events = _events(client, admin, resource_id=str(therapist.id))
    reads = [e for e in events if e["action"] == "read" and e["actor_id"] == str(admin.id)]
    assert len(reads) == 2  # one for the list, one for the item
    assert all(e["resource_type"] == "staff" and e["request_id"] for e in reads)


# -- invite --------------------------------------------------------------------------------------


def test_admin_invites_a_therapist(client, admin, settings):
    body = _invite_body(
        email="Noor.Haddad@Clinic.Example",
        pronouns="she/her",
        bio="Works with couples after infidelity.",
        approaches=["EFT", "Gottman"],
        languages=["en", "ar", "de-CH"],
        accepting_new=True,
        listed_publicly=True,
    )
    response = client.post("/v1/staff", json=body, headers=admin.headers)

    assert response.status_code == 201, response.json
    member = response.json
    assert response.headers["Location"] == f"/v1/staff/{member['id']}"
    assert response.headers["ETag"] == '"1"'
    assert member["email"] == "noor.haddad@clinic.example"
    assert member["role"] == "therapist" and member["active"] is True
    assert member["approaches"] == ["EFT", "Gottman"]
    assert member["languages"] == ["en", "ar", "de-CH"]
    assert member["invite_pending"] is True
    assert datetime.fromisoformat(member["invite_expires_at"]).utcoffset() == timedelta(0)
    assert not SECRET_FIELDS & set(member)
    assert member["invite_url"].startswith(f"{settings.base_url}/invite/")

    stored = _member(member["id"])
    token = member["invite_url"].rsplit("/", 1)[1]
    assert stored.clinic_id == admin.clinic_id
    assert stored.invite_token_hash == digest(token) and stored.password_hash is None

    events = _events(client, admin, resource_id=member["id"], action="create")
    assert [e["actor_id"] for e in events] == [str(admin.id)]


def test_invited_staff_sets_a_password_through_the_link(client, admin):
    member = client.post("/v1/staff", json=_invite_body(), headers=admin.headers).json
    path = urlsplit(member["invite_url"]).path
    html = client.get(path).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    password = "twelve chars or more please"

    done = client.post(path, data={"csrf_token": csrf, "password": password, "confirm": password})

    assert done.status_code == 200
    assert verify_secret(_member(member["id"]).password_hash, password)
    assert (
        client.get(f"/v1/staff/{member['id']}", headers=admin.headers).json["invite_pending"]
        is False
    )
    assert client.get(path).status_code == 404


def test_an_invite_link_names_its_clinic_and_opens_nothing_elsewhere(client, admin, other_clinic):
    member = client.post("/v1/staff", json=_invite_body(), headers=admin.headers).json
    token = member["invite_url"].rsplit("/", 1)[1]
    assert route_of(token) == admin.clinic_id  # looked up on its clinic's shard only
    elsewhere = routed_secret(other_clinic.id)[:ROUTE_LENGTH] + token[ROUTE_LENGTH:]
    assert client.get(f"/invite/{elsewhere}").status_code == 404
    assert client.get(f"/invite/{token}").status_code == 200


def test_invite_links_sent_before_links_named_their_clinic_still_open(client, admin):
    member = client.post("/v1/staff", json=_invite_body(), headers=admin.headers).json
    old_style = new_secret()  # 43 characters, no clinic in it
    old_invite = context.system_context("test: an invite sent before routed links")
    with old_invite, uow.unit_of_work() as session:
        session.get(StaffMember, uuid.UUID(member["id"])).invite_token_hash = digest(old_style)
    assert "Noor Haddad" in client.get(f"/invite/{old_style}").get_data(as_text=True)


@pytest.mark.parametrize("role", ["therapist", "supervisor"])
def test_only_admins_invite(client, clinic, role):
    caller = clinic.staff(role)
    response = client.post("/v1/staff", json=_invite_body(), headers=caller.headers)
    assert response.status_code == 403


def test_invite_refuses_anonymous_platform_and_integrators(client, clinic, platform):
    assert client.post("/v1/staff", json=_invite_body()).status_code == 401
    assert (
        client.post("/v1/staff", json=_invite_body(), headers=platform.headers).status_code == 403
    )
    integrator = clinic.integrator("staff.read", "staff.write")
    assert (
        client.post("/v1/staff", json=_invite_body(), headers=integrator.headers).status_code == 403
    )


def test_duplicate_email_in_the_clinic_is_409_naming_email(client, clinic, other_clinic, admin):
    existing = clinic.staff("therapist")
    response = client.post(
        "/v1/staff", json=_invite_body(email=existing.email.upper()), headers=admin.headers
    )
    assert response.status_code == 409
    assert "email" in response.json["errors"]
    # The same email may hold an account at another clinic.
    elsewhere = other_clinic.staff("admin")
    again = client.post(
        "/v1/staff", json=_invite_body(email=existing.email), headers=elsewhere.headers
    )
    assert again.status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"password_hash": "x"}, "password_hash"),
        ({"clinic_id": str(uuid.uuid4())}, "clinic_id"),
        ({"active": False}, "active"),
        ({"email": "not-an-email"}, "email"),
        ({"role": "owner"}, "role"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": "Nul\x00byte"}, "display_name"),
        ({"pronouns": "p" * 41}, "pronouns"),
        ({"approaches": ["x" * 61]}, "approaches.0"),
        ({"approaches": "EFT"}, "approaches"),
        ({"languages": ["english please"]}, "languages.0"),
        ({"accepting_new": "maybe"}, "accepting_new"),
        ({"listed_publicly": 1}, "listed_publicly"),
    ],
)
def test_bad_invite_body_is_422_naming_the_field(client, admin, changes, field):
    response = client.post("/v1/staff", json=_invite_body(**changes), headers=admin.headers)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json


def test_idempotency_key_replays_the_invite_and_creates_one_member(client, admin):
    body = _invite_body()
    headers = {**admin.headers, "Idempotency-Key": f"invite-{new_secret()[:12]}"}

    first = client.post("/v1/staff", json=body, headers=headers)
    again = client.post("/v1/staff", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    # The replay is the stored response, less the one-time link (never kept at rest).
    assert again.json == {**first.json, "invite_url": None}
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.headers["Idempotent-Replayed"] == "true"  # deprecated, still sent
    listed = client.get("/v1/staff", query_string={"q": body["email"]}, headers=admin.headers)
    assert [item["id"] for item in listed.json["items"]] == [first.json["id"]]

    different = client.post("/v1/staff", json=_invite_body(), headers=headers)
    assert different.status_code == 422
    assert "Idempotency-Key" in different.json["errors"]


def test_reinvite_replaces_the_link(client, clinic, admin):
    member = client.post("/v1/staff", json=_invite_body(), headers=admin.headers).json
    old_path = urlsplit(member["invite_url"]).path

    response = client.post(f"/v1/staff/{member['id']}/invite", headers=admin.headers)

    assert response.status_code == 200
    assert response.json["invite_url"] != member["invite_url"]
    assert client.get(old_path).status_code == 404
    assert client.get(urlsplit(response.json["invite_url"]).path).status_code == 200
    therapist = clinic.staff("therapist")
    refused = client.post(f"/v1/staff/{member['id']}/invite", headers=therapist.headers)
    assert refused.status_code == 403


# -- read one ------------------------------------------------------------------------------------


def test_get_one_with_etag_and_tenant_404(client, clinic, other_clinic, admin):
    therapist = clinic.staff("therapist")
    response = client.get(f"/v1/staff/{therapist.id}", headers=admin.headers)
    assert response.status_code == 200
    assert response.json["id"] == str(therapist.id)
    assert response.headers["ETag"] == '"1"'
    assert not SECRET_FIELDS & set(response.json)

    intruder = other_clinic.staff("admin")
    assert client.get(f"/v1/staff/{therapist.id}", headers=intruder.headers).status_code == 404
    assert client.get(f"/v1/staff/{uuid.uuid4()}", headers=admin.headers).status_code == 404
    assert client.get("/v1/staff/not-a-uuid", headers=admin.headers).status_code == 404
    assert client.get(f"/v1/staff/{therapist.id}").status_code == 401


# -- change --------------------------------------------------------------------------------------


def test_admin_changes_role_and_profile_with_if_match(client, clinic, admin):
    therapist = clinic.staff("therapist")
    url = f"/v1/staff/{therapist.id}"

    changed = client.patch(
        url,
        json={"role": "supervisor", "bio": "Supervises EFT cases.", "approaches": ["EFT"]},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["role"] == "supervisor" and changed.json["bio"] == "Supervises EFT cases."
    assert changed.headers["ETag"] == '"2"'

    stale = client.patch(url, json={"bio": "lost"}, headers={**admin.headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert client.get(url, headers=admin.headers).json["bio"] == "Supervises EFT cases."
    # The role is in the token: tokens issued before the change are refused.
    assert client.get("/v1/staff", headers=therapist.headers).status_code == 401

    events = _events(client, admin, resource_id=str(therapist.id), action="update")
    assert [e["actor_id"] for e in events] == [str(admin.id)]


def test_therapist_changes_only_their_own_profile(client, clinic):
    therapist = clinic.staff("therapist")
    colleague = clinic.staff("therapist")
    own = f"/v1/staff/{therapist.id}"

    ok = client.patch(
        own,
        json={
            "display_name": "Dr. Ana R.",
            "pronouns": "she/her",
            "bio": "Hello",
            "approaches": ["IBCT"],
            "languages": ["es"],
            "accepting_new": True,
            "listed_publicly": True,
        },
        headers=therapist.headers,
    )
    assert ok.status_code == 200, ok.json
    assert ok.json["display_name"] == "Dr. Ana R." and ok.json["listed_publicly"] is True

    for forbidden in ({"role": "admin"}, {"active": False}, {"email": "me@x.example"}):
        response = client.patch(own, json=forbidden, headers=therapist.headers)
        assert response.status_code == 403, forbidden
    other = client.patch(
        f"/v1/staff/{colleague.id}", json={"bio": "hijacked"}, headers=therapist.headers
    )
    assert other.status_code == 403
    assert _member(therapist.id).role == "therapist"
    assert _member(colleague.id).bio is None


def test_admin_cannot_demote_or_deactivate_themselves(client, admin):
    url = f"/v1/staff/{admin.id}"
    for change in ({"role": "therapist"}, {"active": False}):
        response = client.patch(url, json=change, headers=admin.headers)
        assert response.status_code == 409, change
    ok = client.patch(url, json={"display_name": "Still the admin"}, headers=admin.headers)
    assert ok.status_code == 200
    deactivate = client.post(f"/v1/staff/{admin.id}/deactivate", headers=admin.headers)
    assert deactivate.status_code == 409
    assert _member(admin.id).active and _member(admin.id).role == "admin"


def test_admin_changes_email_but_not_to_a_taken_one(client, clinic, admin):
    a, b = clinic.staff("therapist"), clinic.staff("therapist")
    taken = client.patch(f"/v1/staff/{a.id}", json={"email": b.email}, headers=admin.headers)
    assert taken.status_code == 409 and "email" in taken.json["errors"]
    moved = client.patch(
        f"/v1/staff/{a.id}", json={"email": "New.Address@x.example"}, headers=admin.headers
    )
    assert moved.status_code == 200 and moved.json["email"] == "new.address@x.example"


def test_patch_refusals(client, clinic, other_clinic, admin, platform):
    therapist = clinic.staff("therapist")
    url = f"/v1/staff/{therapist.id}"
    assert client.patch(url, json={"bio": "x"}).status_code == 401
    assert client.patch(url, json={"bio": "x"}, headers=platform.headers).status_code == 403
    integrator = clinic.integrator("staff.read", "staff.write")
    assert client.patch(url, json={"bio": "x"}, headers=integrator.headers).status_code == 403
    intruder = other_clinic.staff("admin")
    assert client.patch(url, json={"bio": "x"}, headers=intruder.headers).status_code == 404
    unknown = client.patch(url, json={"password_hash": "x"}, headers=admin.headers)
    assert unknown.status_code == 422 and "password_hash" in unknown.json["errors"]


# -- deactivate / reactivate ---------------------------------------------------------------------


def test_deactivation_refuses_the_members_existing_tokens(client, clinic, admin):
    therapist = clinic.staff("therapist")
    assert client.get("/v1/staff", headers=therapist.headers).status_code == 200

    response = client.post(f"/v1/staff/{therapist.id}/deactivate", headers=admin.headers)

    assert response.status_code == 200
    assert response.json["active"] is False
    refused = client.get("/v1/staff", headers=therapist.headers)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    stored = _member(therapist.id)
    assert stored.active is False and stored.tokens_valid_after is not None

    back = client.post(f"/v1/staff/{therapist.id}/reactivate", headers=admin.headers)
    assert back.status_code == 200 and back.json["active"] is True
    # Reactivation does not revive tokens issued before the deactivation.
    assert client.get("/v1/staff", headers=therapist.headers).status_code == 401

    actions = [
        e["action"]
        for e in _events(client, admin, resource_id=str(therapist.id))
        if e["action"] in {"deactivate", "reactivate"}
    ]
    assert actions == ["deactivate", "reactivate"]


def test_deactivation_cancels_a_pending_invite(client, admin):
    member = client.post("/v1/staff", json=_invite_body(), headers=admin.headers).json
    client.post(f"/v1/staff/{member['id']}/deactivate", headers=admin.headers)
    assert client.get(urlsplit(member["invite_url"]).path).status_code == 404
    again = client.post(f"/v1/staff/{member['id']}/invite", headers=admin.headers)
    assert again.status_code == 409


@pytest.mark.parametrize("action", ["deactivate", "reactivate"])
def test_deactivate_and_reactivate_refusals(client, clinic, other_clinic, action):
    therapist = clinic.staff("therapist")
    url = f"/v1/staff/{therapist.id}/{action}"
    assert client.post(url).status_code == 401
    for role in ("therapist", "supervisor"):
        assert client.post(url, headers=clinic.staff(role).headers).status_code == 403
    intruder = other_clinic.staff("admin")
    assert client.post(url, headers=intruder.headers).status_code == 404
    assert _member(therapist.id).active is True
