"""The TOTP second factor of staff (RFC 6238), over real HTTP: enrolling through the API, the
login page's second step on the OAuth authorization endpoint, wrong and replayed codes, a
clinic that requires a second factor, and an admin's reset. Codes come from pyotp at the
service's own (travelling) clock, as an authenticator app on a phone in sync would show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pyotp
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from service.auth import lockout
from service.core.clock import utcnow
from service.staff.totp import WRONG_CODE
from tests.fixtures import PASSWORD
from tests.test_audit_auth import events
from tests.test_oauth_flows import (  # noqa: F401 - fixtures too
    alert,
    bearer,
    csrf_token,
    form_action,
    frontend,
    http_get,
    http_post,
    public_session,
    urls,
)

STEP = timedelta(seconds=30)


def code_at(secret: str, offset: timedelta = timedelta(0)) -> str:
    """What the app shows now on the service's clock (moved by `offset`)."""
    return pyotp.TOTP(secret).at(utcnow() + offset)


@dataclass
class SignIn:
    """One browser's way through the login page of an OAuth authorization request."""

    browser: requests.Session
    oauth: OAuth2Session
    verifier: str
    state: str
    page: requests.Response

    @classmethod
    def with_password(cls, server, client_id: str, email: str) -> SignIn:
        oauth = public_session(client_id, "clinic.read staff.read")
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(server.authorize, code_verifier=verifier)
        browser = requests.Session()
        form = browser.get(url)
        answer = browser.post(
            form_action(form),
            data={"csrf_token": csrf_token(form), "email": email, "password": PASSWORD},
            allow_redirects=False,
        )
        return cls(browser, oauth, verifier, state, answer)

    def code(self, code: str) -> requests.Response:
        answer = self.browser.post(
            form_action(self.page),
            data={"csrf_token": csrf_token(self.page), "code": code},
            allow_redirects=False,
        )
        if answer.status_code != 302:
            self.page = answer
        return answer

    def token(self, server, answer: requests.Response) -> dict:
        assert answer.status_code == 302, answer.text
        return self.oauth.fetch_token(
            server.token,
            authorization_response=answer.headers["Location"],
            state=self.state,
            code_verifier=self.verifier,
        )


def asks_for_code(page: requests.Response) -> bool:
    return page.status_code in (200, 422) and 'name="code"' in page.text


def enrol(server, member) -> str:
    """Switch TOTP on through the API; the secret (as the app holds it)."""
    started = http_post(f"{server.base}/v1/staff/{member.id}/totp/enrol", headers=member.headers)
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    confirmed = http_post(
        f"{server.base}/v1/staff/{member.id}/totp/confirm",
        headers=member.headers,
        json={"code": code_at(secret)},
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret


def staff_row(server, admin, member) -> dict:
    return http_get(f"{server.base}/v1/staff/{member.id}", headers=admin.headers).json()


def test_enrol_confirm_then_signing_in_asks_for_the_code_after_the_password(
    urls,  # noqa: F811
    frontend,  # noqa: F811
    clinic,
    travel,
):
    admin, member = clinic.staff("admin"), clinic.staff("therapist")
    started = http_post(f"{urls.base}/v1/staff/{member.id}/totp/enrol", headers=member.headers)
    uri = urlsplit(started.json()["provisioning_uri"])
    issuer = parse_qs(uri.query)["issuer"]
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert issuer == [http_get(urls.clinic, headers=admin.headers).json()["name"]]
    assert parse_qs(uri.query)["secret"] == [started.json()["secret"]]
    assert staff_row(urls, admin, member)["totp_enabled"] is False  # off until confirmed
    assert SignIn.with_password(urls, frontend, member.email).page.status_code == 302

    secret = started.json()["secret"]
    http_post(
        f"{urls.base}/v1/staff/{member.id}/totp/confirm",
        headers=member.headers,
        json={"code": code_at(secret)},
    )
    shown = staff_row(urls, admin, member)
    assert shown["totp_enabled"] is True and "secret" not in shown and secret not in str(shown)

    travel.advance(STEP)  # the confirming code is spent: the next one is a step later
    sign_in = SignIn.with_password(urls, frontend, member.email)
    assert asks_for_code(sign_in.page) and "Location" not in sign_in.page.headers
    token = sign_in.token(urls, sign_in.code(code_at(secret)))
    assert http_get(urls.clinic, headers=bearer(token["access_token"])).status_code == 200
    trail = {e["action"] for e in events(urls, admin, resource_id=str(member.id))}
    assert {"totp_enrolment_started", "totp_enabled"} <= trail


def test_a_wrong_code_is_refused_audited_and_counts_towards_the_lockout(
    urls,  # noqa: F811
    frontend,  # noqa: F811
    clinic,
    travel,
):
    admin, member = clinic.staff("admin"), clinic.staff("therapist")
    secret = enrol(urls, member)
    travel.advance(STEP)
    sign_in = SignIn.with_password(urls, frontend, member.email)
    wrong = f"{(int(code_at(secret)) + 1) % 1_000_000:06d}"

    refused = sign_in.code(wrong)
    assert refused.status_code == 422 and alert(refused) == WRONG_CODE
    assert asks_for_code(refused)  # the same step again, not back to the password
    [failed] = events(urls, admin, action="login_failed")
    assert (failed["resource_id"], failed["reason"]) == (str(member.id), "wrong_code")
    assert wrong not in str(failed)

    for _ in range(lockout.FREE_ATTEMPTS - 1):
        assert sign_in.code(wrong).status_code == 422
    locked = sign_in.code(code_at(secret))  # even the right code, once locked
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # and the password alone does not clear the count
    assert SignIn.with_password(urls, frontend, member.email).page.status_code == 429


def test_a_replayed_code_is_refused_and_one_step_of_drift_either_side_is_allowed(
    urls,  # noqa: F811
    frontend,  # noqa: F811
    clinic,
    travel,
):
    member = clinic.staff("therapist")
    secret = enrol(urls, member)
    travel.advance(3 * STEP)

    too_old = SignIn.with_password(urls, frontend, member.email)
    assert too_old.code(code_at(secret, -2 * STEP)).status_code == 422
    behind = too_old.code(code_at(secret, -STEP))  # a phone 30 s slow
    assert behind.status_code == 302

    replay = SignIn.with_password(urls, frontend, member.email)
    assert replay.code(code_at(secret, -STEP)).status_code == 422  # the same step again
    assert replay.code(code_at(secret, STEP)).status_code == 302  # a phone 30 s fast


def test_a_clinic_that_requires_it_enrols_staff_at_sign_in_before_any_token(
    urls,  # noqa: F811
    frontend,  # noqa: F811
    clinic,
    travel,
):
    admin, member = clinic.staff("admin"), clinic.staff("therapist")
    current = http_get(urls.clinic, headers=admin.headers)
    changed = requests.patch(
        urls.clinic,
        headers={**admin.headers, "If-Match": current.headers["ETag"]},
        json={"require_second_factor": True},
        timeout=10,
    )
    assert changed.status_code == 200 and changed.json()["require_second_factor"] is True

    sign_in = SignIn.with_password(urls, frontend, member.email)
    assert asks_for_code(sign_in.page) and "Set up your second factor" in sign_in.page.text
    key = re.search(r'id="totp-key"[^>]*>([^<]+)<', sign_in.page.text).group(1)
    secret = unescape(key).replace(" ", "")
    assert sign_in.code("000000").status_code == 422  # still no token, same key shown again
    assert secret in sign_in.page.text.replace(" ", "")
    elsewhere = SignIn.with_password(urls, frontend, member.email)  # the app may hold it already
    assert secret in elsewhere.page.text.replace(" ", "")
    token = sign_in.token(urls, sign_in.code(code_at(secret)))
    assert staff_row(urls, admin, member)["totp_enabled"] is True
    assert http_get(urls.clinic, headers=bearer(token["access_token"])).status_code == 200

    travel.advance(STEP)  # from now on, its code after the password
    again = SignIn.with_password(urls, frontend, member.email)
    assert asks_for_code(again.page) and "Set up" not in again.page.text
    member_headers = bearer(token["access_token"])
    kept = http_post(
        f"{urls.base}/v1/staff/{member.id}/totp/disable",
        headers=member_headers,
        json={"code": code_at(secret)},
    )
    assert kept.status_code == 409 and "requires a second factor" in kept.json()["detail"]


def test_an_admin_resets_another_members_second_factor_and_it_is_audited(
    urls,  # noqa: F811
    frontend,  # noqa: F811
    clinic,
    travel,
):
    admin, member = clinic.staff("admin"), clinic.staff("therapist")
    enrol(urls, member)
    assert (
        http_post(f"{urls.base}/v1/staff/{admin.id}/totp/reset", headers=admin.headers).status_code
        == 409
    )
    by_therapist = http_post(
        f"{urls.base}/v1/staff/{admin.id}/totp/reset", headers=clinic.staff("therapist").headers
    )
    assert by_therapist.status_code == 403

    reset = http_post(f"{urls.base}/v1/staff/{member.id}/totp/reset", headers=admin.headers)
    assert reset.status_code == 200 and reset.json()["totp_enabled"] is False
    [event] = events(urls, admin, action="totp_reset")
    assert event["resource_id"] == str(member.id) and event["actor_id"] == str(admin.id)
    assert SignIn.with_password(urls, frontend, member.email).page.status_code == 302


def test_switching_off_takes_a_current_code_and_bad_codes_are_problems_naming_code(
    urls,  # noqa: F811
    clinic,
    travel,
):
    admin, member = clinic.staff("admin"), clinic.staff("therapist")
    secret = enrol(urls, member)
    disable = f"{urls.base}/v1/staff/{member.id}/totp/disable"
    for code in ("12ab56", "1234567", None):
        bad = http_post(disable, headers=member.headers, json={"code": code})
        assert bad.status_code == 422
        assert bad.headers["Content-Type"] == "application/problem+json"
        assert "code" in bad.json()["errors"], bad.json()
    travel.advance(STEP)
    wrong = http_post(disable, headers=member.headers, json={"code": code_at(secret, -5 * STEP)})
    assert wrong.status_code == 422 and wrong.json()["errors"]["code"] == [WRONG_CODE]
    assert [e["reason"] for e in events(urls, admin, action="totp_code_refused")] == ["wrong_code"]
    others = http_post(f"{urls.base}/v1/staff/{member.id}/totp/enrol", headers=admin.headers)
    assert others.status_code == 403  # only the member enrols themselves

    off = http_post(disable, headers=member.headers, json={"code": code_at(secret)})
    assert off.status_code == 200 and off.json()["totp_enabled"] is False
    assert [e["actor_id"] for e in events(urls, admin, action="totp_disabled")] == [str(member.id)]
