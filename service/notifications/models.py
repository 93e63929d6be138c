from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.core import crypto
from service.core.clock import utcnow
from service.db.base import Base, ClinicOwned, Versioned
from service.db.sealed import Sealed


class OutboxMessage(ClinicOwned, Base):
    """A side effect (email, webhook) written in the transaction of the change that caused
    it; workers deliver it afterwards. An email's payload names its template (and the
    callers' ids); what it says, its `content` (the template's values: one-time links, names),
    is sealed with the data key and purged once sent. The worker renders it when it sends."""

    __tablename__ = "outbox_messages"
    __table_args__ = ClinicOwned.tenant_table_args(
        sa.Index(None, "clinic_id", "status", "next_attempt_at"),
        # The worker claims across clinics: pending rows by due time (a partial index).
        sa.Index(
            "ix_outbox_messages_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.CheckConstraint("channel IN ('email', 'webhook')", name="channel"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'dead')", name="status"),
    )

    channel: Mapped[str] = mapped_column(sa.String(16))
    topic: Mapped[str] = mapped_column(sa.String(64))
    recipient: Mapped[str] = mapped_column(sa.String(320))
    payload: Mapped[dict] = mapped_column(default=dict)
    # Loaded only to render (a key problem then fails that one message, not every listing).
    content: Mapped[dict | None] = mapped_column(Sealed(crypto.DATA, as_json=True), deferred=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    # Set while a worker holds the row; a crashed worker's lease runs out and the row is
    # claimed again (at-least-once: receivers dedupe on the message id).
    lease_until: Mapped[datetime | None]
    # Webhook deliveries: what the receiver answered, for the delivery log.
    response_status: Mapped[int | None]
    latency_ms: Mapped[int | None]


class Event(ClinicOwned, Base):
    """The durable change feed (`GET /v1/events`): the same payloads webhooks carry."""

    __tablename__ = "events"
    __table_args__ = ClinicOwned.tenant_table_args(sa.Index(None, "clinic_id", "created_at", "id"))

    topic: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict]


class WebhookEndpoint(ClinicOwned, Versioned, Base):
    """An integrator's receiver. The signing secret is kept to sign (Standard Webhooks), sealed
    with the key-encryption key; during a rotation the previous secret also signs until
    `previous_secret_until`."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = ClinicOwned.tenant_table_args()

    url: Mapped[str] = mapped_column(sa.String(500))
    description: Mapped[str | None] = mapped_column(sa.String(200))
    events: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    secret: Mapped[str] = mapped_column(Sealed(crypto.KEYS))
    previous_secret: Mapped[str | None] = mapped_column(Sealed(crypto.KEYS))
    previous_secret_until: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(200))
    failing_since: Mapped[datetime | None]
