"""The partner's form in a real browser: Debian's Chromium driven by Playwright, over real HTTP
(`live_server`), on a 390 x 844 phone screen.

Skipped only when /usr/bin/chromium is missing on a developer machine; under CI=true a missing
browser fails (`make browser` installs it; never `playwright install`). PostgreSQL pass only
(`postgres_only`): the SQLite pass deselects these tests.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, expect

from service.instruments.catalog import SAC8
from tests.browsers import NEEDS_CHROMIUM, PHONE
from tests.test_partner_form import Care, completed_session

pytestmark = NEEDS_CHROMIUM

ITEMS = [item["key"] for item in SAC8["items"]]
LABELS = {item["key"]: item["text"]["en"] for item in SAC8["items"]}
CHOSEN = {
    "heard": 9,
    "respect": 10,
    "openness": 0,
    "goals": 7,
    "approach": 5,
    "balance": 3,
    "airtime": 6,
    "confidence": 8,
}
COMMENT = "The end felt rushed; can we start with the budget next time?"
COMMENT_LABEL = "Anything you would like your therapist to know? (only your therapist sees this)"
SAFETY_LABEL = "I would like to talk with my therapist alone about my safety"


@contextmanager
def _phone_page(browser: Browser, *, javascript: bool) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=javascript, viewport=PHONE)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    with _phone_page(browser, javascript=True) as page:
        yield page


@pytest.fixture
def phone_without_js(browser: Browser) -> Iterator[Page]:
    with _phone_page(browser, javascript=False) as page:
        yield page


@pytest.fixture
def care(client, make_clinic, live_server) -> Care:
    """Both partners answer in the clinic; their links point at the live server."""
    care = completed_session(client, make_clinic(name="Riverside Couples Practice"))
    assert all(url.startswith(f"{live_server}/f/") for url in care.urls.values())
    return care


def focused(page: Page) -> dict[str, str | None]:
    return page.evaluate(
        "() => ({tag: document.activeElement.tagName.toLowerCase(),"
        " id: document.activeElement.id, name: document.activeElement.getAttribute('name')})"
    )


def answer_with_the_keyboard_only(page: Page) -> None:
    """Tab into each radio group, arrow keys to choose, Tab on; type the comment; Space on
    the safety box; Tab to the button and Enter. No clicks, no fills."""
    keyboard = page.keyboard
    for key in ITEMS:
        keyboard.press("Tab")
        assert focused(page) == {"tag": "input", "id": f"item-{key}-0", "name": f"answers.{key}"}
        value = CHOSEN[key]
        if value == 0:
            keyboard.press("Space")
        for _ in range(value):
            keyboard.press("ArrowRight")
        assert focused(page)["id"] == f"item-{key}-{value}"
        expect(page.locator(f"#item-{key}-{value}")).to_be_checked()
    keyboard.press("Tab")
    assert focused(page)["id"] == "comment"
    keyboard.type(COMMENT)
    keyboard.press("Tab")
    assert focused(page)["id"] == "safety_concern"
    keyboard.press("Space")
    expect(page.locator("#safety_concern")).to_be_checked()
    keyboard.press("Tab")
    assert focused(page)["tag"] == "button"
    keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/f/thanks\?lang=en$"))


def stored_responses(client, care: Care) -> list[dict]:
    response = client.get(f"/v1/sessions/{care.session_id}/feedback", headers=care.admin.headers)
    assert response.status_code == 200, response.json
    return response.json["items"]


def keyboard_flow(page: Page, client, care: Care) -> None:
    opened = page.goto(care.urls["Marisol"])
    assert opened is not None and opened.status == 200
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Hello Marisol,")
    expect(page.locator("main")).to_contain_text("Riverside Couples Practice")
    expect(page.locator("main")).to_contain_text("Dr Robin Hale")
    expect(page.locator("main")).to_contain_text("Monday 5 January 2026")

    answer_with_the_keyboard_only(page)
    expect(page.locator("h1")).to_have_text("Thank you")

    again = page.goto(care.urls["Marisol"])
    assert again is not None and again.status == 409
    expect(page.locator("main")).to_contain_text("already answered")

    [stored] = stored_responses(client, care)
    assert stored["answers"] == CHOSEN
    assert stored["comment"] == COMMENT
    assert stored["safety_concern"] is True
    assert stored["source"] == "partner_link"


# -- 1 and 2: the keyboard-only flow, with and without JavaScript -----------------------------


def test_a_partner_answers_with_the_keyboard_only(phone: Page, client, care: Care):
    keyboard_flow(phone, client, care)


def test_the_same_flow_works_without_javascript(phone_without_js: Page, client, care: Care):
    keyboard_flow(phone_without_js, client, care)


# -- 3: visible focus, accessible names, contrast, touch targets ------------------------------


def test_keyboard_focus_is_visible(phone: Page, care: Care):
    phone.goto(care.urls["Marisol"])
    outline = (
        "el => { const s = getComputedStyle(el); return {style: s.outlineStyle,"
        " width: parseFloat(s.outlineWidth), color: s.outlineColor}; }"
    )
    unfocused = phone.locator("#item-heard-0").evaluate(outline)
    phone.keyboard.press("Tab")
    focused_radio = phone.locator("#item-heard-0").evaluate(outline)
    assert focused(phone)["id"] == "item-heard-0"
    assert unfocused["style"] == "none" or unfocused["width"] == 0
    assert focused_radio["style"] == "solid" and focused_radio["width"] >= 2
    assert contrast(focused_radio["color"], "rgb(255, 255, 255)") >= 3  # non-text contrast
    for selector in ("#comment", "#safety_concern", "button[type=submit]"):
        phone.locator(selector).focus()
        style = phone.locator(selector).evaluate(outline)
        assert style["style"] == "solid" and style["width"] >= 2, selector


def test_every_control_has_an_accessible_label(phone: Page, care: Care):
    phone.goto(care.urls["Marisol"])
    unlabelled = phone.evaluate(
        "() => [...document.querySelectorAll('input, textarea, select, button')]"
        ".filter(el => el.type !== 'hidden' && el.tagName !== 'BUTTON'"
        " && !(el.labels && [...el.labels].some(l => l.textContent.trim())))"
        ".map(el => el.id || el.name)"
    )
    assert unlabelled == []
    for key in ITEMS:
        group = phone.get_by_role("group", name=re.compile(re.escape(LABELS[key])))
        expect(group).to_have_count(1)
        expect(group).to_have_accessible_description(re.compile(r"0 = Not at all.*10 = Completely"))
        for value in range(11):
            expect(group.get_by_label(str(value), exact=True)).to_have_attribute(
                "value", str(value)
            )
    expect(phone.get_by_label(COMMENT_LABEL)).to_have_attribute("maxlength", "1000")
    expect(phone.get_by_label(SAFETY_LABEL)).to_have_attribute("type", "checkbox")
    expect(phone.get_by_role("button", name="Send my answers")).to_be_visible()
    expect(phone.locator("html")).to_have_attribute("lang", "en")
    expect(phone.get_by_role("main")).to_have_count(1)
    expect(phone.get_by_role("heading", level=1)).to_have_count(1)


def test_readable_on_a_phone_with_large_targets_and_enough_contrast(phone: Page, care: Care):
    phone.goto(care.urls["Marisol"])
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    for option in phone.locator("label.option").all():  # WCAG 2.2 target size (minimum)
        box = option.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 24, box
    for target in (
        phone.locator("label[for=safety_concern]"),
        phone.locator("#comment"),
        phone.get_by_role("button", name="Send my answers"),
    ):
        box = target.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, box
    colours = phone.evaluate(
        """() => {
          const background = el => {
            for (; el; el = el.parentElement) {
              const c = getComputedStyle(el).backgroundColor;
              if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c;
            }
            return 'rgb(255, 255, 255)';
          };
          const texts = document.querySelectorAll(
            'main p, main h1, legend, label, .scale span, button, textarea');
          return [...texts].map(el => [el.tagName + '.' + el.className,
            getComputedStyle(el).color, background(el)]);
        }"""
    )
    assert len(colours) > 100
    for where, colour, background in colours:
        assert contrast(colour, background) >= 4.5, (where, colour, background)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_each_scale_is_one_row_of_targets_at_least_24_px_on_a_390_px_phone(
    phone: Page, client, make_clinic, live_server, locale
):
    """WCAG 2.2 target size (minimum): eleven answers side by side, in order, each at least
    24 x 24 CSS px, inside the screen, in either language (the Spanish anchors are longer)."""
    care = completed_session(client, make_clinic(name="Clínica Ribera", locale=locale))
    phone.goto(care.urls["Marisol"])
    expect(phone.locator("html")).to_have_attribute("lang", locale)
    for key in ITEMS:
        boxes = [phone.locator(f"label[for=item-{key}-{n}]").bounding_box() for n in range(11)]
        assert all(box is not None for box in boxes)
        assert len({box["y"] for box in boxes}) == 1, (key, [box["y"] for box in boxes])
        for box in boxes:
            assert box["width"] >= 24 and box["height"] >= 24, (key, box)
        assert all(a["x"] + a["width"] <= b["x"] for a, b in itertools.pairwise(boxes)), key
        assert boxes[0]["x"] >= 0 and boxes[-1]["x"] + boxes[-1]["width"] <= PHONE["width"]
    overflow = phone.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert overflow[0] <= overflow[1] == PHONE["width"], overflow


# -- 4: each partner's link is their own ------------------------------------------------------


def test_each_partner_sees_only_their_own_name_and_keeps_their_link(
    phone: Page, client, care: Care
):
    phone.goto(care.urls["Theo"])
    expect(phone.locator("main")).to_contain_text("Hello Theo,")
    assert "Marisol" not in phone.content() and "Vega" not in phone.content()

    phone.goto(care.urls["Marisol"])
    assert "Theo" not in phone.content() and "Brandt" not in phone.content()
    answer_with_the_keyboard_only(phone)

    opened = phone.goto(care.urls["Theo"])
    assert opened is not None and opened.status == 200
    expect(phone.locator("main")).to_contain_text("Hello Theo,")
    expect(phone.locator("main")).not_to_contain_text("already answered")
    assert "Marisol" not in phone.content()
    for key in ITEMS:
        phone.locator(f"#item-{key}-4").check()
    phone.get_by_role("button", name="Send my answers").click()
    phone.wait_for_url(re.compile(r"/f/thanks\?lang=en$"))
    by_partner = {row["partner_id"]: row for row in stored_responses(client, care)}
    marisol, theo = (p["id"] for p in care.couple["partners"])
    assert by_partner[marisol]["answers"] == CHOSEN
    assert by_partner[theo]["answers"] == dict.fromkeys(ITEMS, 4)
    assert by_partner[theo]["comment"] is None and by_partner[theo]["safety_concern"] is False


# -- helpers ----------------------------------------------------------------------------------


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two CSS rgb()/rgba() colours (opaque background)."""

    def channels(colour: str) -> tuple[float, ...]:
        numbers = [float(n) for n in re.findall(r"[\d.]+", colour)]
        return tuple(numbers[:3])

    def luminance(rgb: tuple[float, ...]) -> float:
        def linear(c: float) -> float:
            c /= 255
            return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = (linear(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted((luminance(channels(foreground)), luminance(channels(background))))[
        ::-1
    ]
    return (lighter + 0.05) / (darker + 0.05)
