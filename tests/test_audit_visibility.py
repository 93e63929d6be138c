"""The audit trail shows a reader only events about resources it may see: an integrator with
`audit.read` never learns the ids of safety alerts hidden from it, and a caseload-scoped reader
never sees events about another therapist's couples."""

from __future__ import annotations

import dataclasses

from tests.scenario import CoupleInCare, answers


def listed(client, caller, **filters: str) -> list[dict]:
    page = client.get(
        "/v1/audit-events", query_string={"limit": 200, **filters}, headers=caller.headers
    )
    assert page.status_code == 200, page.json
    return page.json["items"]


def resource_ids(client, caller, **filters: str) -> set[str]:
    return {event["resource_id"] for event in listed(client, caller, **filters)}


def test_an_integrator_never_sees_events_about_a_safety_alert_hidden_from_it(client, clinic):
    care = CoupleInCare(client, clinic)
    session_id = care.complete()["id"]
    for partner, safety in ((care.ana, True), (care.ben, False)):
        sent = client.post(
            f"/v1/sessions/{session_id}/feedback",
            headers=care.therapist.headers,
            json={"partner_id": partner, "answers": answers(2), "safety_concern": safety},
        )
        assert sent.status_code == 201, sent.json
    alerts = care.alerts()
    for alert in alerts:  # each read leaves an event naming the alert
        read = client.get(f"/v1/alerts/{alert['id']}", headers=care.admin.headers)
        assert read.status_code == 200
    hidden = {a["id"] for a in alerts if a["rule"] == "safety_concern"}
    shown = {a["id"] for a in alerts} - hidden
    assert hidden and shown

    integrator = clinic.integrator("audit.read")
    assert resource_ids(client, care.admin, resource_type="alert") >= hidden | shown
    seen = resource_ids(client, integrator, resource_type="alert")
    assert shown <= seen and not hidden & seen


def test_a_caseload_scoped_reader_sees_no_events_of_another_caseload(client, clinic):
    mine, theirs = clinic.staff("therapist"), clinic.staff("therapist")
    own = CoupleInCare(client, clinic, therapist=mine)
    other = CoupleInCare(client, clinic, therapist=theirs)
    for care in (own, other):  # each read leaves an event naming the couple or partner
        for path in (f"couples/{care.id}", f"partners/{care.ana}", f"partners/{care.ben}"):
            assert client.get(f"/v1/{path}", headers=care.admin.headers).status_code == 200
    # A therapist's token with audit.read (no role is given it today): its caseload still holds.
    reader = dataclasses.replace(
        mine, token=clinic.token_for(mine.id, "therapist", scopes=frozenset({"audit.read"}))
    )

    seen = resource_ids(client, reader)
    assert {own.id, own.ana, own.ben} <= seen
    assert not {other.id, other.ana, other.ben} & seen
    everything = resource_ids(client, own.admin)
    assert {other.id, other.ana, other.ben} <= everything
