"""Write outbox messages in the caller's transaction; delivery is the worker's job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.core import outbound
from service.core.clock import utcnow
from service.core.errors import Conflict, Invalid, NotFound
from service.core.ids import new_id
from service.core.paging import Key, Page, PageRequest
from service.db import audit, uow
from service.db.keyset import keyset_page
from service.db.lookup import Lookup
from service.notifications import email, webhooks
from service.notifications.models import Event, OutboxMessage, WebhookEndpoint

# Delivery records and endpoints hold no one's data (ids, statuses): not audited.
OUTBOX = Lookup(OutboxMessage, "outbox_message", "Message not found.")
ENDPOINTS = Lookup(WebhookEndpoint, "webhook_endpoint", "Webhook endpoint not found.")


def enqueue_email(
    *,
    topic: str,
    to: str,
    template: str,
    values: dict[str, Any],
    meta: dict[str, Any] | None = None,
    clinic_id: uuid.UUID | None = None,
    not_before: datetime | None = None,
    locale: str | None = None,
) -> OutboxMessage:
    """The one way an email leaves: an outbox row in the caller's transaction, naming its
    template (service/notifications/templates/email), values and the language to write in
    (`locale`, English when absent); the worker renders and sends it, not before
    `not_before`. The values (links, names) are sealed and purged once sent; `meta` stays
    readable, for the delivery log and the callers' own policy (ids only, never shown to the
    recipient)."""
    payload = {**(meta or {}), "template": template}
    if locale:
        payload["locale"] = locale
    message = OutboxMessage(
        clinic_id=clinic_id,
        channel="email",
        topic=topic,
        recipient=to,
        payload=payload,
        content=values,
        next_attempt_at=not_before or utcnow(),
    )
    uow.session().add(message)
    return message


def last_email_meta(clinic_id: uuid.UUID, topic: str, recipient: str) -> dict[str, Any]:
    """The `meta` of the latest email of this topic to this recipient ({} if none)."""
    payload = uow.session().scalar(
        sa.select(OutboxMessage.payload)
        .where(
            OutboxMessage.clinic_id == clinic_id,
            OutboxMessage.topic == topic,
            OutboxMessage.recipient == recipient,
        )
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(1)
    )
    return dict(payload or {})


def enqueue_event(
    topic: str, payload: dict, *, clinic_id: uuid.UUID | None = None
) -> OutboxMessage:
    """A change event, in the caller's transaction: a row of the events feed, and an outbox
    row the worker fans out to the subscribed webhook endpoints. Payloads carry ids, never
    PHI; receivers and feed readers dedupe on `event_id`. `clinic_id` names the clinic where
    there is no clinic in context (a job across clinics)."""
    session = uow.session()
    event = Event(id=new_id(), clinic_id=clinic_id, topic=topic, payload=payload)
    session.add(event)
    message = OutboxMessage(
        clinic_id=clinic_id,
        channel="webhook",
        topic=topic,
        recipient="*",
        payload={**payload, "event_id": str(event.id), "type": topic},
        content=None,  # set as an email's are: one INSERT carries both kinds
        next_attempt_at=utcnow(),
    )
    session.add(message)
    return message


def list_outbox(
    page: PageRequest, *, status: str | None = None, channel: str | None = None
) -> Page[OutboxMessage]:
    """The clinic's outbox, for operators: find dead messages, see their last error."""
    stmt = OUTBOX.query()
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    if channel:
        stmt = stmt.where(OutboxMessage.channel == channel)
    return OUTBOX.page(stmt, page, audited=False)


CHANNELS = ("email", "webhook")  # as the outbox_messages channel check constraint allows


@dataclass(frozen=True)
class Backlog:
    channel: str
    depth: int  # messages not yet delivered (waiting, or between retries)
    oldest_created_at: datetime | None  # None when there are none


def backlog() -> list[Backlog]:
    """Undelivered messages per channel, across every clinic: one aggregate statement, for
    the metrics scrape (the caller opens the system context)."""
    rows = uow.session().execute(
        sa.select(OutboxMessage.channel, sa.func.count(), sa.func.min(OutboxMessage.created_at))
        .where(OutboxMessage.status == "pending")
        .group_by(OutboxMessage.channel)
    )
    found = {channel: (depth, oldest) for channel, depth, oldest in rows}
    return [Backlog(channel, *found.get(channel, (0, None))) for channel in CHANNELS]


def redrive(message_id: uuid.UUID | None = None) -> int:
    """Dead messages (one, or all of the clinic's) go back to the queue, due now."""
    stmt = sa.update(OutboxMessage).where(OutboxMessage.status == "dead")
    if message_id is not None:
        stmt = stmt.where(OutboxMessage.id == message_id)
    result = uow.session().execute(
        stmt.values(status="pending", next_attempt_at=utcnow(), lease_until=None)
    )
    if message_id is not None and not result.rowcount:
        raise NotFound("No dead message with this id.")
    audit.record("redrive", "outbox_message", message_id)
    return result.rowcount or 0


def forget_emails_about(partner_id: uuid.UUID, address: str | None, mail_dir: str) -> int:
    """Erasure: every email to this address or about this partner, sent or not, goes from
    the outbox (its row names the address), and so do the mail folder's copies."""
    about = OutboxMessage.payload["partner_id"].as_string() == str(partner_id)
    to = OutboxMessage.recipient == address if address else sa.false()
    forgotten = (
        uow.session()
        .scalars(
            sa.delete(OutboxMessage)
            .where(OutboxMessage.channel == "email", sa.or_(about, to))
            .returning(OutboxMessage.id)
        )
        .all()
    )
    email.forget_copies(forgotten, mail_dir)
    return len(forgotten)


# -- webhook endpoints (`/v1/webhook-endpoints`) ------------------------------------------------


def create_endpoint(data: dict[str, Any], *, allow_private: bool) -> WebhookEndpoint:
    """A new endpoint with a fresh secret: the caller shows `secret` once, never again."""
    _check_target(data["url"], allow_private)
    endpoint = WebhookEndpoint(
        url=data["url"],
        events=_topics(data["events"]),
        description=data.get("description"),
        secret=webhooks.new_secret(),
    )
    uow.session().add(endpoint)
    uow.session().flush()
    audit.record("create", "webhook_endpoint", endpoint.id)
    return endpoint


def list_endpoints(page: PageRequest) -> Page[WebhookEndpoint]:
    return ENDPOINTS.page(ENDPOINTS.query(), page, audited=False)


def get_endpoint(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    return ENDPOINTS.get(endpoint_id, audited=False)


def update_endpoint(
    endpoint_id: uuid.UUID, changes: dict[str, Any], check_version: Any, *, allow_private: bool
) -> WebhookEndpoint:
    endpoint = get_endpoint(endpoint_id)
    check_version(endpoint.version)
    if "url" in changes:
        _check_target(changes["url"], allow_private)
    if "events" in changes:
        changes["events"] = _topics(changes["events"])
    if changes.get("enabled") and not endpoint.enabled:  # re-enabled: a fresh start
        endpoint.disabled_reason, endpoint.failing_since = None, None
    if changes.get("enabled") is False:
        endpoint.disabled_reason = "Disabled by the clinic."
    for name, value in changes.items():
        setattr(endpoint, name, value)
    uow.session().flush()
    audit.record("update", "webhook_endpoint", endpoint.id)
    return endpoint


def delete_endpoint(endpoint_id: uuid.UUID, check_version: Any) -> None:
    """Deleted with its secret; its undelivered messages go dead when the worker meets them."""
    endpoint = get_endpoint(endpoint_id)
    check_version(endpoint.version)
    uow.session().delete(endpoint)
    uow.session().flush()
    audit.record("delete", "webhook_endpoint", endpoint_id)


def rotate_secret(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """A new secret, shown once; the previous one keeps signing for 24 h alongside it."""
    endpoint = get_endpoint(endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = utcnow() + webhooks.ROTATION_OVERLAP
    endpoint.secret = webhooks.new_secret()
    uow.session().flush()
    audit.record("rotate_secret", "webhook_endpoint", endpoint.id)
    return endpoint


def list_deliveries(
    endpoint_id: uuid.UUID, page: PageRequest, status: str | None = None
) -> Page[OutboxMessage]:
    """The endpoint's delivery log: one outbox row per event sent (or being sent) to it."""
    endpoint = get_endpoint(endpoint_id)
    stmt = OUTBOX.query().where(
        OutboxMessage.channel == "webhook", OutboxMessage.recipient == str(endpoint.id)
    )
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    return OUTBOX.page(stmt, page, audited=False)


def retry_delivery(endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> OutboxMessage:
    """Manual retry: due now (a dead delivery is re-driven, a pending one hurried)."""
    endpoint = get_endpoint(endpoint_id)
    message = uow.session().scalar(
        sa.select(OutboxMessage)
        .where(
            OutboxMessage.id == delivery_id,
            OutboxMessage.channel == "webhook",
            OutboxMessage.recipient == str(endpoint.id),
        )
        .with_for_update()
    )
    if message is None:
        raise NotFound("Delivery not found.")
    if not endpoint.enabled:
        raise Conflict(
            "The endpoint is disabled; enable it before retrying.",
            errors={"enabled": ["Disabled."]},
        )
    if message.lease_until is not None and message.lease_until > utcnow():
        raise Conflict("A worker is delivering this message right now.")
    message.status, message.next_attempt_at, message.lease_until = "pending", utcnow(), None
    uow.session().flush()
    audit.record("retry", "webhook_delivery", message.id)
    return message


def _check_target(url: str, allow_private: bool) -> None:
    try:
        outbound.check_url(url, allow_private=allow_private)
    except outbound.UnsafeTarget as exc:
        raise Invalid(str(exc), errors={"url": [str(exc)]}) from exc


def _topics(topics: list[str]) -> list[str]:
    unknown = sorted(set(topics) - set(webhooks.TOPICS))
    if unknown:
        raise Invalid("Unknown event type.", errors={"events": [f"Unknown: {', '.join(unknown)}"]})
    return [topic for topic in webhooks.TOPICS if topic in topics]


# -- the events feed (`/v1/events`) ----------------------------------------------------------

# Rows are listed only once they are this old: a transaction that began earlier may commit an
# event with an earlier `created_at` after a reader has moved past it; waiting closes that gap
# for any transaction shorter than this.
FEED_SETTLE = timedelta(seconds=2)


def list_events(
    limit: int, after: Key | None = None
) -> tuple[list[dict[str, Any]], Key | None, bool]:
    """Events after the cursor, oldest first: (items, cursor to continue from, more now?).

    The cursor is returned even at the end of the feed, so a reader polls with it."""
    stmt = sa.select(Event).where(Event.created_at <= utcnow() - FEED_SETTLE)
    page = keyset_page(stmt, Event, PageRequest(limit=limit, after=after))
    rows = page.items
    last = (rows[-1].created_at, rows[-1].id) if rows else after
    return [webhooks.event_item(row) for row in rows], last, page.next_after is not None
