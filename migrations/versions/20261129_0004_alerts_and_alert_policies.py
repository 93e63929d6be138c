"""alerts and alert policies

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:24:35.877312
"""
from alembic import op
import sqlalchemy as sa
import service.db.base
from service.db import rls

TENANT_TABLES = ("alert_policies", "alerts")


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_policies',
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_alert_policies_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_policies')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_alert_policies_clinic_id_id')),
    sa.UniqueConstraint('clinic_id', name=op.f('uq_alert_policies_clinic_id'))
    )
    op.create_table('alerts',
    sa.Column('couple_id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=True),
    sa.Column('therapist_id', sa.Uuid(), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('open_key', sa.String(length=120), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('first_session_id', sa.Uuid(), nullable=False),
    sa.Column('last_session_id', sa.Uuid(), nullable=False),
    sa.Column('acknowledged_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.Uuid(), nullable=True),
    sa.Column('snoozed_until', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.Uuid(), nullable=True),
    sa.Column('resolution_note', sa.String(length=2000), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("severity IN ('info', 'warning', 'critical')", name=op.f('ck_alerts_severity')),
    sa.CheckConstraint("status IN ('open', 'acknowledged', 'snoozed', 'resolved')", name=op.f('ck_alerts_status')),
    sa.ForeignKeyConstraint(['clinic_id', 'couple_id'], ['couples.clinic_id', 'couples.id'], name=op.f('fk_alerts_clinic_id_couple_id_couples')),
    sa.ForeignKeyConstraint(['clinic_id', 'partner_id'], ['partners.clinic_id', 'partners.id'], name=op.f('fk_alerts_clinic_id_partner_id_partners')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_alerts_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_alerts_clinic_id_id')),
    sa.UniqueConstraint('clinic_id', 'open_key', name=op.f('uq_alerts_clinic_id_open_key'))
    )
    op.create_index(op.f('ix_alerts_clinic_id_couple_id_created_at'), 'alerts', ['clinic_id', 'couple_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_alerts_clinic_id_status_created_at'), 'alerts', ['clinic_id', 'status', 'created_at'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:  # hand-written: alembic does not see policies
            for statement in rls.tenant_policy(table):
                op.execute(statement)


def downgrade() -> None:
    op.drop_index(op.f('ix_alerts_clinic_id_status_created_at'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_clinic_id_couple_id_created_at'), table_name='alerts')
    op.drop_table('alerts')
    op.drop_table('alert_policies')
