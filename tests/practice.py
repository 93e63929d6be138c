"""Helpers to build couples and sessions through the API, as a clinic frontend would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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


def new_session(client, caller, couple: dict[str, Any], starts_at: datetime = PAST,
                **fields: Any) -> dict[str, Any]:
    body = {"couple_id": couple["id"], "starts_at": starts_at.isoformat(), **fields}
    response = client.post("/v1/sessions", json=body, headers=caller.headers)
    assert response.status_code == 201, response.json
    return response.json


def weekly(start: datetime, count: int) -> list[datetime]:
    return [start + timedelta(weeks=n) for n in range(count)]
