"""The clinician pages under /app/, driven as a browser without JavaScript would: sign-in with
the OAuth login form, the inbox, an alert, a couple, and acting on an alert. (The browser and
the email link: tests/test_clinician_browser.py.)"""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import markupsafe
import pytest
import sqlalchemy as sa

from service.auth.models import WebSession
from service.core import context
from service.db import uow
from service.settings import Settings
from service.web import views
from tests.fixtures import PASSWORD
from tests.practice import PAST
from tests.scenario import CoupleInCare, answers

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOW, FINE = answers(3), answers(9)
HOURS = itertools.count(1)


class Browser:
    """A test client that signs in through the form and posts forms with their CSRF token."""

    def __init__(self, app, member) -> None:
        self.client, self.member = app.test_client(), member

    def sign_in(self, next_page: str = "") -> object:
        page = self.client.get("/app/login" + (f"?next={next_page}" if next_page else ""))
        return self.client.post(
            page.request.full_path,
            data={"email": self.member.email, "password": PASSWORD, "csrf_token": _csrf(page)},
        )

    def get(self, path: str, **kwargs) -> object:
        return self.client.get(path, **kwargs)

    def act(self, alert_id: str, action: str, **fields: str) -> object:
        page = self.client.get(f"/app/alerts/{alert_id}")
        form = {"action": action, "csrf_token": _csrf(page), **fields}
        return self.client.post(f"/app/alerts/{alert_id}", data=form)

    @property
    def cookie(self) -> str | None:
        found = self.client.get_cookie("alliance_session", path="/app")
        return found.value if found else None


def _csrf(page) -> str:
    return CSRF.search(page.get_data(as_text=True)).group(1)


def _escaped(text: str) -> str:
    return str(markupsafe.escape(text))


def _table(page) -> str:
    """The page's alert table onwards (the filters above it name couples too)."""
    return _text(page).split('<table class="alerts">')[-1]


def _text(page) -> str:
    return page.get_data(as_text=True)


@pytest.fixture
def care(client, clinic):
    return CoupleInCare(client, clinic, label="The Moreaus")


@pytest.fixture
def therapist_browser(app, care):
    browser = Browser(app, care.therapist)
    assert browser.sign_in().status_code == 303
    return browser


def _api_alert(care, alert_id: str) -> dict:
    return care.client.get(f"/v1/alerts/{alert_id}", headers=care.admin.headers).json


def _low_alert(care) -> dict:
    care.session(FINE, FINE)
    care.session(LOW, FINE)
    return next(a for a in care.alerts() if a["concern"] == "alliance")


# -- signing in and out ---------------------------------------------------------------------


def test_a_page_asks_for_sign_in_and_returns_to_itself_after(app, care):
    alert = _low_alert(care)
    browser = Browser(app, care.therapist)
    asked = browser.get(f"/app/alerts/{alert['id']}")
    assert asked.status_code == 303
    assert asked.location == f"/app/login?next=%2Fapp%2Falerts%2F{alert['id']}"
    signed_in = browser.sign_in(f"/app/alerts/{alert['id']}")
    assert signed_in.status_code == 303 and signed_in.location == f"/app/alerts/{alert['id']}"
    assert _escaped(alert["summary"]) in _text(browser.get(signed_in.location))


def test_sign_in_never_sends_you_to_another_site(app, care):
    browser = Browser(app, care.therapist)
    for outside in ("https://evil.example/app/", "//evil.example/app/", "/v1/couples"):
        page = browser.client.get("/app/login", query_string={"next": outside})
        sent = browser.client.post(
            page.request.full_path,
            data={"email": care.therapist.email, "password": PASSWORD, "csrf_token": _csrf(page)},
        )
        assert sent.location == "/app/", outside


def test_a_wrong_password_shows_the_form_again_without_a_session(app, care):
    browser = Browser(app, care.therapist)
    page = browser.get("/app/login")
    sent = browser.client.post(
        "/app/login",
        data={"email": care.therapist.email, "password": "nope", "csrf_token": _csrf(page)},
    )
    assert sent.status_code == 200 and "The email or password is incorrect." in _text(sent)
    assert browser.cookie is None


def test_the_session_cookie_is_secure_httponly_lax_and_only_its_digest_is_stored(app, care):
    browser = Browser(app, care.therapist)
    signed_in = browser.sign_in()
    [cookie] = [h for h in signed_in.headers.getlist("Set-Cookie") if "alliance_session" in h]
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/app"} <= {
        part.strip() for part in cookie.split(";")
    }
    with context.system_context("test"), uow.unit_of_work() as session:
        stored = session.scalars(
            sa.select(WebSession.token_hash).where(WebSession.staff_id == care.therapist.id)
        ).all()
    assert len(stored) == 1 and browser.cookie not in stored[0]


def test_fifteen_idle_minutes_sign_you_out_and_activity_keeps_you_in(therapist_browser, travel):
    for _ in range(3):  # 42 minutes in all, never 15 without a request
        travel.advance(timedelta(minutes=14))
        assert therapist_browser.get("/app/").status_code == 200
    travel.advance(timedelta(minutes=15))
    ended = therapist_browser.get("/app/")
    assert ended.status_code == 303 and "ended=1" in ended.location
    notice = _text(therapist_browser.get(ended.location))
    assert "sessions end after 15 minutes without activity" in notice
    assert therapist_browser.get("/app/").status_code == 303  # still out


def test_signing_out_ends_the_session_on_the_server(app, therapist_browser):
    kept = therapist_browser.cookie
    page = therapist_browser.get("/app/")
    out = therapist_browser.client.post("/app/logout", data={"csrf_token": _csrf(page)})
    assert out.status_code == 303 and out.location == "/app/login"
    replay = app.test_client()
    replay.set_cookie("alliance_session", kept, path="/app")
    assert replay.get("/app/").status_code == 303  # the old cookie signs nobody in


def test_a_deactivated_clinician_is_signed_out(care, therapist_browser):
    gone = care.client.post(f"/v1/staff/{care.therapist.id}/deactivate", headers=care.admin.headers)
    assert gone.status_code == 200, gone.json
    assert therapist_browser.get("/app/").status_code == 303


# -- what the pages send ---------------------------------------------------------------------


def test_every_page_sends_csp_no_framing_and_no_referrer(care, therapist_browser):
    alert = _low_alert(care)
    for path in (
        "/app/login",
        "/app/",
        f"/app/alerts/{alert['id']}",
        f"/app/alerts/{uuid.uuid4()}",
        f"/app/couples/{care.id}",
    ):
        page = therapist_browser.get(path)
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"], path
        assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none'
        assert page.headers["Referrer-Policy"] == "no-referrer", path
        assert page.headers["Cache-Control"] == "no-store", path


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
    care, therapist_browser
):
    alert = _low_alert(care)
    for token in (None, "forged"):
        form = {"action": "acknowledge", **({"csrf_token": token} if token else {})}
        refused = therapist_browser.client.post(f"/app/alerts/{alert['id']}", data=form)
        assert refused.status_code == 400 and "This form expired" in _text(refused)
    assert _api_alert(care, alert["id"])["status"] == "open"


# -- the inbox -------------------------------------------------------------------------------


def _couple_with(client, clinic, therapist, label: str, *, safety: bool = False) -> CoupleInCare:
    """A couple with one alert, its sessions an hour after the previous couple's."""
    care = CoupleInCare(
        client, clinic, label=label, therapist=therapist, start=PAST + timedelta(hours=next(HOURS))
    )
    care.session(FINE, FINE)
    care.session(FINE if safety else LOW, None, safety=safety)  # one alert, about Ana
    return care


def test_the_inbox_lists_the_most_severe_first_then_the_longest_waiting(
    client, clinic, care, therapist_browser
):
    first = _couple_with(client, clinic, care.therapist, "The Aaltos")
    second = _couple_with(client, clinic, care.therapist, "The Bakers")
    urgent = _couple_with(client, clinic, care.therapist, "The Chens", safety=True)
    page = _table(therapist_browser.get("/app/"))
    rows = [page.index(label) for label in ("The Chens", "The Aaltos", "The Bakers")]
    assert rows == sorted(rows), "critical first, then the older warning, then the newer"
    assert urgent.alerts()[0]["severity"] == "critical"
    assert {a["severity"] for a in first.alerts() + second.alerts()} == {"warning"}


def test_the_inbox_filters_by_status_rule_and_couple(client, clinic, care, therapist_browser):
    aaltos = _couple_with(client, clinic, care.therapist, "The Aaltos")
    _couple_with(client, clinic, care.therapist, "The Chens", safety=True)
    only_safety = _table(therapist_browser.get("/app/?rule=safety_concern"))
    assert "The Chens" in only_safety and "The Aaltos" not in only_safety
    only_aaltos = _table(therapist_browser.get(f"/app/?couple={aaltos.id}"))
    assert "The Aaltos" in only_aaltos and "The Chens" not in only_aaltos
    [alert] = aaltos.alerts()
    therapist_browser.act(alert["id"], "resolve", note="Talked it through.")
    assert "The Aaltos" not in _table(therapist_browser.get("/app/"))
    assert "The Aaltos" in _table(therapist_browser.get("/app/?status=resolved"))


def test_the_inbox_pages(client, clinic, care, therapist_browser, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    for label in ("The Aaltos", "The Bakers"):
        _couple_with(client, clinic, care.therapist, label)
    first = therapist_browser.get("/app/")
    assert "The Aaltos" in _table(first) and "The Bakers" not in _table(first)
    assert 'rel="next"' in _text(first)
    second = therapist_browser.get("/app/?page=2")
    assert "The Bakers" in _table(second) and 'rel="prev"' in _text(second)
    assert 'rel="next"' not in _text(second)


def test_a_bad_filter_is_a_400_naming_the_field(therapist_browser):
    for query, field in (("status=bogus", "Status"), ("page=0", "Page"), ("couple=nope", "Couple")):
        page = therapist_browser.get(f"/app/?{query}")
        assert page.status_code == 400, query
        assert f">{field}:" in _text(page), query


def test_a_supervisor_sees_the_clinic_and_filters_by_therapist(app, client, clinic, care):
    other = clinic.staff("therapist", display_name="Dr. Other")
    _couple_with(client, clinic, care.therapist, "The Aaltos")
    _couple_with(client, clinic, other, "The Bakers")
    supervisor = Browser(app, clinic.staff("supervisor"))
    supervisor.sign_in()
    everyone = _table(supervisor.get("/app/"))
    assert "The Aaltos" in everyone and "The Bakers" in everyone and "Dr. Other" in everyone
    theirs = _table(supervisor.get(f"/app/?therapist={other.id}"))
    assert "The Bakers" in theirs and "The Aaltos" not in theirs


# -- caseload scoping ------------------------------------------------------------------------


def test_another_caseload_or_clinic_gets_the_same_404_page(app, client, clinic, other_clinic, care):
    alert = _low_alert(care)
    strangers = [
        Browser(app, clinic.staff("therapist")),
        Browser(app, other_clinic.staff("therapist")),
        Browser(app, other_clinic.staff("admin")),
    ]
    for browser in strangers:
        browser.sign_in()
        assert "The Moreaus" not in _text(browser.get("/app/"))
        for path in (f"/app/alerts/{alert['id']}", f"/app/couples/{care.id}"):
            page = browser.get(path)
            assert page.status_code == 404 and page.mimetype == "text/html", path
            assert "The Moreaus" not in _text(page)
        acted = browser.client.post(
            f"/app/alerts/{alert['id']}",
            data={"action": "acknowledge", "csrf_token": _csrf(browser.get("/app/"))},
        )
        assert acted.status_code == 404
    assert _api_alert(care, alert["id"])["status"] == "open"


# -- an alert ------------------------------------------------------------------------------


def test_the_alert_page_shows_summary_explanation_evidence_chart_and_the_private_comment(
    care, therapist_browser
):
    care.session(FINE, FINE)
    session_id = care.complete()["id"]
    sent = care.client.post(
        f"/v1/sessions/{session_id}/feedback",
        headers=care.therapist.headers,
        json={"partner_id": care.ana, "answers": LOW, "comment": "I felt <b>unheard</b> today."},
    )
    assert sent.status_code == 201
    care.enter(session_id, care.ben, FINE)
    alert = next(a for a in care.alerts() if a["concern"] == "alliance")
    page = _text(therapist_browser.get(f"/app/alerts/{alert['id']}"))
    assert _escaped(alert["summary"]) in page and _escaped(alert["explanation"]) in page
    assert "<svg" in page and "Cutoff 75%" in page  # the chart, inline
    assert "Alliance below the clinic&#39;s cutoff" in page  # the evidence table, in words
    assert "Rating (%)" in page and "Cutoff (%)" in page
    assert "I felt &lt;b&gt;unheard&lt;/b&gt; today." in page  # text, never markup
    assert "Private to clinicians" in page


def test_reading_an_alert_page_is_audited_like_the_api(care, therapist_browser):
    alert = _low_alert(care)
    therapist_browser.get(f"/app/alerts/{alert['id']}")
    events = care.client.get(
        "/v1/audit-events",
        query_string={"actor_id": str(care.therapist.id), "action": "read"},
        headers=care.admin.headers,
    ).json["items"]
    read = {(e["resource_type"], e["resource_id"]) for e in events}
    assert ("alert", alert["id"]) in read and ("couple", care.id) in read
    assert "feedback_response" in {kind for kind, _id in read}


def test_acknowledge_snooze_and_resolve_go_through_the_alert_use_cases(care, therapist_browser):
    alert = _low_alert(care)
    done = therapist_browser.act(alert["id"], "acknowledge")
    assert done.status_code == 303 and done.location.endswith("done=acknowledge")
    assert "Alert acknowledged." in _text(therapist_browser.get(done.location))
    acknowledged = _api_alert(care, alert["id"])
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_by"] == str(care.therapist.id)

    day = date.today() + timedelta(days=7)
    assert therapist_browser.act(alert["id"], "snooze", until=day.isoformat()).status_code == 303
    snoozed = _api_alert(care, alert["id"])
    start_of_day = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("Europe/London"))
    assert snoozed["status"] == "snoozed"
    assert datetime.fromisoformat(snoozed["snoozed_until"]) == start_of_day

    assert therapist_browser.act(alert["id"], "resolve", note="We talked.").status_code == 303
    resolved = _api_alert(care, alert["id"])
    assert resolved["status"] == "resolved" and resolved["resolution_note"] == "We talked."
    page = _text(therapist_browser.get(f"/app/alerts/{alert['id']}"))
    assert "We talked." in page and 'value="acknowledge"' not in page


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"action": "snooze"}, "Snooze until"),
        ({"action": "snooze", "until": "2001-01-01"}, "Snooze until"),
        ({"action": "snooze", "until": "someday"}, "Snooze until"),
        ({"action": "resolve", "note": "x" * 2001}, "Note"),
        ({"action": "delete"}, "Action"),
    ],
)
def test_a_bad_action_is_a_422_naming_the_field_and_changes_nothing(
    care, therapist_browser, fields, named
):
    alert = _low_alert(care)
    action = fields.pop("action")
    refused = therapist_browser.act(alert["id"], action, **fields)
    assert refused.status_code == 422 and f">{named}:" in _text(refused)
    assert _api_alert(care, alert["id"])["status"] == "open"


def test_acting_on_a_resolved_alert_says_so(care, therapist_browser):
    alert = _low_alert(care)
    page = therapist_browser.get(f"/app/alerts/{alert['id']}")
    therapist_browser.act(alert["id"], "resolve")
    late = therapist_browser.client.post(
        f"/app/alerts/{alert['id']}", data={"action": "acknowledge", "csrf_token": _csrf(page)}
    )
    assert late.status_code == 422 and "Resolved." in _text(late)


# -- a couple ------------------------------------------------------------------------------


def test_the_couple_page_shows_partners_sessions_chart_and_alerts(care, therapist_browser):
    alert = _low_alert(care)
    care.complete()  # nobody answered
    page = _text(therapist_browser.get(f"/app/couples/{care.id}"))
    assert "The Moreaus" in page and "Ana" in page and "Ben" in page
    assert "<svg" in page and _escaped(alert["summary"]) in page
    assert page.count("no answer") >= 2  # the unanswered session, in the table and sessions
    assert "Completed" in page


# -- the email's link ------------------------------------------------------------------------


def test_the_alert_email_links_to_the_alert_page_by_default():
    settings = Settings(base_url="https://alliance.example.org")
    assert settings.alert_url("abc") == "https://alliance.example.org/app/alerts/abc"
    own = Settings(alert_url_template="https://frontend.example/alerts/{alert_id}")
    assert own.alert_url("abc") == "https://frontend.example/alerts/abc"
