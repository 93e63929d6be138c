"""the built-in SAC-8 in Spanish too: its title, items and anchors get their Spanish texts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-15 09:00:00

A translation, not a new version: the items' keys, scales and meaning stay as answered, so
version 1 keeps its id and its answers. Databases migrated before this have the English-only
row that 0003 inserted; this writes the catalog's texts over it. Downgrade keeps English only.
"""

import sqlalchemy as sa
from alembic import op

from service.instruments.catalog import SAC8, SAC8_ID

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INSTRUMENTS = sa.table(
    "instruments",
    sa.column("id", sa.Uuid()),
    sa.column("clinic_id", sa.Uuid()),
    sa.column("title", sa.JSON()),
    sa.column("items", sa.JSON()),
)


def upgrade() -> None:
    _write(SAC8["title"], SAC8["items"])


def downgrade() -> None:
    english = lambda texts: {"en": texts["en"]}  # noqa: E731
    items = [
        {
            **item,
            "text": english(item["text"]),
            "anchors": {end: english(texts) for end, texts in item["anchors"].items()},
        }
        for item in SAC8["items"]
    ]
    _write(english(SAC8["title"]), items)


def _write(title: dict, items: list) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # A reference row (no clinic): row-level security lets only the system role write it,
        # and binds even the owner (FORCE). The owner lifts that for this one statement, inside
        # the migration's transaction.
        op.execute("ALTER TABLE instruments NO FORCE ROW LEVEL SECURITY")
    op.execute(
        INSTRUMENTS.update()
        .where(INSTRUMENTS.c.id == SAC8_ID, INSTRUMENTS.c.clinic_id.is_(None))
        .values(title=title, items=items)
    )
    if postgres:
        op.execute("ALTER TABLE instruments FORCE ROW LEVEL SECURITY")
