"""Row-level security DDL for migrations (alembic autogenerate does not see policies).

Each table gets two permissive policies: `<table>_isolation` for the app role (rows of the
clinic its transaction is scoped to) and `<table>_system` for the system role, which the
audited system context connects as. Seeing every clinic is a matter of which role logged in,
so nothing the app role can execute (no setting, no function) turns row-level security off.
"""

from __future__ import annotations

CURRENT_CLINIC = "NULLIF(current_setting('app.clinic_id', true), '')::uuid"
SYSTEM_ROLE = "alliance_system"


def tenant_policy(table: str, column: str = "clinic_id") -> list[str]:
    """Rows visible and writable only inside a transaction scoped to their clinic."""
    return _policy(table, f"{column} = {CURRENT_CLINIC}")


def shared_policy(table: str) -> list[str]:
    """Reference rows without a clinic are visible to all; clinic rows only to their clinic."""
    return _policy(
        table,
        f"clinic_id IS NULL OR clinic_id = {CURRENT_CLINIC}",
        check=f"clinic_id = {CURRENT_CLINIC}",
    )


def scoped_or_platform_policy(table: str) -> list[str]:
    """Rows of the current clinic, or - for callers with no clinic - rows without one."""
    return _policy(table, f"clinic_id IS NOT DISTINCT FROM {CURRENT_CLINIC}")


def _policy(table: str, using: str, check: str | None = None) -> list[str]:
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_isolation ON {table} USING ({using}) WITH CHECK ({check or using})",
        f"CREATE POLICY {table}_system ON {table} TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)",
    ]


def append_only(table: str) -> list[str]:
    """Refuse UPDATE, DELETE and TRUNCATE, for every role including the owner."""
    return [
        f"""CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{table} is append-only'; END $$""",
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
    ]
