"""system role: the system context sees every clinic by its login role, not by a setting;
audit events name their route and a refusal's reason

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:40:00

Every `<table>_isolation` policy ended in `OR current_setting('app.system', true) = 'on'`,
a setting the app role could make itself. Each policy is rewritten without it, and a second
permissive policy gives the `alliance_system` role (which must exist: scripts/ensure-postgres.sh,
deploy/postgres-init.sh) every row. Downgrade restores the setting-based policies.

`audit_events` gains `route` and `reason`, so failed sign-ins and refused requests (401, 403)
say where and why.
"""

import functools

import sqlalchemy as sa
from alembic import op

from service.db import rls

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Tables whose policy is not the plain `clinic_id = current clinic` one.
POLICY_OF = {
    "clinics": functools.partial(rls.tenant_policy, column="id"),
    "instruments": rls.shared_policy,
    "oauth_clients": rls.shared_policy,
    "idempotency_keys": rls.scoped_or_platform_policy,
}

# The policies as they were up to 0011, for downgrade.
OLD_SYSTEM = "current_setting('app.system', true) = 'on'"
OLD_USING = {
    "clinics": f"id = {rls.CURRENT_CLINIC} OR {OLD_SYSTEM}",
    "instruments": f"clinic_id IS NULL OR clinic_id = {rls.CURRENT_CLINIC} OR {OLD_SYSTEM}",
    "oauth_clients": f"clinic_id IS NULL OR clinic_id = {rls.CURRENT_CLINIC} OR {OLD_SYSTEM}",
    "idempotency_keys": f"clinic_id IS NOT DISTINCT FROM {rls.CURRENT_CLINIC} OR {OLD_SYSTEM}",
}
OLD_CHECK = {
    "instruments": f"clinic_id = {rls.CURRENT_CLINIC} OR {OLD_SYSTEM}",
    "oauth_clients": f"clinic_id = {rls.CURRENT_CLINIC} OR {OLD_SYSTEM}",
}


def _policed_tables() -> list[str]:
    return list(
        op.get_bind().scalars(
            sa.text(
                "SELECT tablename FROM pg_policies WHERE schemaname = 'public' "
                "AND policyname = tablename || '_isolation' ORDER BY tablename"
            )
        )
    )


def _drop_policies(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS {table}_isolation ON {table}")
    op.execute(f"DROP POLICY IF EXISTS {table}_system ON {table}")


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("route", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("reason", sa.String(length=200), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _policed_tables():
        _drop_policies(table)
        for statement in POLICY_OF.get(table, rls.tenant_policy)(table):
            op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("reason")
        batch.drop_column("route")
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _policed_tables():
        _drop_policies(table)
        using = OLD_USING.get(table, f"clinic_id = {rls.CURRENT_CLINIC} OR {OLD_SYSTEM}")
        check = OLD_CHECK.get(table, using)
        op.execute(f"CREATE POLICY {table}_isolation ON {table} USING ({using}) WITH CHECK ({check})")
