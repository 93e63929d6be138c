"""The worker's path through the outbox: lease a batch across clinics (audited bypass, a short
transaction of its own), then deliver each message in its own transaction, in its clinic's
tenant context. A worker killed mid-batch leaves leases that run out: another worker then
delivers those messages (at-least-once; receivers dedupe on the message id).

Exactly once is not on offer where two systems must agree: when the SMTP server has accepted
a message's DATA (or a webhook receiver answered 2xx) and the database is lost before the
`sent` mark commits, the message stays pending under its lease and is delivered again once the
lease runs out, with the same Message-ID (`webhook-id` for webhooks) so the receiver can
recognise the repeat. A message whose send failed is never marked sent, so nothing is lost.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from service.core import context, metrics
from service.db import uow
from service.notifications import delivery, outbox
from service.settings import Settings

log = logging.getLogger(__name__)
Sender = Callable[..., delivery.Outcome]
# A message's status after an attempt, as the deliveries metric names the attempt's result.
DELIVERY_RESULTS = {"sent": "sent", "pending": "retry", "dead": "dead"}


def claim(batch: int, lease: timedelta) -> list[tuple[uuid.UUID, uuid.UUID]]:
    with context.system_context("outbox claim"), uow.unit_of_work():
        return outbox.lease_due(batch, lease)


def release(message_ids: list[uuid.UUID]) -> None:
    if message_ids:
        with context.system_context("outbox release"), uow.unit_of_work():
            outbox.release(message_ids)


def deliver(
    message_id: uuid.UUID, clinic_id: uuid.UUID, senders: dict[str, Sender], settings: Settings
) -> str:
    """Deliver one leased message; returns its new status (or 'skipped' if no longer ours)."""
    with context.tenant_context(clinic_id), uow.unit_of_work():
        message = outbox.take(message_id)
        if message is None:
            return "skipped"
        try:
            outcome = senders[message.channel](message, settings)
        except Exception as exc:  # a sender bug must not kill the worker; retry later
            failure = metrics.failure("send", exc)
            log.warning("delivery failed", extra={"outbox_id": str(message_id), **failure})
            outcome = delivery.Outcome(ok=False, error=failure["error"])
        outbox.record(message, outcome)
        channel, status = message.channel, message.status
    if not outcome.fanned_out:  # counted once committed, and only what reached for a receiver
        metrics.DELIVERIES.labels(channel, DELIVERY_RESULTS[status]).inc()
    return status
