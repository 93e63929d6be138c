"""Write outbox messages in the caller's transaction; delivery is the worker's job."""

from __future__ import annotations

import sqlalchemy as sa

from service.db import uow
from service.notifications.models import OutboxMessage


def enqueue_email(*, topic: str, to: str, subject: str, text: str, html: str) -> OutboxMessage:
    message = OutboxMessage(
        channel="email", topic=topic, recipient=to, subject=subject, body_text=text, body_html=html
    )
    uow.session().add(message)
    return message


def forget_emails_to(address: str) -> int:
    """Erasure: drop undelivered emails to this address (they hold it and a link)."""
    result = uow.session().execute(
        sa.delete(OutboxMessage).where(
            OutboxMessage.recipient == address, OutboxMessage.status == "pending"
        )
    )
    return result.rowcount or 0
