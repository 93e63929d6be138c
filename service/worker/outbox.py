"""Claiming and delivering outbox messages.

Claim: due rows are locked with `FOR UPDATE SKIP LOCKED` (so concurrent workers take disjoint
rows) and leased for a while in a short transaction. Delivery: each message in its own
transaction, in its clinic's tenant context; success marks it sent, failure schedules a retry
with backoff, or `dead` when retrying cannot help or the budget is spent. A worker killed
mid-batch leaves leases that run out: another worker then delivers those messages.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa

from service.core import context
from service.core.clock import utcnow
from service.db import uow
from service.notifications import delivery
from service.notifications.models import OutboxMessage
from service.settings import Settings

log = logging.getLogger(__name__)
Sender = Callable[[OutboxMessage, Settings], delivery.Outcome]


def claim(batch: int, lease: timedelta) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Lease up to `batch` due messages: (message id, clinic id), oldest due first."""
    now = utcnow()
    with context.system_context("outbox claim"), uow.unit_of_work() as session:
        due = session.scalars(
            sa.select(OutboxMessage)
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= now,
                sa.or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
            )
            .order_by(OutboxMessage.next_attempt_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for message in due:
            message.lease_until = now + lease
        return [(message.id, message.clinic_id) for message in due]


def deliver(
    message_id: uuid.UUID, clinic_id: uuid.UUID, senders: dict[str, Sender], settings: Settings
) -> str:
    """Deliver one leased message; returns its new status (or 'skipped' if no longer ours)."""
    with context.tenant_context(clinic_id), uow.unit_of_work() as session:
        message = session.get(OutboxMessage, message_id, with_for_update=True)
        if message is None or message.status != "pending":
            return "skipped"
        try:
            outcome = senders[message.channel](message, settings)
        except Exception as exc:  # a sender bug must not kill the worker; retry later
            log.exception("delivery failed", extra={"message_id": str(message_id)})
            outcome = delivery.Outcome(ok=False, error=type(exc).__name__)
        _record(message, outcome)
        return message.status


def _record(message: OutboxMessage, outcome: delivery.Outcome) -> None:
    now = utcnow()
    message.attempts += 1
    message.lease_until = None
    message.response_status = outcome.response_status or message.response_status
    message.latency_ms = outcome.latency_ms or message.latency_ms
    if outcome.ok:
        message.status, message.sent_at, message.last_error = "sent", now, None
        return
    message.last_error = (outcome.error or "failed")[:500]
    if outcome.permanent or now - message.created_at >= delivery.GIVE_UP_AFTER:
        message.status = "dead"
    else:
        message.next_attempt_at = now + delivery.next_wait(message.attempts)
