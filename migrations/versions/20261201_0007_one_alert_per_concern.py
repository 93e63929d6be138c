"""one alert per concern: concern, last session time, recovery, and an occurrence log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:30:00

Existing alerts get their concern; of several open alerts of one (couple, partner, concern),
the most severe and most recent keeps the open key the engine now uses, and the others stay
open (resolvable by a person) without being updated further. Each existing alert gets one
occurrence from its stored evidence, so its history starts with what was known.
"""

import sqlalchemy as sa
from alembic import op

import service.db.base
from service.db import rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CONCERNS = {
    "low_alliance": "alliance",
    "alliance_drop": "alliance",
    "reliable_drop": "alliance",
    "downward_trend": "alliance",
    "watch_item": "alliance",
    "split_alliance": "split",
    "airtime_imbalance": "airtime",
    "missing_feedback": "silence",
    "safety_concern": "safety",
}


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("concern", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("last_session_at", service.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("recovered_at", service.db.base.UTCDateTime(timezone=True), nullable=True)
        )
    for rule, concern in CONCERNS.items():
        op.execute(
            sa.text("UPDATE alerts SET concern = :concern WHERE rule = :rule").bindparams(
                concern=concern, rule=rule
            )
        )
    op.execute(
        """
        UPDATE alerts SET last_session_at = (
            SELECT s.starts_at FROM therapy_sessions s
            WHERE s.clinic_id = alerts.clinic_id AND s.id = alerts.last_session_id
        )
        """
    )
    op.execute("UPDATE alerts SET last_session_at = created_at WHERE last_session_at IS NULL")
    _rekey_open_alerts()
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("concern", existing_type=sa.String(length=16), nullable=False)
        batch.alter_column(
            "last_session_at",
            existing_type=service.db.base.UTCDateTime(timezone=True),
            nullable=False,
        )
    _create_occurrences()


def _rekey_open_alerts() -> None:
    """The leading open alert of each concern takes the concern's key."""
    op.execute(
        """
        UPDATE alerts SET open_key = (
            CAST(couple_id AS VARCHAR(36)) || ':' ||
            COALESCE(CAST(partner_id AS VARCHAR(36)), '-') || ':' || concern
        )
        WHERE id IN (
            SELECT id FROM (
                SELECT id, row_number() OVER (
                    PARTITION BY clinic_id, couple_id, partner_id, concern
                    ORDER BY CASE severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 ELSE 1 END
                             DESC, updated_at DESC
                ) AS rank
                FROM alerts WHERE open_key IS NOT NULL
            ) ranked WHERE rank = 1
        )
        """
    )


def _create_occurrences() -> None:
    op.create_table(
        "alert_occurrences",
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("severity_rose", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", service.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "severity IN ('info', 'warning', 'critical')",
            name=op.f("ck_alert_occurrences_severity"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "alert_id"],
            ["alerts.clinic_id", "alerts.id"],
            name=op.f("fk_alert_occurrences_clinic_id_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_alert_occurrences_clinic_id_clinics"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_occurrences")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_alert_occurrences_clinic_id_id")),
    )
    op.create_index(
        op.f("ix_alert_occurrences_clinic_id_alert_id_created_at"),
        "alert_occurrences",
        ["clinic_id", "alert_id", "created_at"],
        unique=False,
    )
    # One occurrence per existing alert, from what it stored (its id is the alert's own).
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(
        f"""
        INSERT INTO alert_occurrences
            (id, clinic_id, alert_id, session_id, kind, severity, rules, evidence, created_at)
        SELECT id, clinic_id, id, last_session_id, 'created', severity,
               {"json_build_array(rule)" if postgres else "json_array(rule)"}, evidence, updated_at
        FROM alerts
        """
    )
    if postgres:
        for statement in rls.tenant_policy("alert_occurrences"):
            op.execute(statement)


def downgrade() -> None:
    op.drop_index(
        op.f("ix_alert_occurrences_clinic_id_alert_id_created_at"), table_name="alert_occurrences"
    )
    op.drop_table("alert_occurrences")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("recovered_at")
        batch.drop_column("last_session_at")
        batch.drop_column("concern")
