"""FHIR: Bulk Data export jobs and the EHR's identifiers of practitioners and appointments

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from alembic import op
import sqlalchemy as sa
import service.db.base
from service.db import rls

TENANT_TABLES = ("fhir_export_jobs", "fhir_external_ids")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_export_jobs",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("since", service.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("request_url", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.String(length=200), nullable=False),
        sa.Column("transaction_time", service.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("started_at", service.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", service.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", service.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", service.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_fhir_export_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "group_id"],
            ["couples.clinic_id", "couples.id"],
            name=op.f("fk_fhir_export_jobs_clinic_id_group_id_couples"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_fhir_export_jobs_clinic_id_clinics"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_export_jobs")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_fhir_export_jobs_clinic_id_id")),
    )
    op.create_index(
        op.f("ix_fhir_export_jobs_clinic_id_status_created_at"),
        "fhir_export_jobs",
        ["clinic_id", "status", "created_at"],
        unique=False,
    )
    op.create_table(
        "fhir_external_ids",
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("system", sa.String(length=200), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", service.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_fhir_external_ids_clinic_id_clinics"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_external_ids")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_fhir_external_ids_clinic_id_id")),
        sa.UniqueConstraint(
            "clinic_id",
            "resource_type",
            "system",
            "value",
            name=op.f("uq_fhir_external_ids_clinic_id_resource_type_system_value"),
        ),
    )
    op.create_index(
        op.f("ix_fhir_external_ids_clinic_id_resource_type_target_id"),
        "fhir_external_ids",
        ["clinic_id", "resource_type", "target_id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:  # hand-written: alembic does not see policies
            for statement in rls.tenant_policy(table):
                op.execute(statement)


def downgrade() -> None:
    op.drop_index(
        op.f("ix_fhir_external_ids_clinic_id_resource_type_target_id"),
        table_name="fhir_external_ids",
    )
    op.drop_table("fhir_external_ids")
    op.drop_index(
        op.f("ix_fhir_export_jobs_clinic_id_status_created_at"), table_name="fhir_export_jobs"
    )
    op.drop_table("fhir_export_jobs")
