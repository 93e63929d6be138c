"""Alliance feedback over the API: links on completion, the partner API, staff entry,
instruments frozen once answered, the alliance series and chart."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from service.core import context
from service.db import uow
from service.feedback.models import FeedbackRequest
from service.instruments.catalog import SAC8, SAC8_ID
from service.notifications.compose import compose
from service.notifications.models import OutboxMessage
from tests.practice import IN_CLINIC_PAIR, PAST, complete, new_couple, new_session
from tests.scenario import EMAIL_AND_CLINIC, CoupleInCare

ITEMS = [item["key"] for item in SAC8["items"]]


def answers(value: int = 8, **overrides: int) -> dict[str, int]:
    return {key: value for key in ITEMS} | overrides


@pytest.fixture
def care(client, clinic):
    """A couple (Ana answers in the clinic, Ben by email) and one completed session."""
    couple = CoupleInCare(client, clinic, partners=EMAIL_AND_CLINIC)
    return {
        "admin": couple.admin,
        "therapist": couple.therapist,
        "couple": couple.data,
        "session": couple.complete(),
        "clinic": clinic,
    }


def _token(link: dict) -> str:
    return link["url"].rsplit("/", 1)[1]


def _links(care) -> dict[str, dict]:
    return {link["channel"]: link for link in care["session"]["feedback_links"]}


def test_completion_issues_one_link_per_partner(care):
    links = _links(care)
    ana, ben = care["couple"]["partners"]
    assert links["in_clinic"]["partner_id"] == ana["id"] and links["in_clinic"]["url"]
    assert links["email"]["partner_id"] == ben["id"] and links["email"]["url"] is None
    expires = datetime.fromisoformat(links["in_clinic"]["expires_at"])
    assert timedelta(hours=71) < expires - datetime.now(UTC) <= timedelta(hours=72)


def test_the_email_partner_gets_an_invitation_in_the_outbox(care, settings):
    with context.system_context("test check"), uow.unit_of_work() as session:
        messages = session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.clinic_id == care["clinic"].id, OutboxMessage.channel == "email")
            .options(sa.orm.undefer(OutboxMessage.content))
        ).all()
    assert [m.recipient for m in messages] == ["ben@example.org"]
    mail = messages[0]
    assert mail.topic == "feedback.invitation" and mail.status == "pending"
    words = compose(mail.payload["template"], mail.content, settings)
    assert "Hello Ben," in words.text and "/f/" in words.text
    assert "Ana" not in words.text + words.html  # nothing about the other partner
    assert "score" not in (words.text + words.html).lower()


def test_tokens_are_stored_only_as_digests(care, test_db):
    token = _token(_links(care)["in_clinic"])
    with context.system_context("test check"), uow.unit_of_work() as session:
        stored = session.execute(
            sa.text("SELECT count(*) FROM feedback_requests WHERE token_hash = :t"), {"t": token}
        ).scalar()
    assert stored == 0


def test_the_partner_form_shows_only_what_a_partner_may_see(client, care):
    form = client.get(f"/v1/feedback-forms/{_token(_links(care)['in_clinic'])}")
    assert form.status_code == 200
    body = form.json
    assert body["first_name"] == "Ana" and body["clinic_name"]
    assert body["title"] == "Session Alliance Check" and body["comment_max_length"] == 1000
    assert body["session_date"] == PAST.date().isoformat()
    assert [item["key"] for item in body["items"]] == ITEMS
    assert body["items"][0]["min_label"] == "Not at all"
    text = form.get_data(as_text=True)
    assert "Ben" not in text and "Okoro" not in text and "pct" not in text


def test_submit_once_then_409_and_the_response_is_scored(client, care):
    url = f"/v1/feedback-forms/{_token(_links(care)['in_clinic'])}"
    sent = client.post(
        url,
        json={"answers": answers(9, balance=3), "comment": "Felt rushed", "safety_concern": True},
    )
    assert sent.status_code == 201
    assert "score" not in sent.get_data(as_text=True) and "pct" not in sent.get_data(as_text=True)
    assert client.post(url, json={"answers": answers()}).status_code == 409
    assert client.get(url).status_code == 409
    stored = client.get(
        f"/v1/sessions/{care['session']['id']}/feedback", headers=care["therapist"].headers
    ).json["items"]
    assert len(stored) == 1
    assert stored[0]["total"] == 66 and stored[0]["pct"] == 82.5
    assert stored[0]["comment"] == "Felt rushed" and stored[0]["safety_concern"] is True
    assert stored[0]["source"] == "partner_link" and stored[0]["instrument_version"] == 1


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"heard": 11}, "answers.heard"),
        ({"heard": 2.5}, "answers.heard"),
        ({"bonus": 1}, "answers.bonus"),
        ({"heard": "x"}, "answers.heard"),
    ],
)
def test_answers_that_do_not_fit_are_422_naming_the_item(client, care, bad, field):
    url = f"/v1/feedback-forms/{_token(_links(care)['in_clinic'])}"
    response = client.post(url, json={"answers": answers() | bad})
    assert response.status_code == 422 and field in response.json["errors"]
    missing = client.post(url, json={"answers": {"heard": 5}})
    assert missing.status_code == 422 and "answers.respect" in missing.json["errors"]
    assert client.get(url).status_code == 200  # nothing was stored; the link still works


def test_unknown_and_expired_links(client, care):
    assert client.get("/v1/feedback-forms/" + "x" * 43).status_code == 404
    token = _token(_links(care)["in_clinic"])
    with context.system_context("test check"), uow.unit_of_work() as session:
        session.execute(
            sa.update(FeedbackRequest)
            .where(FeedbackRequest.clinic_id == care["clinic"].id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert client.get(f"/v1/feedback-forms/{token}").status_code == 410
    assert (
        client.post(f"/v1/feedback-forms/{token}", json={"answers": answers()}).status_code == 410
    )


def test_reissue_rotates_in_clinic_links(client, care):
    old = _token(_links(care)["in_clinic"])
    fresh = client.post(
        f"/v1/sessions/{care['session']['id']}/feedback-links", headers=care["therapist"].headers
    )
    assert fresh.status_code == 200
    [link] = fresh.json["feedback_links"]
    assert _token(link) != old
    assert client.get(f"/v1/feedback-forms/{old}").status_code == 404
    assert client.get(f"/v1/feedback-forms/{_token(link)}").status_code == 200


def test_one_partners_token_never_reaches_the_other_partner(client, make_clinic):
    clinic = make_clinic()
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    couple = new_couple(
        client,
        admin,
        therapist.id,
        partners=IN_CLINIC_PAIR,
    )
    booked = new_session(client, admin, couple)
    links = complete(client, admin, booked)
    by_partner = {link["partner_id"]: _token(link) for link in links}
    ana, ben = (p["id"] for p in couple["partners"])
    ana_form = client.get(f"/v1/feedback-forms/{by_partner[ana]}").get_data(as_text=True)
    assert "Ben" not in ana_form and "Okoro" not in ana_form
    assert (
        client.post(
            f"/v1/feedback-forms/{by_partner[ana]}",
            json={"answers": answers(2), "comment": "Ana only"},
        ).status_code
        == 201
    )
    ben_form = client.get(f"/v1/feedback-forms/{by_partner[ben]}")
    assert ben_form.status_code == 200 and "Ana" not in ben_form.get_data(as_text=True)
    assert (
        client.post(
            f"/v1/feedback-forms/{by_partner[ben]}", json={"answers": answers(9)}
        ).status_code
        == 201
    )
    stored = {
        r["partner_id"]: r
        for r in client.get(f"/v1/sessions/{booked['id']}/feedback", headers=admin.headers).json[
            "items"
        ]
    }
    assert stored[ana]["total"] == 16 and stored[ben]["total"] == 72
    assert stored[ana]["comment"] == "Ana only" and stored[ben]["comment"] is None


def test_private_fields_are_for_clinicians_only(client, care):
    url = f"/v1/feedback-forms/{_token(_links(care)['in_clinic'])}"
    client.post(url, json={"answers": answers(), "comment": "Private", "safety_concern": True})
    ehr = care["clinic"].integrator("feedback.read")
    seen = client.get(f"/v1/sessions/{care['session']['id']}/feedback", headers=ehr.headers)
    assert seen.status_code == 200
    [item] = seen.json["items"]
    assert item["comment"] is None and item["safety_concern"] is None


def test_staff_entry_records_the_source_and_closes_the_link(client, care):
    ana = care["couple"]["partners"][0]["id"]
    entered = client.post(
        f"/v1/sessions/{care['session']['id']}/feedback",
        json={"partner_id": ana, "answers": answers(7), "source": "in_clinic"},
        headers=care["therapist"].headers,
    )
    assert entered.status_code == 201 and entered.json["source"] == "in_clinic"
    assert client.get(f"/v1/feedback-forms/{_token(_links(care)['in_clinic'])}").status_code == 409
    again = client.post(
        f"/v1/sessions/{care['session']['id']}/feedback",
        json={"partner_id": ana, "answers": answers(7)},
        headers=care["therapist"].headers,
    )
    assert again.status_code == 409
    stranger = client.post(
        f"/v1/sessions/{care['session']['id']}/feedback",
        json={"partner_id": care["admin"].id.hex, "answers": answers()},
        headers=care["therapist"].headers,
    )
    assert stranger.status_code == 422 and "partner_id" in stranger.json["errors"]


def test_an_answered_instrument_is_frozen_and_a_new_version_is_used(client, clinic):
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    made = client.post(
        "/v1/instruments",
        headers=admin.headers,
        json={
            "key": "short-check",
            "kind": "alliance",
            "title": {"en": "Short check"},
            "items": [
                {"key": "heard", "text": {"en": "I felt heard"}, "min": 0, "max": 4},
                {"key": "fair", "text": {"en": "Fair to both"}, "min": 0, "max": 4, "watch": True},
            ],
        },
    )
    assert made.status_code == 201, made.json
    first = made.json
    assert (
        client.post(f"/v1/instruments/{first['id']}/default", headers=admin.headers).status_code
        == 200
    )
    couple = new_couple(
        client,
        admin,
        therapist.id,
        partners=[
            {"display_name": "Ana", "feedback_channel": "in_clinic"},
            {"display_name": "Ben", "feedback_channel": "none"},
        ],
    )
    booked = new_session(client, admin, couple)
    [link] = complete(client, admin, booked)
    assert (
        client.patch(
            f"/v1/instruments/{first['id']}",
            headers=admin.headers,
            json={"title": {"en": "Renamed before use"}},
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/v1/feedback-forms/{_token(link)}", json={"answers": {"heard": 3, "fair": 4}}
        ).status_code
        == 201
    )
    frozen = client.patch(
        f"/v1/instruments/{first['id']}", headers=admin.headers, json={"title": {"en": "Too late"}}
    )
    assert frozen.status_code == 409
    second = client.post(
        f"/v1/instruments/{first['id']}/versions",
        headers=admin.headers,
        json={"items": [{"key": "heard", "text": {"en": "Heard"}, "min": 0, "max": 10}]},
    )
    assert second.status_code == 201 and second.json["version"] == 2
    client.post(f"/v1/instruments/{second.json['id']}/default", headers=admin.headers)
    later = new_session(client, admin, couple, starts_at=PAST + timedelta(days=7))
    [link2] = complete(client, admin, later)
    form = client.get(f"/v1/feedback-forms/{_token(link2)}").json
    assert [item["key"] for item in form["items"]] == ["heard"]
    assert (
        client.post(
            f"/v1/feedback-forms/{_token(link2)}", json={"answers": {"heard": 10}}
        ).status_code
        == 201
    )
    versions = [
        r["instrument_version"]
        for s in (booked, later)
        for r in client.get(f"/v1/sessions/{s['id']}/feedback", headers=admin.headers).json["items"]
    ]
    assert versions == [1, 2]


def test_built_in_sac8_is_listed_and_cannot_be_edited(client, admin):
    listed = client.get("/v1/instruments?kind=alliance", headers=admin.headers).json["items"]
    sac8 = next(i for i in listed if i["key"] == "sac-8")
    assert sac8["built_in"] is True and len(sac8["items"]) == 8
    assert [i["key"] for i in sac8["items"] if i["watch"]] == ["openness", "balance", "airtime"]
    response = client.patch(
        f"/v1/instruments/{SAC8_ID}", headers=admin.headers, json={"title": {"en": "Mine"}}
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([{"key": "a", "text": {"en": "A"}, "min": 5, "max": 5}], "items.0.max"),
        ([{"key": "a", "text": {"en": "A"}, "min": 0, "max": 5, "step": 2}], "items.0.step"),
        ([{"key": "a", "text": {"en": "A"}, "min": 0, "max": 4}] * 2, "items"),
        ([], "items"),
    ],
)
def test_nonsense_instruments_are_422(client, admin, items, field):
    response = client.post(
        "/v1/instruments",
        headers=admin.headers,
        json={"key": "bad-one", "kind": "outcome", "title": {"en": "Bad"}, "items": items},
    )
    assert response.status_code == 422 and field in response.json["errors"], response.json


def _submit_history(client, admin, therapist, scores: list[tuple[int, int | None]]):
    couple = new_couple(
        client,
        admin,
        therapist.id,
        partners=IN_CLINIC_PAIR,
    )
    for week, pair in enumerate(scores):
        booked = new_session(client, admin, couple, starts_at=PAST + timedelta(weeks=week))
        links = complete(client, admin, booked)
        for link, value in zip(
            sorted(links, key=lambda link: link["partner_id"] != couple["partners"][0]["id"]),
            pair,
            strict=True,
        ):
            if value is not None:
                client.post(f"/v1/feedback-forms/{_token(link)}", json={"answers": answers(value)})
    return couple


def test_alliance_series_has_both_partners_and_the_gap(client, clinic):
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    couple = _submit_history(client, admin, therapist, [(9, 9), (8, 5), (7, None)])
    series = client.get(f"/v1/couples/{couple['id']}/alliance", headers=therapist.headers).json
    ana, ben = series["partners"]
    assert [p["pct"] for p in ana["points"]] == [90, 80, 70]
    assert [p["pct"] for p in ben["points"]] == [90, 50]
    assert [g["gap_pct"] for g in series["gaps"]] == [0, 30]
    assert series["gaps"][1]["lower_partner_id"] == ben["partner_id"]
    assert series["cutoff_pct"] == 75  # the clinic policy's (SAC-8 has no cutoff of its own)


def test_alliance_chart_is_svg_with_a_title_and_both_series(client, clinic):
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    couple = _submit_history(client, admin, therapist, [(9, 8), (8, 5)])
    chart = client.get(f"/v1/couples/{couple['id']}/alliance.svg", headers=therapist.headers)
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    root = ET.fromstring(chart.data)  # noqa: S314 - our own response
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert root.find("svg:title", ns).text
    desc = root.find("svg:desc", ns).text
    assert "Ana Lima: 2 of 2 sessions answered, latest 80%" in desc
    assert "Ben Okoro: 2 of 2 sessions answered, latest 50%" in desc
    assert "Latest gap between partners: 30 points." in desc
    text = chart.get_data(as_text=True)
    assert "Ana Lima" in text and "Ben Okoro" in text
    stranger = clinic.staff("therapist")
    assert (
        client.get(f"/v1/couples/{couple['id']}/alliance.svg", headers=stranger.headers).status_code
        == 404
    )


@pytest.mark.postgres_only
def test_fifty_concurrent_submissions_store_exactly_one(live_server, client, care):
    url = f"{live_server}/v1/feedback-forms/{_token(_links(care)['in_clinic'])}"
    barrier = threading.Barrier(50)
    codes: list[int] = []

    def send() -> None:
        barrier.wait()
        codes.append(requests.post(url, json={"answers": answers()}, timeout=30).status_code)

    threads = [threading.Thread(target=send) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [201] + [409] * 49
    stored = client.get(
        f"/v1/sessions/{care['session']['id']}/feedback", headers=care["admin"].headers
    ).json["items"]
    assert len(stored) == 1
