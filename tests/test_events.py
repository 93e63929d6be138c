"""The events feed `GET /v1/events`: ordered, paged by cursor, per clinic, ids only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from service.core import context
from service.db import uow
from service.notifications import service as notifications
from tests.practice import new_couple, new_session
from tests.test_webhooks import drain, endpoint_at, private_ok, receiver  # noqa: F401 - fixtures


@pytest.fixture
def settled(monkeypatch):
    """List events at once (the 2-second settle delay has its own test)."""
    monkeypatch.setattr(notifications, "FEED_SETTLE", timedelta(0))


def emit(clinic_id, count: int, topic: str = "alert.updated") -> None:
    with context.tenant_context(clinic_id), uow.unit_of_work():
        for n in range(count):
            notifications.enqueue_event(topic, {"alert_id": f"alert-{n}", "n": n})


def feed(client, caller, query: str = ""):
    response = client.get(f"/v1/events{query}", headers=caller.headers)
    assert response.status_code == 200, response.json
    return response


def test_the_feed_is_ordered_and_pages_with_the_after_cursor(client, admin, clinic, settled):
    emit(clinic.id, 5)
    first = feed(client, admin, "?limit=2")
    assert [e["data"]["n"] for e in first.json["items"]] == [0, 1]
    assert first.json["has_more"] is True and 'rel="next"' in first.headers["Link"]
    second = feed(client, admin, f"?limit=2&after={first.json['next_cursor']}")
    third = feed(client, admin, f"?limit=2&after={second.json['next_cursor']}")
    assert [e["data"]["n"] for e in second.json["items"]] == [2, 3]
    assert [e["data"]["n"] for e in third.json["items"]] == [4]
    assert third.json["has_more"] is False and "Link" not in third.headers
    # At the end the cursor is still given: a reader polls with it and sees only what is new.
    cursor = third.json["next_cursor"]
    assert cursor is not None
    idle = feed(client, admin, f"?after={cursor}")
    assert idle.json["items"] == [] and idle.json["next_cursor"] == cursor
    emit(clinic.id, 1, "alert.resolved")
    new = feed(client, admin, f"?after={cursor}").json["items"]
    assert [e["type"] for e in new] == ["alert.resolved"]
    everything = feed(client, admin).json["items"]
    stamps = [e["timestamp"] for e in everything]
    assert stamps == sorted(stamps) and len({e["id"] for e in everything}) == 6


def test_recent_events_wait_two_seconds_so_late_commits_are_not_skipped(
    client, admin, clinic, travel
):
    emit(clinic.id, 1)
    assert feed(client, admin).json["items"] == []
    travel.advance(notifications.FEED_SETTLE + timedelta(milliseconds=200))
    assert len(feed(client, admin).json["items"]) == 1


def test_another_clinics_events_are_never_listed(client, admin, clinic, other_clinic, settled):
    emit(clinic.id, 2)
    emit(other_clinic.id, 3, "alert.created")
    mine = feed(client, admin).json["items"]
    assert len(mine) == 2 and {e["type"] for e in mine} == {"alert.updated"}
    theirs = feed(client, other_clinic.staff("admin")).json["items"]
    assert len(theirs) == 3 and {e["type"] for e in theirs} == {"alert.created"}
    # A cursor from one clinic does not reveal the other's rows either.
    cursor = feed(client, admin, "?limit=1").json["next_cursor"]
    after = feed(client, other_clinic.staff("admin"), f"?after={cursor}").json["items"]
    assert {e["type"] for e in after} <= {"alert.created"}


def test_bad_cursors_and_limits_are_400(client, admin):
    assert client.get("/v1/events?after=nonsense", headers=admin.headers).status_code == 400
    assert client.get("/v1/events?limit=0", headers=admin.headers).status_code == 400
    assert client.get("/v1/events?cursor=x", headers=admin.headers).status_code == 400


def test_the_scope_is_required(client, clinic):
    therapist = clinic.staff("therapist")
    assert client.get("/v1/events", headers=therapist.headers).status_code == 403
    integrator = clinic.integrator("webhooks.manage")
    assert client.get("/v1/events", headers=integrator.headers).status_code == 200


def test_real_changes_publish_ids_only_the_same_objects_webhooks_carry(
    client,
    admin,
    clinic,
    settled,
    private_ok,  # noqa: F811 - fixtures
    receiver,  # noqa: F811 - fixtures
):
    """Complete a session and submit worrying feedback: the feed shows session.completed,
    feedback.submitted and alert.created, with ids and no names, labels or answers; the
    webhook receiver gets byte-for-byte the same objects."""
    endpoint_at(
        client,
        admin,
        receiver,
        "/all",
        ["session.completed", "feedback.submitted", "alert.created"],
    )
    therapist = clinic.staff("therapist")
    couple = new_couple(
        client,
        admin,
        therapist.id,
        label="Zebulon-Quixote household",
        partners=[
            {"display_name": "Philippa Unlikelyname", "feedback_channel": "in_clinic"},
            {"display_name": "Bartholomew Rarename", "feedback_channel": "in_clinic"},
        ],
    )
    booked = new_session(client, admin, couple)
    done = client.post(f"/v1/sessions/{booked['id']}/complete", headers=admin.headers, json={})
    assert done.status_code == 200, done.json
    low = {
        key: 1
        for key in (
            "heard",
            "respect",
            "openness",
            "goals",
            "approach",
            "balance",
            "airtime",
            "confidence",
        )
    }
    answered = client.post(
        f"/v1/sessions/{booked['id']}/feedback",
        headers=admin.headers,
        json={
            "partner_id": couple["partners"][0]["id"],
            "answers": low,
            "comment": "Philippa feels unheard",
        },
    )
    assert answered.status_code == 201, answered.json
    items = feed(client, admin).json["items"]
    types = [e["type"] for e in items]
    assert types[:2] == ["session.completed", "feedback.submitted"]
    assert "alert.created" in types
    completed, submitted = items[0]["data"], items[1]["data"]
    assert completed == {"session_id": booked["id"], "couple_id": couple["id"]}
    assert submitted["session_id"] == booked["id"]
    assert submitted["partner_id"] == couple["partners"][0]["id"]
    assert set(submitted) == {"response_id", "session_id", "partner_id"}

    drain(clinic.id, private_ok)
    received = [json.loads(r.body) for r in receiver.at("/all")]
    assert all(r.verified for r in receiver.received)
    assert sorted(received, key=lambda e: e["id"]) == sorted(items, key=lambda e: e["id"])
    text = json.dumps(items) + "".join(r.body.decode() for r in receiver.received)
    for secret in (
        "Philippa",
        "Unlikelyname",
        "Bartholomew",
        "Zebulon",
        "unheard",
        '"answers"',
        '"total"',
        '"pct"',
    ):
        assert secret not in text
