"""Swagger UI at /docs in a real browser (Debian's Chromium, Playwright) against the API as
`make run` serves it: Authorize (authorization code + PKCE with the `alliance-docs` client that
`seed-demo` registers) with a demo login, then "Try it out" on GET /v1/couples answers 200.

The page and its sign-in popup run under their Content-Security-Policy: a refused script,
style or request shows up as a console error, and the test fails on any.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from service.demo import STAFF
from service.staff.policy import STAFF_SCOPES, scopes_for_role
from tests import demo_api
from tests.browsers import NEEDS_CHROMIUM
from tests.loopback import free_port

pytestmark = NEEDS_CHROMIUM

THERAPIST = next(member for member in STAFF if member.email == "ana.reyes@harbor.example")


@pytest.fixture(scope="module")
def docs_api(tmp_path_factory) -> Iterator[demo_api.DemoApi]:
    with demo_api.running(free_port(), tmp_path_factory.mktemp("docs"), "docs") as api:
        yield api


def sign_in_through_authorize(page: Page, email: str, password: str) -> Page:
    """Authorize → the code + PKCE flow's own Authorize button → the login popup."""
    page.get_by_role("button", name="Authorize").first.click()
    flow = page.locator(".auth-container").filter(has_text="authorizationCode with PKCE")
    expect(flow.locator("#client_id_authorizationCode")).to_have_value("alliance-docs")
    checked = flow.locator(".scopes input:checked").evaluate_all(
        "boxes => boxes.map(b => b.dataset.value)"
    )
    assert checked == list(STAFF_SCOPES)  # offered: every staff scope, the server narrows them
    with page.expect_popup() as opened:
        flow.locator("button", has_text="Authorize").click()
    popup = opened.value
    popup.get_by_label("Email").fill(email)
    popup.get_by_label("Password").fill(password)
    with page.expect_response(re.compile(r"/oauth/token$")) as token_response:
        popup.get_by_role("button", name="Sign in").click()
    assert token_response.value.status == 200, token_response.value.text()
    expect(flow.locator("button", has_text="Logout")).to_be_visible()
    return popup


def test_a_therapist_authorizes_in_swagger_ui_and_tries_get_couples(
    browser: Browser,
    docs_api: demo_api.DemoApi,
):
    context = browser.new_context()
    context.set_default_timeout(15_000)
    refused: list[str] = []
    context.on(
        "console",
        lambda message: refused.append(message.text) if message.type == "error" else None,
    )
    try:
        page = context.new_page()
        page.goto(f"{docs_api.base_url}/docs")
        expect(page.locator(".opblock-summary-path", has_text="/v1/couples").first).to_be_visible()

        popup = sign_in_through_authorize(page, THERAPIST.email, THERAPIST.password)
        token = json.loads(
            page.evaluate("() => JSON.stringify(window.ui.authSelectors.authorized())")
        )
        granted = set(token["oauth2"]["token"]["scope"].split())
        assert granted == scopes_for_role("therapist")  # what Ana's role allows
        if not popup.is_closed():
            popup.wait_for_event("close")  # the redirect page closes its popup
        page.locator(".modal-ux .close-modal").click()

        operation = page.locator(
            ".opblock-get", has=page.locator('.opblock-summary-path[data-path="/v1/couples"]')
        )
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        with page.expect_response(re.compile(r"/v1/couples(\?.*)?$")) as called:
            operation.get_by_role("button", name="Execute").click()
        response = called.value
        assert response.status == 200, response.text()
        assert response.request.headers["authorization"].startswith("Bearer ")
        labels = {couple["label"] for couple in response.json()["items"]}
        assert labels == {"Jordan & Riley", "Priya & Tom"}  # Ana's caseload
        shown = operation.locator(".live-responses-table tr.response .response-col_status")
        expect(shown).to_have_text("200")
    finally:
        context.close()
    assert refused == []
