"""feedback: outbox, instruments, requests, responses

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 04:06:23.556541
"""
from alembic import op
import sqlalchemy as sa
import service.db.base
from service.db import rls
from service.core.clock import utcnow
from service.instruments.catalog import SAC8

TENANT_TABLES = ("outbox_messages", "feedback_requests", "feedback_responses")


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('instruments',
    sa.Column('clinic_id', sa.Uuid(), nullable=True),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.JSON(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('norms', sa.JSON(), nullable=True),
    sa.Column('cutoff_pct', sa.Double(), nullable=True),
    sa.Column('answered_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('alliance', 'outcome')", name=op.f('ck_instruments_kind')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_instruments_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instruments')),
    sa.UniqueConstraint('clinic_id', 'key', 'version', name=op.f('uq_instruments_clinic_id_key_version'))
    )
    op.create_index(op.f('ix_instruments_clinic_id'), 'instruments', ['clinic_id'], unique=False)
    op.create_table('outbox_messages',
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body_text', sa.Text(), nullable=True),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('email', 'webhook')", name=op.f('ck_outbox_messages_channel')),
    sa.CheckConstraint("status IN ('pending', 'sent', 'dead')", name=op.f('ck_outbox_messages_status')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_outbox_messages_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_outbox_messages_clinic_id_id'))
    )
    op.create_index(op.f('ix_outbox_messages_clinic_id_status_next_attempt_at'), 'outbox_messages', ['clinic_id', 'status', 'next_attempt_at'], unique=False)
    op.create_table('feedback_requests',
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('instrument_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('answered_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'answered', 'expired', 'revoked')", name=op.f('ck_feedback_requests_status')),
    sa.ForeignKeyConstraint(['clinic_id', 'partner_id'], ['partners.clinic_id', 'partners.id'], name=op.f('fk_feedback_requests_clinic_id_partner_id_partners')),
    sa.ForeignKeyConstraint(['clinic_id', 'session_id'], ['therapy_sessions.clinic_id', 'therapy_sessions.id'], name=op.f('fk_feedback_requests_clinic_id_session_id_therapy_sessions')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_feedback_requests_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], name=op.f('fk_feedback_requests_instrument_id_instruments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_requests')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_feedback_requests_clinic_id_id')),
    sa.UniqueConstraint('clinic_id', 'session_id', 'partner_id', name=op.f('uq_feedback_requests_clinic_id_session_id_partner_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_feedback_requests_token_hash'))
    )
    op.create_index(op.f('ix_feedback_requests_clinic_id_status_expires_at'), 'feedback_requests', ['clinic_id', 'status', 'expires_at'], unique=False)
    op.create_table('feedback_responses',
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('couple_id', sa.Uuid(), nullable=False),
    sa.Column('session_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('instrument_id', sa.Uuid(), nullable=False),
    sa.Column('instrument_version', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('total', sa.Double(), nullable=False),
    sa.Column('pct', sa.Double(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.String(length=1000), nullable=True),
    sa.Column('safety_concern', sa.Boolean(), nullable=False),
    sa.Column('entered_by', sa.Uuid(), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('partner_link', 'in_clinic', 'staff_entry', 'import')", name=op.f('ck_feedback_responses_source')),
    sa.ForeignKeyConstraint(['clinic_id', 'couple_id'], ['couples.clinic_id', 'couples.id'], name=op.f('fk_feedback_responses_clinic_id_couple_id_couples')),
    sa.ForeignKeyConstraint(['clinic_id', 'partner_id'], ['partners.clinic_id', 'partners.id'], name=op.f('fk_feedback_responses_clinic_id_partner_id_partners')),
    sa.ForeignKeyConstraint(['clinic_id', 'session_id'], ['therapy_sessions.clinic_id', 'therapy_sessions.id'], name=op.f('fk_feedback_responses_clinic_id_session_id_therapy_sessions')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_feedback_responses_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], name=op.f('fk_feedback_responses_instrument_id_instruments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_responses')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_feedback_responses_clinic_id_id')),
    sa.UniqueConstraint('clinic_id', 'session_id', 'partner_id', name=op.f('uq_feedback_responses_clinic_id_session_id_partner_id'))
    )
    op.create_index(op.f('ix_feedback_responses_clinic_id_couple_id_session_at'), 'feedback_responses', ['clinic_id', 'couple_id', 'session_at'], unique=False)
    op.create_index(op.f('ix_feedback_responses_clinic_id_partner_id_session_at'), 'feedback_responses', ['clinic_id', 'partner_id', 'session_at'], unique=False)
    instruments = sa.table(
        "instruments",
        sa.column("id", sa.Uuid()), sa.column("clinic_id", sa.Uuid()),
        sa.column("key", sa.String()), sa.column("version", sa.Integer()),
        sa.column("kind", sa.String()), sa.column("title", sa.JSON()),
        sa.column("items", sa.JSON()), sa.column("norms", sa.JSON(none_as_null=True)),
        sa.column("cutoff_pct", sa.Float()),
        sa.column("created_at", service.db.base.UTCDateTime()),
    )
    op.bulk_insert(instruments, [{**SAC8, "clinic_id": None, "created_at": utcnow()}])
    if op.get_bind().dialect.name == "postgresql":
        _row_level_security()


def _row_level_security() -> None:
    """Hand-written: alembic does not see row-level security policies."""
    for table in TENANT_TABLES:
        for statement in rls.tenant_policy(table):
            op.execute(statement)
    for statement in rls.shared_policy("instruments"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_index(op.f('ix_feedback_responses_clinic_id_partner_id_session_at'), table_name='feedback_responses')
    op.drop_index(op.f('ix_feedback_responses_clinic_id_couple_id_session_at'), table_name='feedback_responses')
    op.drop_table('feedback_responses')
    op.drop_index(op.f('ix_feedback_requests_clinic_id_status_expires_at'), table_name='feedback_requests')
    op.drop_table('feedback_requests')
    op.drop_index(op.f('ix_outbox_messages_clinic_id_status_next_attempt_at'), table_name='outbox_messages')
    op.drop_table('outbox_messages')
    op.drop_index(op.f('ix_instruments_clinic_id'), table_name='instruments')
    op.drop_table('instruments')
