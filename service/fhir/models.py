"""FHIR's own rows: Bulk Data export jobs, and the EHR's identifiers of the practitioners and
appointments it pushed (partners keep theirs in the couples feature)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, ClinicOwned, clinic_fk

JOB_STATUSES = ("queued", "running", "completed", "failed", "cancelled")


class ExportJob(ClinicOwned, Base):
    """One `$export` request: run by the worker as the client that asked, readable (status,
    manifest, files) only by that client, deleted with its files after the retention period."""

    __tablename__ = "fhir_export_jobs"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("group_id", "couples"),
        sa.Index(None, "clinic_id", "status", "created_at"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')", name="status"
        ),
    )

    client_id: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    group_id: Mapped[uuid.UUID | None]
    types: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    since: Mapped[datetime | None]
    request_url: Mapped[str] = mapped_column(sa.String(2000))
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    progress: Mapped[str] = mapped_column(sa.String(200), default="queued")
    transaction_time: Mapped[datetime | None]
    # [{"type": "Patient", "file": "Patient.ndjson", "count": 12}, ...]
    output: Mapped[list[dict]] = mapped_column(sa.JSON, default=list)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class ExternalId(ClinicOwned, Base):
    """An EHR's identifier (system|value) of a practitioner (a staff member) or of an
    appointment or encounter (a session): what makes a pushed schedule idempotent."""

    __tablename__ = "fhir_external_ids"
    __table_args__ = ClinicOwned.tenant_table_args(
        sa.UniqueConstraint("clinic_id", "resource_type", "system", "value"),
        sa.Index(None, "clinic_id", "resource_type", "target_id"),
    )

    resource_type: Mapped[str] = mapped_column(sa.String(32))
    system: Mapped[str] = mapped_column(sa.String(200))
    value: Mapped[str] = mapped_column(sa.String(200))
    target_id: Mapped[uuid.UUID]
