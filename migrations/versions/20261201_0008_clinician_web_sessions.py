"""clinician web sessions: the signed-in pages under /app/ (token digests only)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:37:36
"""

import sqlalchemy as sa
from alembic import op

import service.db.base
from service.db import rls

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("idle_expires_at", service.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "absolute_expires_at", service.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("ended_at", service.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", service.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id", "staff_id"],
            ["staff_members.clinic_id", "staff_members.id"],
            name=op.f("fk_web_sessions_clinic_id_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_web_sessions_clinic_id_clinics"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_web_sessions_clinic_id_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_web_sessions_clinic_id_staff_id"),
        "web_sessions",
        ["clinic_id", "staff_id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in rls.tenant_policy("web_sessions"):
            op.execute(statement)


def downgrade() -> None:
    op.drop_index(op.f("ix_web_sessions_clinic_id_staff_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
