"""notifications: leases, events, webhook endpoints, alert email preferences

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 04:42:55.136728
"""
from alembic import op
import sqlalchemy as sa
import service.db.base
from service.db import rls

TENANT_TABLES = ("events", "webhook_endpoints")


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_events_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_events_clinic_id_id'))
    )
    op.create_index(op.f('ix_events_clinic_id_created_at_id'), 'events', ['clinic_id', 'created_at', 'id'], unique=False)
    op.create_table('webhook_endpoints',
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=True),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('previous_secret', sa.String(length=100), nullable=True),
    sa.Column('previous_secret_until', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=200), nullable=True),
    sa.Column('failing_since', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_webhook_endpoints_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_webhook_endpoints_clinic_id_id'))
    )
    op.add_column('alerts', sa.Column('escalated_at', service.db.base.UTCDateTime(timezone=True), nullable=True))
    op.add_column('outbox_messages', sa.Column('lease_until', service.db.base.UTCDateTime(timezone=True), nullable=True))
    op.add_column('outbox_messages', sa.Column('response_status', sa.Integer(), nullable=True))
    op.add_column('outbox_messages', sa.Column('latency_ms', sa.Integer(), nullable=True))
    op.create_index('ix_outbox_messages_due', 'outbox_messages', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.add_column('staff_members', sa.Column('alert_emails', sa.String(length=16), server_default='immediate', nullable=False))
    with op.batch_alter_table("staff_members") as batch:
        batch.create_check_constraint(
            "alert_emails", "alert_emails IN ('immediate', 'hourly', 'daily')")
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:  # hand-written: alembic does not see policies
            for statement in rls.tenant_policy(table):
                op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("staff_members") as batch:
        batch.drop_constraint(op.f("ck_staff_members_alert_emails"), type_="check")
    op.drop_column('staff_members', 'alert_emails')
    op.drop_index('ix_outbox_messages_due', table_name='outbox_messages', postgresql_where=sa.text("status = 'pending'"))
    op.drop_column('outbox_messages', 'latency_ms')
    op.drop_column('outbox_messages', 'response_status')
    op.drop_column('outbox_messages', 'lease_until')
    op.drop_column('alerts', 'escalated_at')
    op.drop_table('webhook_endpoints')
    op.drop_index(op.f('ix_events_clinic_id_created_at_id'), table_name='events')
    op.drop_table('events')
