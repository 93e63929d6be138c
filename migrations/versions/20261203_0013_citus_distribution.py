"""keys that include clinic_id; on Citus, the schema distributed by clinic

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 13:00:00

Citus distributes a table by one column and enforces only the primary and unique keys that
contain it. Every tenant table's primary key becomes (clinic_id, id) (it was id, with a
separate UNIQUE (clinic_id, id) that the composite foreign keys referenced: they now reference
the key), and the one-time token digests are unique per clinic, digest first, so a lookup by
digest alone still uses the index. The digests are 256-bit random secrets: global uniqueness
was never at risk.

When the citus extension is installed in the database (the operator creates it and adds the
worker nodes first: README "Running on Citus"), the tenant tables are then distributed by
clinic_id, all colocated (one clinic's rows on one node, its foreign keys checked there), and
the shared tables become reference tables (a copy on every node). Without Citus (plain
PostgreSQL, SQLite) only the keys change.
"""

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Parents before children: the order create_distributed_table colocates them in.
TENANT_TABLES = (
    "staff_members",
    "couples",
    "partners",
    "partner_identifiers",
    "therapy_sessions",
    "feedback_requests",
    "feedback_responses",
    "alert_policies",
    "alerts",
    "alert_occurrences",
    "oauth_authorization_codes",
    "oauth_refresh_tokens",
    "web_sessions",
    "outbox_messages",
    "events",
    "webhook_endpoints",
    "fhir_export_jobs",
    "fhir_external_ids",
    "audit_events",
)
# Looked up before the clinic is known, or shared by every clinic.
REFERENCE_TABLES = (
    "clinics",
    "instruments",
    "oauth_clients",
    "oauth_signing_keys",
    "oauth_client_assertion_jtis",
    "oauth_revoked_access_tokens",
    "idempotency_keys",
)
DIGESTS = {
    "staff_members": "invite_token_hash",
    "oauth_authorization_codes": "code_hash",
    "oauth_refresh_tokens": "token_hash",
    "web_sessions": "token_hash",
    "feedback_requests": "token_hash",
}


def upgrade() -> None:
    with _foreign_keys_set_aside():
        for table in TENANT_TABLES:
            with op.batch_alter_table(table) as batch:
                batch.drop_constraint(f"uq_{table}_clinic_id_id", type_="unique")
                batch.drop_constraint(f"pk_{table}", type_="primary")
                batch.create_primary_key(f"pk_{table}", ["clinic_id", "id"])
                if table in DIGESTS:
                    digest = DIGESTS[table]
                    batch.drop_constraint(f"uq_{table}_{digest}", type_="unique")
                    batch.create_unique_constraint(
                        f"uq_{table}_{digest}_clinic_id", [digest, "clinic_id"]
                    )
        if _citus():
            _distribute()


def downgrade() -> None:
    if _citus():
        raise RuntimeError(
            "0013 cannot be undone on Citus: undistribute the tables first "
            "(SELECT undistribute_table(...) for each, reference tables last)"
        )
    with _foreign_keys_set_aside():
        for table in TENANT_TABLES:
            with op.batch_alter_table(table) as batch:
                if table in DIGESTS:
                    digest = DIGESTS[table]
                    batch.drop_constraint(f"uq_{table}_{digest}_clinic_id", type_="unique")
                    batch.create_unique_constraint(f"uq_{table}_{digest}", [digest])
                batch.drop_constraint(f"pk_{table}", type_="primary")
                batch.create_primary_key(f"pk_{table}", ["id"])
                batch.create_unique_constraint(f"uq_{table}_clinic_id_id", ["clinic_id", "id"])


@contextlib.contextmanager
def _foreign_keys_set_aside() -> Iterator[None]:
    """On PostgreSQL, every foreign key is dropped for the block and added back after it:
    the composite ones depend on the unique index being replaced, and Citus accepts foreign
    keys between distributed and reference tables only once both are distributed. SQLite
    rebuilds each table with its foreign keys (batch mode): nothing to set aside there."""
    bind = op.get_bind()
    keys = []
    if bind.dialect.name == "postgresql":
        keys = list(
            bind.execute(
                sa.text(
                    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                    "FROM pg_constraint WHERE contype = 'f' "
                    "AND connamespace = 'public'::regnamespace ORDER BY conrelid, conname"
                )
            )
        )
    for table, name, _definition in keys:
        op.drop_constraint(name, table, type_="foreignkey")
    yield
    for table, name, definition in keys:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def _citus() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == "postgresql" and bool(
        bind.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
    )


def _distribute() -> None:
    # DDL on distributed tables after other DDL in this transaction must use one connection
    # per node; the append-only triggers of audit_events are kept on its shards.
    op.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
    op.execute("SET LOCAL citus.enable_unsafe_triggers = on")
    # Rows already there are copied to the shards with COPY, which forced row-level security
    # refuses even to the owner: it is lifted for the copy only.
    forced = op.get_bind().scalars(
        sa.text(
            "SELECT relname::text FROM pg_class WHERE relforcerowsecurity "
            "AND relnamespace = 'public'::regnamespace ORDER BY relname"
        )
    ).all()
    for table in forced:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    for table in REFERENCE_TABLES:
        op.execute(f"SELECT create_reference_table('{table}')")
    first = TENANT_TABLES[0]
    op.execute(f"SELECT create_distributed_table('{first}', 'clinic_id')")
    for table in TENANT_TABLES[1:]:
        op.execute(
            f"SELECT create_distributed_table('{table}', 'clinic_id', colocate_with => '{first}')"
        )
    for table in forced:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    # The tenant setting is sent as `SET LOCAL app.clinic_id` (service/db/session.py); Citus
    # forwards such settings to the worker nodes only with this on.
    op.execute(
        "DO $$ BEGIN EXECUTE format("
        "'ALTER DATABASE %I SET citus.propagate_set_commands = ''local''', current_database()"
        "); END $$"
    )
