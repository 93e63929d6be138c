"""foundation

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 03:32:16.987923
"""
from alembic import op
import sqlalchemy as sa
import service.db.base
from service.db import rls


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

TENANT_TABLES = ('audit_events', 'oauth_authorization_codes', 'oauth_refresh_tokens', 'staff_members')


def upgrade() -> None:
    op.create_table('clinics',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('slug', sa.String(length=63), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('cors_origins', sa.JSON(), nullable=False),
    sa.Column('feedback_settings', sa.JSON(), nullable=False),
    sa.Column('email_policy', sa.JSON(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinics')),
    sa.UniqueConstraint('slug', name=op.f('uq_clinics_slug'))
    )
    op.create_table('oauth_client_assertion_jtis',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('jti', sa.String(length=200), nullable=False),
    sa.Column('expires_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'jti', name=op.f('pk_oauth_client_assertion_jtis'))
    )
    op.create_table('oauth_revoked_access_tokens',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('expires_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_oauth_revoked_access_tokens'))
    )
    op.create_table('oauth_signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('private_jwk', sa.JSON(), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_signing_keys')),
    sa.UniqueConstraint('kid', name=op.f('uq_oauth_signing_keys_kid'))
    )
    op.create_table('audit_events',
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('resource_id', sa.Uuid(), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_audit_events_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_audit_events_clinic_id_id'))
    )
    op.create_index(op.f('ix_audit_events_clinic_id_created_at_id'), 'audit_events', ['clinic_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_audit_events_clinic_id_resource_type_resource_id'), 'audit_events', ['clinic_id', 'resource_type', 'resource_id'], unique=False)
    op.create_table('idempotency_keys',
    sa.Column('clinic_id', sa.Uuid(), nullable=True),
    sa.Column('principal', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('response_headers', sa.JSON(), nullable=False),
    sa.Column('completed_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_idempotency_keys_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('principal', 'key', name=op.f('uq_idempotency_keys_principal_key'))
    )
    op.create_index(op.f('ix_idempotency_keys_clinic_id'), 'idempotency_keys', ['clinic_id'], unique=False)
    op.create_table('oauth_clients',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('clinic_id', sa.Uuid(), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('token_endpoint_auth_method', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=200), nullable=True),
    sa.Column('jwks', sa.JSON(), nullable=True),
    sa.Column('jwks_uri', sa.String(length=500), nullable=True),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('revoked_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_oauth_clients_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_oauth_clients_client_id'))
    )
    op.create_index(op.f('ix_oauth_clients_clinic_id'), 'oauth_clients', ['clinic_id'], unique=False)
    op.create_table('staff_members',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('tokens_valid_after', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('invite_token_hash', sa.String(length=64), nullable=True),
    sa.Column('invite_expires_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('pronouns', sa.String(length=40), nullable=True),
    sa.Column('bio', sa.String(length=2000), nullable=True),
    sa.Column('approaches', sa.JSON(), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('accepting_new', sa.Boolean(), nullable=False),
    sa.Column('listed_publicly', sa.Boolean(), nullable=False),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'supervisor', 'therapist')", name=op.f('ck_staff_members_role')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_staff_members_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_members')),
    sa.UniqueConstraint('clinic_id', 'email', name=op.f('uq_staff_members_clinic_id_email')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_staff_members_clinic_id_id')),
    sa.UniqueConstraint('invite_token_hash', name=op.f('uq_staff_members_invite_token_hash'))
    )
    op.create_table('oauth_authorization_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('redirect_uri', sa.String(length=500), nullable=False),
    sa.Column('scope', sa.String(length=1000), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=False),
    sa.Column('code_challenge_method', sa.String(length=8), nullable=False),
    sa.Column('expires_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id', 'staff_id'], ['staff_members.clinic_id', 'staff_members.id'], name=op.f('fk_oauth_authorization_codes_clinic_id_staff_id_staff_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_oauth_authorization_codes_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_authorization_codes')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_oauth_authorization_codes_clinic_id_id')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_oauth_authorization_codes_code_hash'))
    )
    op.create_table('oauth_refresh_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.String(length=1000), nullable=False),
    sa.Column('idle_expires_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('absolute_expires_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', service.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clinic_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', service.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id', 'staff_id'], ['staff_members.clinic_id', 'staff_members.id'], name=op.f('fk_oauth_refresh_tokens_clinic_id_staff_id_staff_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_oauth_refresh_tokens_clinic_id_clinics'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_refresh_tokens')),
    sa.UniqueConstraint('clinic_id', 'id', name=op.f('uq_oauth_refresh_tokens_clinic_id_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_oauth_refresh_tokens_token_hash'))
    )
    op.create_index(op.f('ix_oauth_refresh_tokens_clinic_id_family_id'), 'oauth_refresh_tokens', ['clinic_id', 'family_id'], unique=False)
    op.create_index(op.f('ix_oauth_refresh_tokens_clinic_id_staff_id'), 'oauth_refresh_tokens', ['clinic_id', 'staff_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _row_level_security()


def _row_level_security() -> None:
    """Hand-written: alembic does not see row-level security policies or triggers."""
    for table in TENANT_TABLES:
        for statement in rls.tenant_policy(table):
            op.execute(statement)
    statements = [
        *rls.tenant_policy("clinics", column="id"),
        *rls.shared_policy("oauth_clients"),
        *rls.scoped_or_platform_policy("idempotency_keys"),
        *rls.append_only("audit_events"),
    ]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.drop_index(op.f('ix_oauth_refresh_tokens_clinic_id_staff_id'), table_name='oauth_refresh_tokens')
    op.drop_index(op.f('ix_oauth_refresh_tokens_clinic_id_family_id'), table_name='oauth_refresh_tokens')
    op.drop_table('oauth_refresh_tokens')
    op.drop_table('oauth_authorization_codes')
    op.drop_table('staff_members')
    op.drop_index(op.f('ix_oauth_clients_clinic_id'), table_name='oauth_clients')
    op.drop_table('oauth_clients')
    op.drop_index(op.f('ix_idempotency_keys_clinic_id'), table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
    op.drop_index(op.f('ix_audit_events_clinic_id_resource_type_resource_id'), table_name='audit_events')
    op.drop_index(op.f('ix_audit_events_clinic_id_created_at_id'), table_name='audit_events')
    op.drop_table('audit_events')
    op.drop_table('oauth_signing_keys')
    op.drop_table('oauth_revoked_access_tokens')
    op.drop_table('oauth_client_assertion_jtis')
    op.drop_table('clinics')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
