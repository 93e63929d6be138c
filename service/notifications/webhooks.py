"""Webhooks: Standard Webhooks signing, the target guard (SSRF), fan-out and delivery.

The worker calls `deliver(message, settings)` for every due outbox row of channel `webhook`:
- recipient `*` is an event: it becomes one row per enabled endpoint subscribed to the topic;
- otherwise the recipient is an endpoint id and the event is POSTed to it, signed.

Signing follows https://www.standardwebhooks.com: `webhook-id` (the outbox row id: stable
across retries, so receivers dedupe on it), `webhook-timestamp` (unix seconds) and
`webhook-signature` = `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed with the
base64-decoded `whsec_` secret. During a rotation both secrets sign (space-separated).

Targets must be HTTPS and public. Hostnames are resolved and every address checked, at save
time and again before each delivery; the connection itself also checks the address it
actually reached, so a name re-pointed between the check and the connect (DNS rebinding) is
refused too. `webhook_allow_private` (operator setting) lifts this, and then allows plain
http as well.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from service.core.clock import utcnow
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
TIMEOUT_SECONDS = 10
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


# -- the target guard -------------------------------------------------------------------------


class UnsafeTarget(ValueError):
    """The URL may not be used as a webhook target; the message says why (safe to show)."""


def refused_address(address: str) -> str | None:
    """Why this IP address is not a public target, or None if it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for reason, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if hit:
            return reason
    if not ip.is_global:  # shared (100.64/10), documentation ranges, unique-local ...
        return "not public"
    return None


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse anything but an HTTPS URL whose host resolves only to public addresses.

    With `allow_private` (operator setting) private targets and plain http are allowed.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget("Not a valid URL.") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeTarget("Use an https:// URL with a host name.")
    if parts.scheme == "http" and not allow_private:
        raise UnsafeTarget("Use https://; plain http is not allowed for webhooks.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("Credentials in the URL are not allowed; verify signatures instead.")
    if allow_private:
        return
    for address in _resolve(parts.hostname, port or 443):
        reason = refused_address(address)
        if reason:
            raise UnsafeTarget(
                f"The host resolves to a {reason} address ({address}); webhook targets must be "
                "public."
            )


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"The host name {host!r} does not resolve.") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise UnsafeTarget(f"The host name {host!r} does not resolve.")
    return addresses


class _RefusedPeer(Exception):
    """Not an OSError on purpose: urllib3 must not retry it or wrap it."""


def _guarded(connection_class: type) -> type:
    class Guarded(connection_class):  # type: ignore[misc, valid-type]
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            reason = refused_address(sock.getpeername()[0])
            if reason:
                sock.close()
                raise _RefusedPeer(f"connected to a {reason} address")
            return sock

    return Guarded


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _guarded(HTTPConnection)


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _guarded(HTTPSConnection)


class _GuardedAdapter(HTTPAdapter):
    """Checks the address each connection actually reached (closes the DNS rebinding gap)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def _http(allow_private: bool) -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # no proxies from the environment: they would reach anywhere
    if not allow_private:
        http.mount("http://", _GuardedAdapter())
        http.mount("https://", _GuardedAdapter())
    return http


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
    return Outcome(ok=True)


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
        with _http(allow_private) as http:
            response = http.post(
                endpoint.url,
                data=body.encode(),
                headers=headers,
                timeout=TIMEOUT_SECONDS,
                allow_redirects=False,
            )
            status = response.status_code
            response.close()
    except _RefusedPeer as exc:
        return _failed(endpoint, now, f"refused target: {exc}")
    except requests.Timeout:
        message.latency_ms = _elapsed(started)
        return _failed(endpoint, now, "timeout", latency_ms=message.latency_ms)
    except requests.RequestException as exc:
        message.latency_ms = _elapsed(started)
        return _failed(endpoint, now, f"connection failed: {type(exc).__name__}",
                       latency_ms=message.latency_ms)
    message.response_status = status
    message.latency_ms = latency = _elapsed(started)
    if 200 <= status < 300:
        endpoint.failing_since = None
        return Outcome(ok=True, response_status=status, latency_ms=latency)
    if status == 410:
        _disable(endpoint, "The receiver answered 410 Gone.")
        return Outcome(ok=False, permanent=True, error="HTTP 410", response_status=status,
                       latency_ms=latency)
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
        return Outcome(ok=False, permanent=True, error=error, response_status=response_status,
                       latency_ms=latency_ms)
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
