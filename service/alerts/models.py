from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, ClinicOwned, Versioned, clinic_fk


class AlertPolicy(ClinicOwned, Versioned, Base):
    """The clinic's alert thresholds (one row per clinic; absent = the defaults)."""

    __tablename__ = "alert_policies"
    __table_args__ = ClinicOwned.tenant_table_args(sa.UniqueConstraint("clinic_id"))

    settings: Mapped[dict]


class Alert(ClinicOwned, Versioned, Base):
    """One concern about a couple (and a partner, unless couple-level), led by the strongest
    rule of its latest finding (DESIGN §8: one concern, one alert).

    `open_key` is set while the alert is not resolved and is unique per clinic, so the
    database itself keeps at most one open alert per (couple, partner or none, concern).
    """

    __tablename__ = "alerts"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("couple_id", "couples"),
        clinic_fk("partner_id", "partners"),
        sa.UniqueConstraint("clinic_id", "open_key"),
        sa.Index(None, "clinic_id", "couple_id", "created_at"),
        sa.Index(None, "clinic_id", "status", "created_at"),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'snoozed', 'resolved')", name="status"
        ),
        sa.CheckConstraint("severity IN ('info', 'warning', 'critical')", name="severity"),
    )

    couple_id: Mapped[uuid.UUID]
    partner_id: Mapped[uuid.UUID | None]
    therapist_id: Mapped[uuid.UUID]
    concern: Mapped[str] = mapped_column(sa.String(16))
    rule: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    open_key: Mapped[str | None] = mapped_column(sa.String(120))
    evidence: Mapped[dict]
    occurrences: Mapped[int] = mapped_column(default=1)
    first_session_id: Mapped[uuid.UUID]
    last_session_id: Mapped[uuid.UUID]
    # The latest session the concern held in: a late answer for an older one never moves it.
    last_session_at: Mapped[datetime]
    # Set when the condition has not held for two answered sessions running (still open).
    recovered_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None]
    snoozed_until: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[uuid.UUID | None]
    resolution_note: Mapped[str | None] = mapped_column(sa.String(2000))
    # When supervisors were told of an unacknowledged critical alert (once).
    escalated_at: Mapped[datetime | None]


class AlertOccurrence(ClinicOwned, Base):
    """Each session an alert's concern held in, with its own evidence: the session, the
    severity, the rules that fired, and why severity rose (never overwritten)."""

    __tablename__ = "alert_occurrences"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("alert_id", "alerts", ondelete="CASCADE"),
        sa.Index(None, "clinic_id", "alert_id", "created_at"),
        sa.CheckConstraint("severity IN ('info', 'warning', 'critical')", name="severity"),
    )

    alert_id: Mapped[uuid.UUID]
    session_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(sa.String(16))  # created escalated ticked relapsed repeated
    severity: Mapped[str] = mapped_column(sa.String(16))
    rules: Mapped[list[str]] = mapped_column(sa.JSON)
    severity_rose: Mapped[dict | None] = mapped_column(sa.JSON(none_as_null=True))
    evidence: Mapped[dict]
