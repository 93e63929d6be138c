"""emails are rendered when the worker sends them: the outbox keeps template and values

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("subject", "body_text", "body_html")


def upgrade() -> None:
    # Emails written before this change carry their body: they are already composed, and
    # the worker sends them as they are via the `prerendered` template.
    op.execute(
        """
        UPDATE outbox_messages
        SET payload = (payload::jsonb || jsonb_build_object(
            'template', 'prerendered',
            'values', jsonb_build_object(
                'subject', coalesce(subject, ''),
                'text', coalesce(body_text, ''),
                'html', coalesce(body_html, '')
            )
        ))::json
        WHERE channel = 'email' AND status = 'pending'
        """
        if op.get_bind().dialect.name == "postgresql"
        else """
        UPDATE outbox_messages
        SET payload = json_patch(payload, json_object(
            'template', 'prerendered',
            'values', json_object(
                'subject', coalesce(subject, ''),
                'text', coalesce(body_text, ''),
                'html', coalesce(body_html, '')
            )
        ))
        WHERE channel = 'email' AND status = 'pending'
        """
    )
    with op.batch_alter_table("outbox_messages") as batch:
        for column in COLUMNS:
            batch.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("subject", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("body_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("body_html", sa.Text(), nullable=True))
