from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, Keyed


class Instrument(Keyed, Base):
    """A versioned questionnaire. A reference table: built-in rows have no clinic and are
    visible to all; a clinic's own rows only to that clinic (row-level security)."""

    __tablename__ = "instruments"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "key", "version"),
        sa.CheckConstraint("kind IN ('alliance', 'outcome')", name="kind"),
    )

    clinic_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("clinics.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[dict]
    items: Mapped[list[dict]] = mapped_column(sa.JSON)
    norms: Mapped[dict | None] = mapped_column(sa.JSON(none_as_null=True))
    cutoff_pct: Mapped[float | None]
    # Set when the first response arrives: from then on the version is frozen.
    answered_at: Mapped[datetime | None]
