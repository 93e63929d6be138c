"""Sessions: scheduling without double-booking, the state machine, time shares, filters."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.practice import PAST, new_couple, new_session


@pytest.fixture
def setting(clinic, client):
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    couple = new_couple(client, admin, therapist.id)
    return admin, therapist, couple


def _status(client, admin, session_id: str) -> str:
    return client.get(f"/v1/sessions/{session_id}", headers=admin.headers).json["status"]


def test_scheduling_defaults_to_the_couples_therapist(client, setting):
    admin, therapist, couple = setting
    booked = new_session(client, admin, couple, duration_minutes=60, modality="video")
    assert booked["therapist_id"] == str(therapist.id) and booked["status"] == "scheduled"
    assert booked["ends_at"] == "2026-01-05T11:00:00Z"


def test_double_booking_the_therapist_is_409_naming_the_clash(client, clinic, setting):
    admin, therapist, couple = setting
    first = new_session(client, admin, couple)
    other_couple = new_couple(client, admin, therapist.id, label="Another")
    clash = client.post(
        "/v1/sessions",
        headers=admin.headers,
        json={
            "couple_id": other_couple["id"],
            "starts_at": (PAST + timedelta(minutes=30)).isoformat(),
        },
    )
    assert clash.status_code == 409 and first["id"] in clash.json["detail"]
    after = new_session(client, admin, other_couple, starts_at=PAST + timedelta(minutes=50))
    assert after["status"] == "scheduled"  # back-to-back is fine
    client.post(f"/v1/sessions/{first['id']}/cancel", json={"reason": "Ill"}, headers=admin.headers)
    new_session(client, admin, other_couple, starts_at=PAST)  # a cancelled slot is free


def test_complete_with_time_shares(client, setting):
    admin, therapist, couple = setting
    booked = new_session(client, admin, couple)
    ana, ben = (p["id"] for p in couple["partners"])
    url = f"/v1/sessions/{booked['id']}/complete"
    for (shares,) in ([{ana: 60, ben: 30}],), ([{ana: 100}],), ([{ana: 50, "x": 50}],):
        response = client.post(url, json={"time_share": shares}, headers=therapist.headers)
        assert response.status_code == 422 and "time_share" in response.json["errors"]
        assert _status(client, admin, booked["id"]) == "scheduled"
    done = client.post(url, json={"time_share": {ana: 65, ben: 35}}, headers=therapist.headers)
    assert done.status_code == 200 and done.json["status"] == "completed"
    assert done.json["time_shares"] == {ana: 65, ben: 35}
    assert client.post(url, json={}, headers=therapist.headers).status_code == 409


def test_invalid_transitions_are_409_and_change_nothing(client, setting):
    admin, _, couple = setting
    booked = new_session(client, admin, couple)
    sid = booked["id"]
    assert (
        client.post(
            f"/v1/sessions/{sid}/cancel", json={"reason": "Snow"}, headers=admin.headers
        ).json["cancel_reason"]
        == "Snow"
    )
    for action, body in (("complete", {}), ("no-show", None), ("cancel", {"reason": "x"})):
        response = client.post(f"/v1/sessions/{sid}/{action}", json=body, headers=admin.headers)
        assert response.status_code == 409, (action, response.json)
        assert response.mimetype == "application/problem+json"
    assert _status(client, admin, sid) == "cancelled"
    assert (
        client.patch(
            f"/v1/sessions/{sid}", json={"duration_minutes": 30}, headers=admin.headers
        ).status_code
        == 409
    )


def test_a_future_session_cannot_be_completed(client, setting):
    admin, _, couple = setting
    future = new_session(client, admin, couple, starts_at=datetime.now(UTC) + timedelta(days=2))
    response = client.post(f"/v1/sessions/{future['id']}/complete", json={}, headers=admin.headers)
    assert response.status_code == 409
    assert _status(client, admin, future["id"]) == "scheduled"


def test_no_show(client, setting):
    admin, _, couple = setting
    booked = new_session(client, admin, couple)
    response = client.post(f"/v1/sessions/{booked['id']}/no-show", headers=admin.headers)
    assert response.json["status"] == "no_show"


def test_reschedule_checks_the_clash_and_the_etag(client, setting):
    admin, _, couple = setting
    first = new_session(client, admin, couple)
    second = new_session(client, admin, couple, starts_at=PAST + timedelta(hours=2))
    url = f"/v1/sessions/{second['id']}"
    clash = client.patch(url, json={"starts_at": PAST.isoformat()}, headers=admin.headers)
    assert clash.status_code == 409 and first["id"] in clash.json["detail"]
    moved = client.patch(
        url,
        json={"starts_at": (PAST + timedelta(hours=3)).isoformat()},
        headers={**admin.headers, "If-Match": '"1"'},
    )
    assert moved.status_code == 200 and moved.json["starts_at"].startswith("2026-01-05T13:00")
    stale = client.patch(
        url, json={"duration_minutes": 30}, headers={**admin.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412


def test_date_filters_use_the_clinics_timezone(client, make_clinic):
    clinic = make_clinic(timezone="America/New_York")
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    couple = new_couple(client, admin, therapist.id)
    # 03:00 UTC on 2 March is 22:00 on 1 March in New York.
    late = new_session(client, admin, couple, starts_at=datetime(2026, 3, 2, 3, 0, tzinfo=UTC))

    def ids(query: str) -> list[str]:
        response = client.get(f"/v1/sessions?{query}", headers=admin.headers)
        assert response.status_code == 200, response.json
        return [s["id"] for s in response.json["items"]]

    assert ids("from=2026-03-01&to=2026-03-01") == [late["id"]]
    assert ids("from=2026-03-02") == []
    assert ids("from=2026-03-02T02:00:00Z&to=2026-03-02T04:00:00Z") == [late["id"]]
    assert ids(f"couple_id={couple['id']}&status=scheduled") == [late["id"]]
    bad = client.get("/v1/sessions?from=yesterday", headers=admin.headers)
    assert bad.status_code == 400 and "from" in bad.json["errors"]


def test_therapists_see_only_sessions_of_their_caseload(client, clinic, setting):
    admin, therapist, couple = setting
    booked = new_session(client, admin, couple)
    stranger = clinic.staff("therapist")
    assert client.get(f"/v1/sessions/{booked['id']}", headers=stranger.headers).status_code == 404
    assert client.get("/v1/sessions", headers=stranger.headers).json["items"] == []
    mine = client.get("/v1/sessions", headers=therapist.headers).json["items"]
    assert [s["id"] for s in mine] == [booked["id"]]


def _concurrently(calls) -> list[requests.Response]:
    barrier = threading.Barrier(len(calls))
    results: list[requests.Response] = []

    def run(call) -> None:
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres_only
def test_two_concurrent_requests_with_one_idempotency_key_create_one_session(
    live_server, client, setting
):
    admin, _, couple = setting
    body = {"couple_id": couple["id"], "starts_at": PAST.isoformat()}
    headers = {**admin.headers, "Idempotency-Key": "session-once-0001"}
    results = _concurrently(
        [
            lambda: requests.post(
                f"{live_server}/v1/sessions", json=body, headers=headers, timeout=10
            )
            for _ in range(2)
        ]
    )
    assert sorted(r.status_code for r in results) in ([201, 201], [201, 409])
    created = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(created) == 1
    listed = client.get(f"/v1/sessions?couple_id={couple['id']}", headers=admin.headers)
    assert len(listed.json["items"]) == 1
    replay = requests.post(f"{live_server}/v1/sessions", json=body, headers=headers, timeout=10)
    assert replay.status_code == 201 and replay.json()["id"] in created
    other_body = {**body, "duration_minutes": 30}
    reused = requests.post(
        f"{live_server}/v1/sessions", json=other_body, headers=headers, timeout=10
    )
    assert reused.status_code == 422


@pytest.mark.postgres_only
def test_concurrent_bookings_of_one_slot_book_it_once(live_server, client, clinic, setting):
    admin, therapist, _ = setting
    couples = [new_couple(client, admin, therapist.id, label=f"C{n}") for n in range(4)]
    results = _concurrently(
        [
            lambda c=c: requests.post(
                f"{live_server}/v1/sessions",
                headers=admin.headers,
                timeout=10,
                json={"couple_id": c["id"], "starts_at": PAST.isoformat()},
            )
            for c in couples
        ]
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]
    booked = client.get(f"/v1/sessions?therapist_id={therapist.id}", headers=admin.headers)
    assert len(booked.json["items"]) == 1


def test_a_clash_with_another_caseloads_session_names_nothing_of_it(client, clinic, setting):
    admin, therapist, couple = setting
    colleague = clinic.staff("therapist")
    theirs = new_session(
        client, admin, new_couple(client, admin, colleague.id), therapist_id=str(colleague.id)
    )
    clash = client.post(
        "/v1/sessions",
        headers=therapist.headers,
        json={
            "couple_id": couple["id"],
            "therapist_id": str(colleague.id),
            "starts_at": PAST.isoformat(),
        },
    )
    assert clash.status_code == 409 and "starts_at" in clash.json["errors"]
    assert theirs["id"] not in str(clash.json) and "10:00" not in str(clash.json)
