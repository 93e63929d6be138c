"""TOTP second factor: per staff member (sealed secret), and a clinic setting to require it

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 15:00:00

Columns on existing tables, so row-level security, the composite keys and the Citus
distribution of staff_members stay as they are (Citus adds a column to every shard). The
secret is a Fernet token under the key-encryption key (service.db.sealed), never readable;
nothing is there to encrypt yet, so no data moves.
"""

import sqlalchemy as sa
from alembic import op

import service.db.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_members") as batch:
        batch.add_column(sa.Column("totp_secret", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "totp_confirmed_at", service.db.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(
            sa.Column(
                "require_second_factor", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.drop_column("require_second_factor")
    with op.batch_alter_table("staff_members") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_confirmed_at")
        batch.drop_column("totp_secret")
