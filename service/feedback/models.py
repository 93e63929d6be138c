from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, ClinicOwned, clinic_fk


class FeedbackRequest(ClinicOwned, Base):
    """One partner's personal link for one session. Only the token's digest is stored."""

    __tablename__ = "feedback_requests"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("session_id", "therapy_sessions"),
        clinic_fk("partner_id", "partners"),
        sa.UniqueConstraint("clinic_id", "session_id", "partner_id"),
        sa.UniqueConstraint("token_hash", "clinic_id"),
        sa.Index(None, "clinic_id", "status", "expires_at"),
        sa.CheckConstraint("status IN ('open', 'answered', 'expired', 'revoked')", name="status"),
    )

    session_id: Mapped[uuid.UUID]
    partner_id: Mapped[uuid.UUID]
    instrument_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("instruments.id"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    answered_at: Mapped[datetime | None]


class FeedbackResponse(ClinicOwned, Base):
    """One partner's answers for one session, scored with the instrument version used.

    `comment` and `safety_concern` are private to clinicians: never shown to the other
    partner, never in emails or webhooks.
    """

    __tablename__ = "feedback_responses"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("session_id", "therapy_sessions"),
        clinic_fk("partner_id", "partners"),
        clinic_fk("couple_id", "couples"),
        sa.UniqueConstraint("clinic_id", "session_id", "partner_id"),
        sa.Index(None, "clinic_id", "partner_id", "session_at"),
        sa.Index(None, "clinic_id", "couple_id", "session_at"),
        sa.CheckConstraint(
            "source IN ('partner_link', 'in_clinic', 'staff_entry', 'import')", name="source"
        ),
    )

    session_id: Mapped[uuid.UUID]
    partner_id: Mapped[uuid.UUID]
    couple_id: Mapped[uuid.UUID]
    # The session's start, copied so a partner's history reads from one index, in order.
    session_at: Mapped[datetime]
    instrument_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("instruments.id"))
    instrument_version: Mapped[int]
    answers: Mapped[dict]
    total: Mapped[float]
    pct: Mapped[float]
    source: Mapped[str] = mapped_column(sa.String(16))
    comment: Mapped[str | None] = mapped_column(sa.String(1000))
    safety_concern: Mapped[bool] = mapped_column(default=False)
    entered_by: Mapped[uuid.UUID | None]
