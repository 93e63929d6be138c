"""The outbox's rows as the worker sees them: lease due messages (and give back those it will
not reach), take one for delivery, and record what the attempt reported (sent, retry later
with backoff, or dead). A sent email keeps its delivery record (who, when, how it went), not
what it said."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from service.core.clock import utcnow
from service.db import claims, uow
from service.notifications import delivery
from service.notifications.models import OutboxMessage


def lease_due(batch: int, lease: timedelta) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Lease up to `batch` due messages of any clinic in one statement: (message id, clinic
    id), oldest due first. Concurrent workers take disjoint rows (`service.db.claims`)."""
    now = utcnow()
    leased = claims.claim(
        OutboxMessage,
        (
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
            sa.or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
        ),
        order_by=(OutboxMessage.next_attempt_at,),
        limit=batch,
        values={"lease_until": now + lease},
        returning=(OutboxMessage.id, OutboxMessage.clinic_id, OutboxMessage.next_attempt_at),
    )
    # RETURNING keeps no order: the oldest due are delivered first.
    return [(row.id, row.clinic_id) for row in sorted(leased, key=lambda r: r.next_attempt_at)]


def release(message_ids: list[uuid.UUID]) -> None:
    """Give back leased messages a stopping worker did not reach: due again for any worker
    now, not when the lease runs out."""
    uow.session().execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.status == "pending")
        .values(lease_until=None)
    )


def take(message_id: uuid.UUID) -> OutboxMessage | None:
    """The message, locked for its delivery, if it still waits for one."""
    message = uow.session().get(
        OutboxMessage,
        message_id,
        with_for_update=True,
        options=[sa.orm.undefer(OutboxMessage.content)],  # what it says: sent in this statement
    )
    return message if message is not None and message.status == "pending" else None


def record(message: OutboxMessage, outcome: delivery.Outcome, now: datetime | None = None) -> None:
    """Sent; or failed: retried with backoff, or dead when retrying cannot help or the
    budget (`GIVE_UP_AFTER`) is spent."""
    now = now or utcnow()
    message.attempts += 1
    message.lease_until = None
    message.response_status = outcome.response_status or message.response_status
    message.latency_ms = outcome.latency_ms or message.latency_ms
    if outcome.ok:
        message.status, message.sent_at, message.last_error = "sent", now, None
        if message.channel == "email":
            message.content = None  # delivered: the link and names need not be kept
        return
    message.last_error = (outcome.error or "failed")[:500]
    if outcome.permanent or now - message.created_at >= delivery.GIVE_UP_AFTER:
        message.status = "dead"
    else:
        message.next_attempt_at = now + delivery.next_wait(message.attempts)
