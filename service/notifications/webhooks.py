"""Webhooks: Standard Webhooks signing, the target guard (SSRF), fan-out and delivery.

The worker calls `deliver(message, settings)` for every due outbox row of channel `webhook`:
- recipient `*` is an event: it becomes one row per enabled endpoint subscribed to the topic;
- otherwise the recipient is an endpoint id and the event is POSTed to it, signed.

Signing follows https://www.standardwebhooks.com: `webhook-id` (the outbox row id: stable
across retries, so receivers dedupe on it), `webhook-timestamp` (unix seconds) and
`webhook-signature` = `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed with the
base64-decoded `whsec_` secret. During a rotation both secrets sign (space-separated).

Targets must be HTTPS and public (service.core.outbound), checked at save time and again
before each delivery. `webhook_allow_private` (operator setting) lifts this, and then allows
plain http as well.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import sqlalchemy as sa

from service.core import outbound
from service.core.clock import utcnow
from service.core.outbound import RefusedPeer, UnsafeTarget, check_url
from service.db import uow
from service.notifications.delivery import Outcome
from service.notifications.models import Event, OutboxMessage, WebhookEndpoint

TOPICS = (
    "session.completed",
    "feedback.submitted",
    "alert.created",
    "alert.updated",
    "alert.resolved",
    "couple.updated",
)
TIMEOUT_SECONDS = 10  # the whole delivery: connect, send, the receiver's status line and headers
ROTATION_OVERLAP = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=3)  # failing continuously this long disables the endpoint
SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
USER_AGENT = "Alliance-Webhooks/1"


# -- secrets and signatures -------------------------------------------------------------------


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes (the Standard Webhooks secret format)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, and the previous one while its overlap window lasts."""
    keys = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until is not None
        and now < endpoint.previous_secret_until
    ):
        keys.append(endpoint.previous_secret)
    return keys


def signed_headers(
    endpoint: WebhookEndpoint, msg_id: str, body: str, now: datetime
) -> dict[str, str]:
    timestamp = int(now.timestamp())
    keys = signing_secrets(endpoint, now)
    signatures = " ".join(sign(key, msg_id, timestamp, body) for key in keys)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


# -- fan-out and delivery ---------------------------------------------------------------------


def deliver(message: OutboxMessage, settings: Any) -> Outcome:
    """Deliver one webhook outbox row (the worker commits, and records the outcome)."""
    if message.recipient == "*":
        return fan_out(message)
    return send(message, allow_private=bool(getattr(settings, "webhook_allow_private", False)))


def fan_out(message: OutboxMessage) -> Outcome:
    """One delivery row per enabled endpoint of the clinic subscribed to the topic."""
    session = uow.session()
    endpoints = session.scalars(
        sa.select(WebhookEndpoint)
        .where(WebhookEndpoint.clinic_id == message.clinic_id, WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    for endpoint in endpoints:
        if message.topic in (endpoint.events or ()):
            session.add(
                OutboxMessage(
                    clinic_id=message.clinic_id,
                    channel="webhook",
                    topic=message.topic,
                    recipient=str(endpoint.id),
                    payload=dict(message.payload or {}),
                )
            )
    return Outcome(ok=True, fanned_out=True)


def body_for(message: OutboxMessage) -> dict[str, Any]:
    """`{"id", "type", "timestamp", "data"}`: the same object the events feed lists."""
    payload = dict(message.payload or {})
    event_id = payload.pop("event_id", None)
    payload.pop("type", None)
    event = _event(event_id)
    if event is not None:
        return event_item(event)
    return {
        "id": event_id,
        "type": message.topic,
        "timestamp": _iso(message.created_at or utcnow()),
        "data": payload,
    }


def event_item(event: Event) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "type": event.topic,
        "timestamp": _iso(event.created_at),
        "data": event.payload,
    }


def send(message: OutboxMessage, *, allow_private: bool) -> Outcome:
    endpoint = _endpoint(message.recipient)
    if endpoint is None:
        return Outcome(ok=False, permanent=True, error="endpoint deleted")
    if not endpoint.enabled:
        return Outcome(ok=False, permanent=True, error="endpoint disabled")
    now = utcnow()
    try:
        check_url(endpoint.url, allow_private=allow_private)
    except UnsafeTarget as exc:  # DNS may have changed since the endpoint was saved
        return _failed(endpoint, now, f"refused target: {exc}"[:200])
    body = json.dumps(body_for(message), separators=(",", ":"), ensure_ascii=False)
    headers = signed_headers(endpoint, str(message.id), body, now)
    started = time.monotonic()
    try:
        status = outbound.call(
            "POST",
            endpoint.url,
            allow_private=allow_private,
            deadline=TIMEOUT_SECONDS,
            max_body=0,  # the status says it all; a receiver's body is never read
            data=body.encode(),
            headers=headers,
        ).status
    except RefusedPeer as exc:
        return _failed(endpoint, now, f"refused target: {exc}")
    except requests.Timeout:
        message.latency_ms = _elapsed(started)
        return _failed(endpoint, now, "timeout", latency_ms=message.latency_ms)
    except requests.RequestException as exc:
        message.latency_ms = _elapsed(started)
        return _failed(
            endpoint, now, f"connection failed: {type(exc).__name__}", latency_ms=message.latency_ms
        )
    message.response_status = status
    message.latency_ms = latency = _elapsed(started)
    if 200 <= status < 300:
        endpoint.failing_since = None
        return Outcome(ok=True, response_status=status, latency_ms=latency)
    if status == 410:
        _disable(endpoint, "The receiver answered 410 Gone.")
        return Outcome(
            ok=False, permanent=True, error="HTTP 410", response_status=status, latency_ms=latency
        )
    return _failed(endpoint, now, f"HTTP {status}", response_status=status, latency_ms=latency)


def _failed(
    endpoint: WebhookEndpoint,
    now: datetime,
    error: str,
    *,
    response_status: int | None = None,
    latency_ms: int | None = None,
) -> Outcome:
    """A temporary failure, unless the endpoint has been failing for `DISABLE_AFTER`."""
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    elif now - endpoint.failing_since >= DISABLE_AFTER:
        _disable(endpoint, "Deliveries failed continuously for 3 days.")
        return Outcome(
            ok=False,
            permanent=True,
            error=error,
            response_status=response_status,
            latency_ms=latency_ms,
        )
    return Outcome(ok=False, error=error, response_status=response_status, latency_ms=latency_ms)


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = reason


def _endpoint(recipient: str) -> WebhookEndpoint | None:
    try:
        endpoint_id = uuid.UUID(recipient)
    except ValueError:
        return None
    return uow.session().get(WebhookEndpoint, endpoint_id)


def _event(event_id: Any) -> Event | None:
    if not event_id:
        return None
    with contextlib.suppress(ValueError, TypeError):
        return uow.session().get(Event, uuid.UUID(str(event_id)))
    return None


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
