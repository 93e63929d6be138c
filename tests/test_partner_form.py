"""The partner's HTML form at /f/<token> through the Flask test client: headers, the
404 / 410 / 409 pages, validation, cross-origin posts, and what a partner may (not) see.
Real-browser tests are in tests/test_partner_form_browser.py."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from markupsafe import escape

from service.core import context
from service.core.clock import utcnow
from service.db import uow
from service.feedback.models import FeedbackRequest
from service.instruments.catalog import SAC8
from tests.scenario import CoupleInCare

ITEMS = [item["key"] for item in SAC8["items"]]
LABELS = {item["key"]: item["text"]["en"] for item in SAC8["items"]}
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


@dataclass
class Care:
    """A clinic, a couple whose partners both answer in the clinic, one completed session."""

    clinic: object
    admin: object
    therapist: object
    couple: dict
    session_id: str
    urls: dict[str, str]  # partner first name -> their link

    def path(self, name: str) -> str:
        return "/f/" + self.urls[name].rsplit("/f/", 1)[1]


def completed_session(
    client, clinic, names: tuple[str, str] = ("Marisol Vega", "Theo Brandt")
) -> Care:
    therapist = clinic.staff("therapist", display_name="Dr Robin Hale")
    partners = [{"display_name": name, "feedback_channel": "in_clinic"} for name in names]
    couple = CoupleInCare(client, clinic, partners=partners, therapist=therapist)
    done = couple.complete()
    first_names = {p["id"]: p["display_name"].split()[0] for p in couple.data["partners"]}
    urls = {first_names[link["partner_id"]]: link["url"] for link in done["feedback_links"]}
    assert len(urls) == 2 and all(urls.values())
    return Care(clinic, couple.admin, therapist, couple.data, done["id"], urls)


@pytest.fixture
def care(client, make_clinic) -> Care:
    return completed_session(client, make_clinic(name="Riverside Couples Practice"))


class _Text(HTMLParser):
    """The text a person reads (no markup, no attribute values, no <head>)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("head", "style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("head", "style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts)).strip()


def all_answers(value: int = 7, **overrides: int) -> dict[str, str]:
    return {f"answers.{key}": str(overrides.get(key, value)) for key in ITEMS}


def assert_page_headers(response) -> None:
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def expire(care: Care) -> None:
    with context.system_context("test data"), uow.unit_of_work() as session:
        session.execute(
            sa.update(FeedbackRequest)
            .where(FeedbackRequest.clinic_id == care.clinic.id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )


# -- the form ---------------------------------------------------------------------------------


def test_the_form_shows_the_session_and_only_the_partners_own_first_name(client, care):
    page = client.get(care.path("Marisol"))
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    text = visible_text(html)
    assert '<html lang="en">' in html and "<main>" in html and "<h1>" in html
    assert '<meta name="robots" content="noindex,nofollow">' in html
    assert "Riverside Couples Practice" in text
    assert "Monday 5 January 2026" in text  # tests.practice.PAST, in the clinic's zone
    assert "Dr Robin Hale" in text
    assert "Hello Marisol," in text
    assert "Vega" not in text  # the first name only
    assert "Theo" not in html and "Brandt" not in html  # never the other partner


def test_one_fieldset_per_item_with_eleven_labelled_radios_and_the_anchors(client, care):
    html = client.get(care.path("Marisol")).get_data(as_text=True)
    assert html.count("<fieldset") == len(ITEMS) == 8
    for key in ITEMS:
        assert f"<legend>{ITEMS.index(key) + 1}. {escape(LABELS[key])}</legend>" in html
        assert f'aria-describedby="item-{key}-scale"' in html
        radios = re.findall(
            rf'<input type="radio" id="(item-{key}-\d+)" name="answers\.{key}"', html
        )
        assert len(radios) == 11
        for radio_id in radios:
            assert f'<label class="option" for="{radio_id}">' in html
        scale = re.search(rf'<p class="scale" id="item-{key}-scale">(.*?)</p>', html, re.S)
        assert "0 = Not at all" in scale.group(1) and "10 = Completely" in scale.group(1)
    values = re.findall(r'name="answers\.heard"\s+value="(\d+)"', html)
    assert values == [str(n) for n in range(11)]


def test_the_private_fields_follow_the_items(client, care):
    html = client.get(care.path("Marisol")).get_data(as_text=True)
    comment = html.index('<textarea id="comment"')
    assert html.rindex("</fieldset>") < comment
    assert 'maxlength="1000"' in html[comment : html.index("</textarea>")]
    assert (
        '<label for="comment">Anything you would like your therapist to know? '
        "(only your therapist sees this)</label>" in html
    )
    assert 'type="checkbox" id="safety_concern" name="safety_concern"' in html
    assert (
        '<label for="safety_concern">I would like to talk with my therapist alone about my '
        "safety</label>" in html
    )
    assert '<button type="submit">' in html


def test_the_stylesheet_is_served_from_the_app_and_nothing_is_inline(client, care):
    html = client.get(care.path("Marisol")).get_data(as_text=True)
    assert "<style" not in html and "<script" not in html and " style=" not in html
    assert re.findall(r'(?:href|src)="([^"]+)"', html) == ["/f/static/partner.css"]
    css = client.get("/f/static/partner.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert ":focus-visible" in css.get_data(as_text=True)
    assert_page_headers(css)


# -- headers ----------------------------------------------------------------------------------


def test_every_partner_page_carries_the_strict_headers(client, care):
    form = client.get(care.path("Marisol"))
    assert_page_headers(form)
    invalid = client.post(care.path("Marisol"), data={})
    assert invalid.status_code == 422
    assert_page_headers(invalid)
    sent = client.post(care.path("Marisol"), data=all_answers())
    assert sent.status_code == 303
    assert_page_headers(sent)
    for response in (
        client.get(sent.headers["Location"]),
        client.get(care.path("Marisol")),  # 409
        client.get("/f/" + "x" * 43),  # 404
        client.get("/f/no/such/page"),
    ):
        assert_page_headers(response)


# -- submitting -------------------------------------------------------------------------------


def test_a_complete_post_is_stored_and_redirects_to_a_thank_you_page(client, care):
    sent = client.post(
        care.path("Marisol"),
        data={
            **all_answers(8, balance=2),
            "comment": "I felt rushed at the end.\r\nThanks.",
            "safety_concern": "yes",
        },
    )
    assert sent.status_code == 303 and sent.headers["Location"] == "/f/thanks?lang=en"
    thanks = client.get(sent.headers["Location"])
    assert thanks.status_code == 200
    text = visible_text(thanks.get_data(as_text=True))
    assert "Thank you" in text
    for word in ("Marisol", "Theo", "Riverside", "Hale", "score", "alert"):
        assert word.lower() not in text.lower()
    stored = client.get(
        f"/v1/sessions/{care.session_id}/feedback", headers=care.admin.headers
    ).json["items"]
    assert len(stored) == 1
    assert stored[0]["answers"] == {key: (2 if key == "balance" else 8) for key in ITEMS}
    assert stored[0]["comment"] == "I felt rushed at the end.\nThanks."
    assert stored[0]["safety_concern"] is True and stored[0]["source"] == "partner_link"


def test_without_the_optional_fields_nothing_private_is_stored(client, care):
    assert client.post(care.path("Marisol"), data=all_answers(5)).status_code == 303
    stored = client.get(
        f"/v1/sessions/{care.session_id}/feedback", headers=care.admin.headers
    ).json["items"]
    assert stored[0]["comment"] is None and stored[0]["safety_concern"] is False


def test_missing_answers_re_render_the_form_naming_them_and_keeping_the_choices(client, care):
    chosen = {
        k: v for k, v in all_answers(6).items() if k not in ("answers.goals", "answers.airtime")
    }
    page = client.post(care.path("Marisol"), data={**chosen, "comment": "Kept for me"})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    summary = re.search(
        r'<div class="summary" role="alert" id="error-summary">(.*?)</div>', html, re.S
    )
    assert summary, "an error summary at the top"
    assert html.index("error-summary") < html.index("<form")
    links = re.findall(r'<a href="#(item-\w+)">([^<]*)</a>', summary.group(1))
    assert [target for target, _ in links] == ["item-goals", "item-airtime"]
    assert escape(LABELS["goals"]) in links[0][1] and escape(LABELS["airtime"]) in links[1][1]
    assert 'id="item-goals" class="item invalid"' in html
    assert 'aria-describedby="item-goals-scale item-goals-error"' in html
    for key in ITEMS:
        checked = re.findall(rf'name="answers\.{key}"\s+value="(\d+)" checked', html)
        assert checked == ([] if key in ("goals", "airtime") else ["6"])
    assert ">Kept for me</textarea>" in html
    assert html.count("Hello Marisol") == 1
    # nothing was stored, and the link still works
    assert (
        client.get(f"/v1/sessions/{care.session_id}/feedback", headers=care.admin.headers).json[
            "items"
        ]
        == []
    )
    assert client.post(care.path("Marisol"), data=all_answers()).status_code == 303


@pytest.mark.parametrize(
    "value", ["11", "-1", "abc", "7.5", "nan", "1e400", "9" * 50, "\x00"], ids=repr
)
def test_tampered_answers_are_named_never_stored_and_never_a_500(client, care, value):
    page = client.post(care.path("Marisol"), data=all_answers(4, heard=value))
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert '<a href="#item-heard">' in html and 'id="item-heard" class="item invalid"' in html


@pytest.mark.parametrize(
    "comment, message",
    [("x" * 1001, "1,000 characters or fewer"), ("bad\x00byte", "cannot be saved")],
    ids=["too-long", "nul"],
)
def test_a_bad_comment_is_named_with_the_missing_answers(client, care, comment, message):
    data = {k: v for k, v in all_answers().items() if k != "answers.respect"}
    page = client.post(care.path("Marisol"), data={**data, "comment": comment})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert '<a href="#comment">' in html and message in html
    assert '<a href="#item-respect">' in html and 'aria-invalid="true"' in html


def test_a_cross_origin_post_is_refused(client, care, settings):
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": settings.base_url, "Sec-Fetch-Site": "cross-site"},
    ):
        refused = client.post(care.path("Marisol"), data=all_answers(), headers=headers)
        assert refused.status_code == 403, headers
        assert refused.mimetype == "text/html"
        assert_page_headers(refused)
    assert client.get(care.path("Marisol")).status_code == 200  # still open
    own = {"Origin": settings.base_url, "Sec-Fetch-Site": "same-origin"}
    assert client.post(care.path("Marisol"), data=all_answers(), headers=own).status_code == 303


def test_a_browser_s_own_post_under_no_referrer_sends_origin_null_and_is_accepted(client, care):
    headers = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    assert client.post(care.path("Marisol"), data=all_answers(), headers=headers).status_code == 303


# -- unusable links ---------------------------------------------------------------------------


def test_opening_an_answered_link_shows_already_answered(client, care):
    assert client.post(care.path("Marisol"), data=all_answers()).status_code == 303
    for again in (
        client.get(care.path("Marisol")),
        client.post(care.path("Marisol"), data=all_answers()),
    ):
        assert again.status_code == 409 and again.mimetype == "text/html"
        assert "already answered" in visible_text(again.get_data(as_text=True))
    assert client.get(care.path("Theo")).status_code == 200  # the other partner's link works


def test_an_expired_link_shows_the_expired_page(client, care):
    expire(care)
    for response in (
        client.get(care.path("Marisol")),
        client.post(care.path("Marisol"), data=all_answers()),
    ):
        assert response.status_code == 410 and response.mimetype == "text/html"
        text = visible_text(response.get_data(as_text=True))
        assert "This link has expired; ask your clinic for a new one" in text
        assert_page_headers(response)


@pytest.mark.parametrize("token", ["x" * 43, "short", "a" * 500, "%00"], ids=repr)
def test_an_unknown_link_shows_the_not_found_page(client, token):
    for response in (client.get(f"/f/{token}"), client.post(f"/f/{token}", data=all_answers())):
        assert response.status_code == 404 and response.mimetype == "text/html"
        assert "This link does not work" in response.get_data(as_text=True)


def test_a_link_of_another_clinic_s_partner_stays_theirs(client, care, make_clinic):
    other = completed_session(client, make_clinic(), names=("Priya Nair", "Sam Ortiz"))
    html = client.get(other.path("Priya")).get_data(as_text=True)
    assert "Hello Priya," in html and "Riverside" not in html and "Marisol" not in html


# -- what a partner never sees ----------------------------------------------------------------


def test_no_page_mentions_scores_alerts_or_the_other_partner(client, care):
    pages = [
        client.get(care.path("Marisol")),
        client.post(care.path("Marisol"), data={"answers.heard": "3"}),
        client.post(care.path("Marisol"), data=all_answers(1)),
        client.get("/f/thanks"),
        client.get(care.path("Marisol")),
        client.get("/f/" + "y" * 43),
    ]
    assert [page.status_code for page in pages] == [200, 422, 303, 200, 409, 404]
    for page in pages:
        text = visible_text(page.get_data(as_text=True)).lower()
        for word in ("score", "alert", "total", "percent", "theo", "brandt", "partner"):
            assert word not in text, (word, page.status_code)


@pytest.fixture
def strict_form_limit(app):
    relaxed = app.config["SETTINGS"]
    app.config["SETTINGS"] = dataclasses.replace(relaxed, feedback_form_rate_limit="2 per minute")
    yield
    app.config["SETTINGS"] = relaxed


def test_the_form_is_rate_limited_with_a_page(client, care, strict_form_limit):
    ip = {"REMOTE_ADDR": "203.0.113.77"}
    statuses = [client.get(care.path("Marisol"), environ_base=ip).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = client.post(care.path("Marisol"), data=all_answers(), environ_base=ip)
    assert limited.status_code == 429 and limited.mimetype == "text/html"
    assert "Retry-After" in limited.headers and "Too many attempts" in limited.get_data(
        as_text=True
    )
    assert_page_headers(limited)
