from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, ClinicOwned


class AuditEvent(ClinicOwned, Base):
    """Who did what to which resource. Never holds the data itself. PostgreSQL refuses
    UPDATE and DELETE on this table (trigger), so it is append-only even for the owner."""

    __tablename__ = "audit_events"
    __table_args__ = ClinicOwned.tenant_table_args(
        sa.Index(None, "clinic_id", "created_at", "id"),
        sa.Index(None, "clinic_id", "resource_type", "resource_id"),
    )

    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str] = mapped_column(sa.String(120))
    action: Mapped[str] = mapped_column(sa.String(40))
    resource_type: Mapped[str] = mapped_column(sa.String(40))
    resource_id: Mapped[uuid.UUID | None]
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    ip: Mapped[str | None] = mapped_column(sa.String(45))
