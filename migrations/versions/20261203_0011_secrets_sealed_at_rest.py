"""secrets sealed at rest: signing keys, webhook secrets and what queued emails say

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:00:00

Signing keys' private JWKs and webhook secrets are encrypted with the key-encryption key;
queued and dead emails' values (their one-time links) move from `payload.values` into the
sealed `content` column, and sent emails lose theirs (purged: only the delivery record stays).
Existing plain values are encrypted here, with the keys of the environment the migration runs
in (the settings refuse to start production without them). Downgrade decrypts them back.
"""

import contextlib
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from alembic import op

from service.core.crypto import Sealer
from service.settings import Settings

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TENANT_TABLES = ("outbox_messages", "webhook_endpoints")
SEALED = {  # table -> its sealed columns, and whether each holds JSON
    "oauth_signing_keys": {"private_jwk": True},
    "webhook_endpoints": {"secret": False, "previous_secret": False},
}


def upgrade() -> None:
    data, keys = _sealers()
    with _all_rows():
        op.add_column("outbox_messages", sa.Column("content", sa.Text(), nullable=True))
        _retype(sa.Text())
        for table, columns in SEALED.items():
            for column in columns:
                _rewrite(table, column, keys.seal)
        _move_email_values(data)


def downgrade() -> None:
    data, keys = _sealers()
    with _all_rows():
        for table, columns in SEALED.items():
            for column in columns:
                _rewrite(table, column, keys.open)
        _restore_email_values(data)
        _retype(None)
        with op.batch_alter_table("outbox_messages") as batch:
            batch.drop_column("content")


def _sealers() -> tuple[Sealer, Sealer]:
    settings = Settings.from_env()
    data, keys = Sealer("data"), Sealer("key encryption")
    data.configure(settings.data_keys)
    keys.configure(settings.key_encryption_keys)
    return data, keys


@contextlib.contextmanager
def _all_rows() -> Iterator[None]:
    """The owner sees every clinic's rows (row-level security is forced on it otherwise);
    inside the migration's transaction, so no one else ever sees the gap."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TENANT_TABLES if postgres else ():
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    yield
    for table in TENANT_TABLES if postgres else ():
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _retype(sealed: sa.Text | None) -> None:
    """Sealed columns become text (`None`: back to what they were)."""
    with op.batch_alter_table("oauth_signing_keys") as batch:
        batch.alter_column(
            "private_jwk",
            type_=sealed or sa.JSON(),
            postgresql_using="private_jwk::text" if sealed else "private_jwk::json",
        )
    with op.batch_alter_table("webhook_endpoints") as batch:
        for column in ("secret", "previous_secret"):
            batch.alter_column(column, type_=sealed or sa.String(100))


def _rewrite(table: str, column: str, change: Callable[[str], str]) -> None:
    rows = sa.table(table, sa.column("id", sa.Uuid()), sa.column(column, sa.Text()))
    bind = op.get_bind()
    found = bind.execute(sa.select(rows.c.id, rows.c[column]).where(rows.c[column].is_not(None)))
    for row_id, value in found.all():
        bind.execute(sa.update(rows).where(rows.c.id == row_id).values({column: change(value)}))


OUTBOX = sa.table(
    "outbox_messages",
    sa.column("id", sa.Uuid()),
    sa.column("channel", sa.String()),
    sa.column("status", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("content", sa.Text()),
)


def _move_email_values(data: Sealer) -> None:
    bind = op.get_bind()
    emails = bind.execute(
        sa.select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.payload).where(OUTBOX.c.channel == "email")
    )
    for row_id, status, payload in emails.all():
        values = payload.pop("values", None)
        content = data.seal_json(values) if values is not None and status != "sent" else None
        bind.execute(
            sa.update(OUTBOX).where(OUTBOX.c.id == row_id).values(payload=payload, content=content)
        )


def _restore_email_values(data: Sealer) -> None:
    bind = op.get_bind()
    sealed = bind.execute(
        sa.select(OUTBOX.c.id, OUTBOX.c.payload, OUTBOX.c.content).where(
            OUTBOX.c.content.is_not(None)
        )
    )
    for row_id, payload, content in sealed.all():
        payload["values"] = data.open_json(content)
        bind.execute(sa.update(OUTBOX).where(OUTBOX.c.id == row_id).values(payload=payload))
