"""Helpers to build couples and sessions through the API, as a clinic frontend would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from service.core import context
from service.couples import service as couples
from service.db import uow

PAST = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def new_couple(client, caller, therapist_id, **fields: Any) -> dict[str, Any]:
    body = {
        "label": fields.pop("label", "The Riveras"),
        "therapist_id": str(therapist_id),
        "partners": fields.pop("partners", [{"display_name": "Ana"}, {"display_name": "Ben"}]),
        **fields,
    }
    response = client.post("/v1/couples", json=body, headers=caller.headers)
    assert response.status_code == 201, response.json
    return response.json


IN_CLINIC_PAIR = [
    {"display_name": "Ana Lima", "feedback_channel": "in_clinic"},
    {"display_name": "Ben Okoro", "feedback_channel": "in_clinic"},
]


def complete(client, caller, booked: dict[str, Any]) -> list[dict[str, Any]]:
    """Complete a session; the partners' feedback links it issued."""
    response = client.post(f"/v1/sessions/{booked['id']}/complete", json={}, headers=caller.headers)
    assert response.status_code == 200, response.json
    return response.json["feedback_links"]


def new_session(
    client, caller, couple: dict[str, Any], starts_at: datetime = PAST, **fields: Any
) -> dict[str, Any]:
    body = {"couple_id": couple["id"], "starts_at": starts_at.isoformat(), **fields}
    response = client.post("/v1/sessions", json=body, headers=caller.headers)
    assert response.status_code == 201, response.json
    return response.json


def weekly(start: datetime, count: int) -> list[datetime]:
    return [start + timedelta(weeks=n) for n in range(count)]


def seed_couples(clinic_id: uuid.UUID, therapist_id: uuid.UUID, count: int) -> None:
    """Many couples at once, through the same use-case the API calls (one transaction)."""
    with context.tenant_context(clinic_id), uow.unit_of_work():
        for n in range(count):
            couples.create(
                {
                    "label": f"Couple {n}",
                    "therapist_id": therapist_id,
                    "status": "active",
                    "partners": [
                        {
                            "display_name": "A",
                            "feedback_channel": "email",
                            "identifiers": [{"system": "urn:ehr", "value": f"{n}-a"}],
                        },
                        {"display_name": "B", "feedback_channel": "email"},
                    ],
                }
            )
