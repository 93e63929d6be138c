"""couples partners sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 03:44:10.390408
"""
from alembic import op
import sqlalchemy as sa
import service.db.base
from service.db import rls

TENANT_TABLES = ('couples', 'partners', 'partner_identifiers', 'therapy_sessions')


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('couples',
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('therapist_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('shared_goals', sa.JSON(), nullable=False),
    sa.Column('archived_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('intake', 'active', 'paused', 'closed')", name=op.f('ck_couples_status')),
    sa.ForeignKeyConstraint(['clinic_id', 'therapist_id'], ['staff_members.clinic_id', 'staff_members.id'], name=op.f('fk_couples_clinic_id_therapist_id_staff_members')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_couples_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_couples')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_couples_clinic_id_id'))
    )
    op.create_index(op.f('ix_couples_clinic_id_created_at_id'), 'couples', ['clinic_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_couples_clinic_id_therapist_id_created_at'), 'couples', ['clinic_id', 'therapist_id', 'created_at'], unique=False)
    op.create_table('partners',
    sa.Column('couple_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('pronouns', sa.String(length=40), nullable=True),
    sa.Column('personal_goals', sa.JSON(), nullable=False),
    sa.Column('feedback_channel', sa.String(length=16), nullable=False),
    sa.Column('erased_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("feedback_channel IN ('email', 'in_clinic', 'none')", name=op.f('ck_partners_channel')),
    sa.CheckConstraint('position IN (1, 2)', name=op.f('ck_partners_position')),
    sa.ForeignKeyConstraint(['clinic_id', 'couple_id'], ['couples.clinic_id', 'couples.id'], name=op.f('fk_partners_clinic_id_couple_id_couples')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_partners_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners')),
    sa.UniqueConstraint('clinic_id', 'couple_id', 'position', name=op.f('uq_partners_clinic_id_couple_id_position')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_partners_clinic_id_id'))
    )
    op.create_table('therapy_sessions',
    sa.Column('couple_id', sa.Uuid(), nullable=False),
    sa.Column('therapist_id', sa.Uuid(), nullable=False),
    sa.Column('starts_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('time_shares', sa.JSON(), nullable=True),
    sa.Column('cancel_reason', sa.String(length=500), nullable=True),
    sa.Column('completed_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("modality IN ('in_person', 'video', 'phone')", name=op.f('ck_therapy_sessions_modality')),
    sa.CheckConstraint("status IN ('scheduled', 'completed', 'cancelled', 'no_show')", name=op.f('ck_therapy_sessions_status')),
    sa.CheckConstraint('duration_minutes BETWEEN 5 AND 480', name=op.f('ck_therapy_sessions_duration')),
    sa.ForeignKeyConstraint(['clinic_id', 'couple_id'], ['couples.clinic_id', 'couples.id'], name=op.f('fk_therapy_sessions_clinic_id_couple_id_couples')),
    sa.ForeignKeyConstraint(['clinic_id', 'therapist_id'], ['staff_members.clinic_id', 'staff_members.id'], name=op.f('fk_therapy_sessions_clinic_id_therapist_id_staff_members')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_therapy_sessions_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_therapy_sessions')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_therapy_sessions_clinic_id_id'))
    )
    op.create_index(op.f('ix_therapy_sessions_clinic_id_couple_id_starts_at'), 'therapy_sessions', ['clinic_id', 'couple_id', 'starts_at'], unique=False)
    op.create_index(op.f('ix_therapy_sessions_clinic_id_created_at_id'), 'therapy_sessions', ['clinic_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_therapy_sessions_clinic_id_therapist_id_starts_at'), 'therapy_sessions', ['clinic_id', 'therapist_id', 'starts_at'], unique=False)
    op.create_table('partner_identifiers',
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('system', sa.String(length=200), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id', 'partner_id'], ['partners.clinic_id', 'partners.id'], name=op.f('fk_partner_identifiers_clinic_id_partner_id_partners'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_partner_identifiers_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_identifiers')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_partner_identifiers_clinic_id_id')),
    sa.UniqueConstraint('clinic_id', 'system', 'value', name=op.f('uq_partner_identifiers_clinic_id_system_value'))
    )
    op.create_index(op.f('ix_partner_identifiers_clinic_id_partner_id'), 'partner_identifiers', ['clinic_id', 'partner_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _postgres_only()


def _postgres_only() -> None:
    """Hand-written: row-level security, and the double-booking guard for concurrent writes."""
    for table in TENANT_TABLES:
        for statement in rls.tenant_policy(table):
            op.execute(statement)
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        "ALTER TABLE therapy_sessions ADD CONSTRAINT ex_therapy_sessions_therapist_overlap "
        "EXCLUDE USING gist (clinic_id WITH =, therapist_id WITH =, "
        "tstzrange(starts_at, ends_at) WITH &&) WHERE (status IN ('scheduled', 'completed'))"
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_partner_identifiers_clinic_id_partner_id'), table_name='partner_identifiers')
    op.drop_table('partner_identifiers')
    op.drop_index(op.f('ix_therapy_sessions_clinic_id_therapist_id_starts_at'), table_name='therapy_sessions')
    op.drop_index(op.f('ix_therapy_sessions_clinic_id_created_at_id'), table_name='therapy_sessions')
    op.drop_index(op.f('ix_therapy_sessions_clinic_id_couple_id_starts_at'), table_name='therapy_sessions')
    op.drop_table('therapy_sessions')
    op.drop_table('partners')
    op.drop_index(op.f('ix_couples_clinic_id_therapist_id_created_at'), table_name='couples')
    op.drop_index(op.f('ix_couples_clinic_id_created_at_id'), table_name='couples')
    op.drop_table('couples')
