from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, ClinicOwned, Versioned, clinic_fk

STATUSES = ("scheduled", "completed", "cancelled", "no_show")
MODALITIES = ("in_person", "video", "phone")


class TherapySession(ClinicOwned, Versioned, Base):
    __tablename__ = "therapy_sessions"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("couple_id", "couples"),
        clinic_fk("therapist_id", "staff_members"),
        sa.Index(None, "clinic_id", "therapist_id", "starts_at"),
        sa.Index(None, "clinic_id", "couple_id", "starts_at"),
        sa.Index(None, "clinic_id", "created_at", "id"),
        sa.CheckConstraint(
            "status IN ('scheduled', 'completed', 'cancelled', 'no_show')", name="status"
        ),
        sa.CheckConstraint("modality IN ('in_person', 'video', 'phone')", name="modality"),
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 480", name="duration"),
    )

    couple_id: Mapped[uuid.UUID]
    therapist_id: Mapped[uuid.UUID]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]  # starts_at + duration: what the double-booking check compares
    duration_minutes: Mapped[int]
    modality: Mapped[str] = mapped_column(sa.String(16), default="in_person")
    status: Mapped[str] = mapped_column(sa.String(16), default="scheduled")
    # Therapist-recorded share of talking time per partner: {"<partner id>": percent}.
    time_shares: Mapped[dict | None]
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(500))
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
