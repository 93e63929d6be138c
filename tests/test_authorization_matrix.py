"""Every endpoint in the OpenAPI document, checked for who may call it.

The endpoints are enumerated from the spec, so a new endpoint is covered the moment it exists:
- anonymous → 401 with `WWW-Authenticate: Bearer` (unless documented as public);
- every caller whose token lacks a required scope (or role) → 403;
- a fully-privileged caller of another clinic, on this clinic's ids → 404.
An endpoint with a path parameter needs a way to make a resource of clinic A (RESOURCES
below); a missing entry fails the test, which is the point.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from service.ops.openapi import render
from service.staff.policy import CLINIC_SCOPES, PLATFORM_SCOPE
from tests.fixtures import create_clinic, make_client

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class World:
    """Clinic A with one caller of every kind, and clinic B's admin."""

    clinic: Any
    callers: dict[str, Any]
    intruder: Any
    made: dict[str, Any]
    outsider: Any = None  # a therapist of the same clinic, not assigned to the couple


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in sorted(spec["paths"].items())
        for method, operation in item.items()
        # The OAuth endpoints authenticate clients their own way (test_oauth_flows.py).
        if method in METHODS and "oauth" not in operation.get("tags", [])
    ]


SPEC_OPERATIONS: list[tuple[str, str, dict[str, Any]]] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "operation" in metafunc.fixturenames:
        from service import create_app
        from service.settings import Settings

        spec = json.loads(render(create_app(Settings(env="development", log_level="WARNING"))))
        ops = _operations(spec)
        metafunc.parametrize("operation", ops, ids=[f"{m} {p}" for m, p, _ in ops])


# How to make a resource of clinic A for each path parameter name.
RESOURCES: dict[str, Callable[[World], str]] = {
    "staff_id": lambda w: str(w.callers["therapist"].id),
    "client_id": lambda w: w.made["client_uuid"],
    "clinic_id": lambda w: str(w.clinic.id),
    "slug": lambda w: w.clinic.slug,
    "couple_id": lambda w: w.made["couple"]["id"],
    "partner_id": lambda w: w.made["couple"]["partners"][0]["id"],
    "session_id": lambda w: w.made["session"]["id"],
    "instrument_id": lambda w: w.made["instrument"]["id"],
    "endpoint_id": lambda w: w.made["endpoint"]["id"],
    "delivery_id": lambda w: w.made["delivery_id"],
    "alert_id": lambda w: w.made["alert"]["id"],
    "message_id": lambda w: w.made["dead_message_id"],
    "token": lambda w: w.made["session"]["feedback_links"][0]["url"].rsplit("/", 1)[1],
}


@pytest.fixture(scope="module")
def world(app, settings) -> World:
    """Built once per module: the checks only read, so they can share it."""
    clinic = create_clinic(settings.token_issuer)
    admin = clinic.staff("admin")
    callers = {
        "admin": admin,
        "supervisor": clinic.staff("supervisor"),
        "therapist": clinic.staff("therapist"),
        "integrator-all": clinic.integrator(*CLINIC_SCOPES),
        "integrator-none": clinic.integrator(),
        "platform": make_client(
            settings.token_issuer, clinic_id=None, scopes=(PLATFORM_SCOPE,), kind="platform"
        ),
    }
    intruder_clinic = create_clinic(settings.token_issuer)
    intruder = intruder_clinic.staff("admin")
    made: dict[str, Any] = {}
    response = app.test_client().post(
        "/v1/clients",
        headers=admin.headers,
        json={
            "name": "Matrix EHR",
            "scopes": ["couples.read"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    if response.status_code == 201:
        made["client_uuid"] = response.json["id"]
    made["couple"] = (
        app.test_client()
        .post(
            "/v1/couples",
            headers=admin.headers,
            json={
                "label": "Matrix couple",
                "therapist_id": str(callers["therapist"].id),
                "partners": [
                    {"display_name": "Ana", "feedback_channel": "in_clinic"},
                    {"display_name": "Ben", "feedback_channel": "in_clinic"},
                ],
            },
        )
        .json
    )
    booked = (
        app.test_client()
        .post(
            "/v1/sessions",
            headers=admin.headers,
            json={"couple_id": made["couple"]["id"], "starts_at": "2026-01-05T10:00:00Z"},
        )
        .json
    )
    made["session"] = (
        app.test_client()
        .post(f"/v1/sessions/{booked['id']}/complete", headers=admin.headers, json={})
        .json
    )
    low = {
        key: 5
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
    app.test_client().post(
        f"/v1/sessions/{booked['id']}/feedback",
        headers=admin.headers,
        json={"partner_id": made["couple"]["partners"][1]["id"], "answers": low},
    )
    made["alert"] = (
        app.test_client()
        .get(f"/v1/alerts?couple_id={made['couple']['id']}", headers=admin.headers)
        .json["items"][0]
    )
    made["instrument"] = (
        app.test_client()
        .post(
            "/v1/instruments",
            headers=admin.headers,
            json={
                "key": "matrix-check",
                "kind": "outcome",
                "title": {"en": "Check"},
                "items": [{"key": "q1", "text": {"en": "How are you?"}, "min": 0, "max": 4}],
            },
        )
        .json
    )
    made["endpoint"], made["delivery_id"] = _webhook_endpoint(app, admin)
    made["dead_message_id"] = made["delivery_id"]  # the outbox API sees the same dead row
    return World(clinic, callers, intruder, made, outsider=clinic.staff("therapist"))


def _webhook_endpoint(app, admin) -> tuple[dict[str, Any], str]:
    """An endpoint (disabled: no worker ever sends to it) and a dead delivery in its log."""
    from service.core import context
    from service.db import uow
    from service.notifications.models import OutboxMessage

    client = app.test_client()
    endpoint = client.post(
        "/v1/webhook-endpoints",
        headers=admin.headers,
        json={"url": "https://93.184.216.34/matrix", "events": ["alert.created"]},
    ).json
    client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}", headers=admin.headers, json={"enabled": False}
    )
    with context.tenant_context(admin.clinic_id), uow.unit_of_work() as session:
        delivery = OutboxMessage(
            channel="webhook",
            topic="alert.created",
            recipient=endpoint["id"],
            payload={},
            status="dead",
        )
        session.add(delivery)
        session.flush()
        delivery_id = str(delivery.id)
    return endpoint, delivery_id


def _url(path: str, world: World) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in RESOURCES:
            pytest.fail(f"tests/test_authorization_matrix.py: add RESOURCES[{name!r}]")
        return RESOURCES[name](world)

    return re.sub(r"\{(\w+)\}", fill, path)


def _allowed(operation: dict[str, Any], caller: Any) -> bool:
    required = set(operation["security"][0]["oauth2"]) if operation.get("security") else set()
    roles = set(operation.get("x-roles", []))
    claims = _claims(caller.token)
    has_role = not roles or bool(roles & set(claims.get("roles", [])))
    return required <= set(claims.get("scope", "").split()) and has_role


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# Bodies for operations whose required fields are checked before the resource is looked up.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/sessions/{session_id}/cancel"): {"reason": "Unwell"},
    ("POST", "/v1/alerts/{alert_id}/snooze"): {"until": "2099-01-01T00:00:00Z"},
    ("POST", "/v1/staff/{staff_id}/totp/confirm"): {"code": "123456"},
    ("POST", "/v1/staff/{staff_id}/totp/disable"): {"code": "123456"},
    ("POST", "/v1/sessions/{session_id}/feedback"): {
        "partner_id": "00000000-0000-4000-8000-000000000000",
        "answers": {},
    },
}


def _call(client, method: str, path: str, world: World, headers: dict[str, str]):
    body = BODIES.get((method, path), {}) if method in {"POST", "PUT", "PATCH"} else None
    return client.open(_url(path, world), method=method, headers=headers, json=body)


def test_anonymous_is_401_unless_public(client, world, operation):
    method, path, spec = operation
    response = _call(client, method, path, world, {})
    if spec.get("security") == []:
        assert response.status_code != 401
        return
    assert response.status_code == 401, response.json
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.mimetype == "application/problem+json"


def test_callers_without_the_scope_or_role_get_403(client, world, operation):
    method, path, spec = operation
    if spec.get("security") == []:
        pytest.skip("public endpoint")
    refused = [name for name, caller in world.callers.items() if not _allowed(spec, caller)]
    assert refused, "some kind of caller must be refused"
    for name in refused:
        response = _call(client, method, path, world, world.callers[name].headers)
        assert response.status_code == 403, (name, response.status_code, response.json)


def test_another_clinic_gets_404_on_this_clinics_ids(client, world, operation):
    method, path, spec = operation
    if "{" not in path or spec.get("security") == [] or "platform" in str(spec.get("security")):
        pytest.skip("no clinic-owned id in the path")
    response = _call(client, method, path, world, world.intruder.headers)
    assert response.status_code == 404, response.json


CASELOAD_PARAMS = ("{couple_id}", "{partner_id}", "{session_id}")


def test_a_therapist_outside_the_caseload_gets_404(client, world, operation):
    method, path, spec = operation
    if not any(param in path for param in CASELOAD_PARAMS):
        pytest.skip("not a caseload resource")
    if not _allowed(spec, world.outsider):
        pytest.skip("therapists may not call this at all (403, tested above)")
    response = _call(client, method, path, world, world.outsider.headers)
    assert response.status_code == 404, response.json
