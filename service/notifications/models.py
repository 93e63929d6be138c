from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.core.clock import utcnow
from service.db.base import Base, ClinicOwned


class OutboxMessage(ClinicOwned, Base):
    """A side effect (email, webhook) written in the transaction of the change that caused
    it; workers deliver it afterwards. Emails carry what DESIGN §9 allows, nothing more."""

    __tablename__ = "outbox_messages"
    __table_args__ = ClinicOwned.tenant_table_args(
        sa.Index(None, "clinic_id", "status", "next_attempt_at"),
        sa.CheckConstraint("channel IN ('email', 'webhook')", name="channel"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'dead')", name="status"),
    )

    channel: Mapped[str] = mapped_column(sa.String(16))
    topic: Mapped[str] = mapped_column(sa.String(64))
    recipient: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str | None] = mapped_column(sa.String(200))
    body_text: Mapped[str | None] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    payload: Mapped[dict] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
