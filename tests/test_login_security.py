"""Signing in, over real HTTP: right after setting a password, against a locked account, and
what the audit trail keeps of it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests
from authlib.common.security import generate_token

from service.auth import lockout, pages
from service.core import clock
from service.core.ids import new_secret
from service.staff.policy import JWT_RESOLUTION, issued_in_time, sign_out_everywhere
from tests.test_oauth_flows import (  # noqa: F401 - fixtures too
    BAD_CREDENTIALS,
    alert,
    bearer,
    frontend,
    login,
    public_session,
    urls,
)

NEW_PASSWORD = "a new password of some length"
FIRST_LOCK = lockout.FIRST_LOCK_SECONDS


class HeldClock(clock.SystemClock):
    """Wall time that moves only when the test says so (monotonic time stays real)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def held():
    second = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    with clock.using(HeldClock(second)) as held_clock:
        yield held_clock


def set_password_through(invite_url: str) -> None:
    browser = requests.Session()
    page = browser.get(invite_url, timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"csrf_token": csrf, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert browser.post(invite_url, data=form, timeout=10).status_code == 200


def token_for(urls, client_id: str, email: str) -> dict:  # noqa: F811
    oauth = public_session(client_id, "clinic.read")
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(urls.authorize, code_verifier=verifier)
    signed_in = login(url, email, NEW_PASSWORD)
    assert signed_in.status_code == 302, signed_in.text
    return oauth.fetch_token(
        urls.token,
        authorization_response=signed_in.headers["Location"],
        state=state,
        code_verifier=verifier,
    )


# --- a token issued in the second the password was set ------------------------------------


@pytest.mark.parametrize("later", [timedelta(milliseconds=1), timedelta(milliseconds=300)])
def test_signing_in_right_after_setting_a_password_works_within_the_same_second(
    urls,  # noqa: F811
    frontend,  # noqa: F811
    clinic,
    held,
    later,
):
    admin = clinic.staff("admin")
    body = {"email": f"new-{new_secret()[:8].lower()}@x.example", "role": "therapist"}
    invited = requests.post(
        f"{urls.base}/v1/staff",
        json={**body, "display_name": "Noor Haddad"},
        headers=admin.headers,
        timeout=10,
    ).json()
    for attempt in range(3):  # set again and again: each time the token comes after it
        if attempt:
            invited = requests.post(
                f"{urls.base}/v1/staff/{invited['id']}/invite", headers=admin.headers, timeout=10
            ).json()
        held.at = held.at.replace(microsecond=600_000)  # the password is set at .6 s
        set_password_through(urls.base + urlsplit(invited["invite_url"]).path)
        held.at += later  # the token is issued in that same second (iat = its start)
        token = token_for(urls, frontend, body["email"])
        response = requests.get(urls.clinic, headers=bearer(token["access_token"]), timeout=10)
        assert response.status_code == 200, (attempt, response.text)
        held.at += timedelta(seconds=1)


def test_a_sign_out_everywhere_refuses_every_token_of_its_own_second():
    second = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)
    cut = sign_out_everywhere(second + timedelta(milliseconds=400))
    same_second = dict(resolution=JWT_RESOLUTION)
    assert not issued_in_time(second, cut, **same_second)  # before or after it: refused
    assert issued_in_time(second + timedelta(seconds=1), cut, **same_second)
    assert sign_out_everywhere(second) == second
    # a password set: tokens issued later in the same second are accepted
    assert issued_in_time(second, second + timedelta(milliseconds=400), **same_second)


# --- per-account lockout --------------------------------------------------------------------


def authorize_url(urls, client_id: str) -> str:  # noqa: F811
    oauth = public_session(client_id, "clinic.read")
    return oauth.create_authorization_url(urls.authorize, code_verifier=generate_token(48))[0]


def test_five_failed_sign_ins_lock_the_email_known_or_not_and_say_the_same(
    urls,  # noqa: F811
    frontend,  # noqa: F811
    clinic,
):
    member = clinic.staff("therapist")
    unknown = f"nobody-{new_secret()[:8].lower()}@x.example"
    url = authorize_url(urls, frontend)
    for email in (member.email, unknown):
        for _ in range(lockout.FREE_ATTEMPTS):
            wrong = login(url, email, "not the password")
            assert wrong.status_code == 200 and alert(wrong) == BAD_CREDENTIALS
    # now even the right password is not checked, and both emails get the same answer, with
    # the lock's own remaining time (the login limit's window, up to a minute, once won)
    locked = []
    for email in (member.email, unknown):
        before = lockout.locked_for(email)
        locked.append(login(url, email))
        after = lockout.locked_for(email)
        assert after <= int(locked[-1].headers["Retry-After"]) <= before <= FIRST_LOCK
    assert [answer.status_code for answer in locked] == [429, 429]
    assert {alert(answer) for answer in locked} == {pages.LOCKED}
    # another account is not affected
    assert login(url, clinic.staff("therapist").email).status_code == 302


def test_each_failure_past_the_free_ones_doubles_the_lock_up_to_an_hour():
    assert [lockout.lock_seconds(n) for n in range(1, 9)] == [0, 0, 0, 0, 30, 60, 120, 240]
    assert lockout.lock_seconds(40) == lockout.MAX_LOCK_SECONDS == 3600
