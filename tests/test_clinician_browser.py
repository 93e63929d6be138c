"""From the alert email to acting on it, in a real browser: the email arrives over real SMTP
(aiosmtpd), its link opens the alert page on the live server, the therapist signs in, reads
the explanation and the chart, and acknowledges with the keyboard only. Then axe-core checks
every page a clinician or partner sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from service.core import context
from service.core.clock import utcnow
from service.db import uow
from service.notifications import email as mail
from service.notifications.models import OutboxMessage
from service.staff.totp import WRONG_CODE
from tests.browsers import DESKTOP, NEEDS_CHROMIUM, PHONE
from tests.fixtures import PASSWORD
from tests.scenario import CoupleInCare, answers
from tests.test_partner_form import completed_session

pytestmark = NEEDS_CHROMIUM

LOW, FINE = answers(3), answers(9)
SERIOUS = {"serious", "critical"}


@contextmanager
def _page(browser: Browser, *, viewport=DESKTOP, javascript: bool = True) -> Iterator[Page]:
    opened = browser.new_context(viewport=viewport, java_script_enabled=javascript)
    opened.set_default_timeout(15_000)
    try:
        yield opened.new_page()
    finally:
        opened.close()


@pytest.fixture
def care(client, clinic, live_server) -> CoupleInCare:
    care = CoupleInCare(client, clinic, label="The Lindqvists")
    care.session(FINE, FINE)
    care.session(LOW, None)  # Ana's alliance falls: one alert, emailed to her therapist
    return care


def _alert_link(care: CoupleInCare, smtp) -> str:
    """Deliver the therapist's alert email over SMTP; the link in what the server received."""
    recorder, smtp_settings = smtp
    with context.tenant_context(care.clinic.id), uow.unit_of_work() as session:
        [row] = session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.topic == "alert.email")
        ).all()
        assert mail.send(row, smtp_settings).ok
    [received] = recorder.messages()
    assert received["To"] == care.therapist.email
    text = received.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+/app/alerts/[0-9a-f-]{36}", text).group(0)


def _sign_in(page: Page, email: str) -> None:
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def _tab_to(page: Page, element_id: str, presses: int = 80) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} is not reachable with Tab")


def test_a_therapist_goes_from_the_email_to_an_acknowledged_alert(browser, care, smtp, live_server):
    link = _alert_link(care, smtp)
    assert link.startswith(live_server)
    [alert] = care.alerts()
    with _page(browser, javascript=False) as page:  # the pages need no JavaScript
        page.goto(link)
        expect(page.locator("h1")).to_have_text("Sign in to Alliance")
        _sign_in(page, care.therapist.email)
        page.wait_for_url(link)
        expect(page.locator("h1")).to_have_text(alert["summary"])
        expect(page.locator("main")).to_contain_text(alert["explanation"])
        chart = page.locator("figure.chart svg[role=img]")
        expect(chart).to_be_visible()
        expect(chart.locator("title").first).to_have_text("Alliance by session for both partners")
        expect(page.get_by_role("table", name="Ratings by session (%)")).to_be_visible()

        page.locator("body").focus()
        _tab_to(page, "acknowledge")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"done=acknowledge$"))
        expect(page.get_by_role("status")).to_have_text("Alert acknowledged.")

    stored = care.client.get(f"/v1/alerts/{alert['id']}", headers=care.admin.headers).json
    assert stored["status"] == "acknowledged"
    assert stored["acknowledged_by"] == str(care.therapist.id)


def test_another_therapist_or_clinic_opening_the_link_gets_a_404_page(
    browser, care, smtp, clinic, other_clinic
):
    link = _alert_link(care, smtp)
    for stranger in (clinic.staff("therapist"), other_clinic.staff("therapist")):
        with _page(browser) as page:
            page.goto(link)
            _sign_in(page, stranger.email)
            page.wait_for_url(link)
            expect(page.locator("h1")).to_have_text("Not found")
            expect(page.locator("main")).not_to_contain_text("The Lindqvists")
            assert (
                page.evaluate("() => performance.getEntriesByType('navigation')[0].responseStatus")
                == 404
            )


def test_where_the_clinic_requires_it_a_therapist_enrols_at_sign_in_then_signs_in_with_a_code(
    browser, client, clinic, live_server, travel
):
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    etag = client.get("/v1/clinic", headers=admin.headers).headers["ETag"]
    required = client.patch(
        "/v1/clinic",
        json={"require_second_factor": True},
        headers={**admin.headers, "If-Match": etag},
    )
    assert required.status_code == 200, required.json
    with _page(browser, javascript=False) as page:  # no JavaScript needed here either
        page.goto(f"{live_server}/app/")
        _sign_in(page, therapist.email)
        expect(page.locator("h1")).to_have_text("Set up your second factor")
        link = page.get_by_role("link", name="open it in an authenticator app on this device")
        expect(link).to_have_attribute("href", re.compile(r"^otpauth://totp/"))
        secret = page.locator("#totp-key").inner_text().replace(" ", "")

        page.fill("#code", "000000")
        page.click("button[type=submit]")
        expect(page.get_by_role("alert")).to_have_text(WRONG_CODE)
        page.fill("#code", pyotp.TOTP(secret).at(utcnow()))
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/app/$"))  # signed in, and the factor is on

    travel.advance(timedelta(seconds=30))  # the next code: the first one is spent
    with _page(browser) as page:
        page.goto(f"{live_server}/app/")
        _sign_in(page, therapist.email)
        expect(page.locator("h1")).to_have_text("Enter your code")
        assert _serious_violations(page) == [], "code"
        page.locator("#code").press_sequentially(pyotp.TOTP(secret).at(utcnow()))
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/app/$"))
    member = client.get(f"/v1/staff/{therapist.id}", headers=admin.headers).json
    assert member["totp_enabled"] is True


# -- accessibility ---------------------------------------------------------------------------


def _serious_violations(page: Page) -> list[str]:
    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in SERIOUS
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_nothing_serious_on_the_clinician_pages(browser, care, live_server, viewport):
    [alert] = care.alerts()
    pages = {
        "login": "/app/login",
        "inbox": "/app/",
        "alert": f"/app/alerts/{alert['id']}",
        "couple": f"/app/couples/{care.id}",
    }
    with _page(browser, viewport=viewport) as page:
        page.goto(live_server + pages["login"])
        assert _serious_violations(page) == [], "login"
        _sign_in(page, care.therapist.email)
        page.wait_for_url(re.compile(r"/app/$"))
        for name, path in pages.items():
            if name != "login":
                page.goto(live_server + path)
                assert _serious_violations(page) == [], name


def test_axe_finds_nothing_serious_on_the_partner_form(browser, client, clinic, live_server):
    care = completed_session(client, clinic)
    with _page(browser, viewport=PHONE) as page:
        page.goto(care.urls["Marisol"])
        expect(page.locator("h1")).to_be_visible()
        assert _serious_violations(page) == []
