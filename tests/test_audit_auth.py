"""What the audit trail keeps of authentication, over real HTTP: failed sign-ins (unknown
email and wrong password alike), refused requests (401, 403), token refreshes and revocations.
Read back the way an admin reads them: GET /v1/audit-events."""

from __future__ import annotations

import json
import uuid

from authlib.common.security import generate_token

from service.auth import lockout
from service.core.ids import new_secret
from tests.test_oauth_flows import (  # noqa: F401 - fixtures too
    bearer,
    frontend,
    http_get,
    login,
    public_session,
    sign_in,
    urls,
)

WRONG_PASSWORD = "not-the-password-" + "x" * 8


def events(urls, admin, **filters: str) -> list[dict]:  # noqa: F811
    listed = http_get(f"{urls.base}/v1/audit-events", params=filters, headers=admin.headers)
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


def authorize_url(urls, client_id: str, **params: str) -> str:  # noqa: F811
    oauth = public_session(client_id, "clinic.read")
    verifier = generate_token(48)
    return oauth.create_authorization_url(urls.authorize, code_verifier=verifier, **params)[0]


def test_failed_sign_ins_are_audited_naming_the_account_never_what_was_typed(
    urls,  # noqa: F811
    frontend,  # noqa: F811
    clinic,
):
    admin, member = clinic.staff("admin"), clinic.staff("therapist")
    unknown = f"nobody-{new_secret()[:8].lower()}@x.example"
    url = authorize_url(urls, frontend, clinic=clinic.slug)
    assert login(url, member.email, WRONG_PASSWORD).status_code == 200
    assert login(url, unknown, WRONG_PASSWORD).status_code == 200

    failed = events(urls, admin, action="login_failed")
    assert sorted((e["resource_id"] or "", e["reason"]) for e in failed) == sorted(
        [(str(member.id), "wrong_password"), ("", "unknown_email")]
    )
    assert {(e["actor_kind"], e["route"]) for e in failed} == {("anonymous", "/oauth/authorize")}
    written = json.dumps(failed)
    assert WRONG_PASSWORD not in written and unknown not in written and member.email not in written


def test_a_sign_in_while_locked_is_audited_as_locked(urls, frontend, clinic):  # noqa: F811
    admin, member = clinic.staff("admin"), clinic.staff("therapist")
    url = authorize_url(urls, frontend)
    for _ in range(lockout.FREE_ATTEMPTS):
        login(url, member.email, WRONG_PASSWORD)
    assert login(url, member.email).status_code == 429  # the right password, not even checked
    reasons = [e["reason"] for e in events(urls, admin, resource_id=str(member.id))]
    assert reasons.count("wrong_password") == lockout.FREE_ATTEMPTS
    assert reasons.count("locked") == 1


def test_each_refused_request_is_audited_once_with_route_and_reason_and_still_refused(
    urls,  # noqa: F811
    clinic,
):
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    request_ids = [uuid.uuid4().hex for _ in range(2)]
    for request_id in request_ids:
        refused = http_get(
            f"{urls.base}/v1/audit-events",
            headers={**therapist.headers, "X-Request-ID": request_id},
        )
        assert refused.status_code == 403
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json()["detail"] == "Your token does not allow this: audit.read"
    anonymous = http_get(f"{urls.base}/v1/audit-events")  # no clinic to file it under
    assert anonymous.status_code == 401

    audited = events(urls, admin, action="refused", actor_id=str(therapist.id))
    assert sorted(e["request_id"] for e in audited) == sorted(request_ids)  # one per request
    assert {(e["route"], e["reason"], e["actor_kind"]) for e in audited} == {
        ("/v1/audit-events", "Your token does not allow this: audit.read", "staff")
    }


def test_a_revoked_token_refused_is_audited_as_its_holder(urls, frontend, clinic):  # noqa: F811
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    oauth, token = sign_in(urls, frontend, therapist.email, "clinic.read")
    oauth.revoke_token(urls.revoke, token=token["access_token"], token_type_hint="access_token")
    assert http_get(urls.clinic, headers=bearer(token["access_token"])).status_code == 401

    refused = events(urls, admin, action="refused", actor_id=str(therapist.id))
    assert [(e["route"], e["reason"]) for e in refused] == [
        ("/v1/clinic", "The access token has been revoked.")
    ]


def test_token_refreshes_and_revocations_are_audited(urls, frontend, clinic):  # noqa: F811
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    oauth, first = sign_in(urls, frontend, therapist.email, "clinic.read")
    second = oauth.refresh_token(urls.token, refresh_token=first["refresh_token"])
    oauth.revoke_token(urls.revoke, token=second["access_token"], token_type_hint="access_token")
    oauth.revoke_token(urls.revoke, token=second["refresh_token"], token_type_hint="refresh_token")

    trail = events(urls, admin, resource_id=str(therapist.id))
    kept = sorted((e["action"], e["reason"] or "") for e in trail if e["action"] != "login")
    assert kept == [
        ("token_refreshed", ""),
        ("token_revoked", "access token"),
        ("token_revoked", "refresh token"),
    ]
    assert {e["route"] for e in trail if e["action"] != "login"} >= {"/oauth/token"}
