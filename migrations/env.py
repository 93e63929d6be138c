"""Alembic environment: migrations run as the owner role; afterwards the app role and the
system role are granted data access (never ownership). The schema is only ever built by these
migrations."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from service.db.rls import SYSTEM_ROLE
from service.models import metadata
from service.settings import Settings

APP_ROLE = os.environ.get("ALLIANCE_DB_APP_ROLE", "alliance_app")


def _url() -> str:
    configured = context.config.attributes.get("url")
    return configured or Settings.from_env().owner_database_url


def grant_serving_roles(connection: sa.Connection) -> None:
    for name in (APP_ROLE, SYSTEM_ROLE):
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}
        )
        if exists:
            _grant_data_access(connection, connection.dialect.identifier_preparer.quote(name))


def _grant_data_access(connection: sa.Connection, role: str) -> None:
    connection.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {role}"))
    connection.execute(
        sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
    )
    for table, privileges in (
        ("audit_events", "UPDATE, DELETE, TRUNCATE"),
        ("alembic_version", "ALL"),
    ):
        if connection.scalar(sa.text("SELECT to_regclass(:t)"), {"t": f"public.{table}"}):
            connection.execute(sa.text(f"REVOKE {privileges} ON {table} FROM {role}"))


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    url = _url()
    if url.startswith("sqlite"):
        os.makedirs(os.path.dirname(url.removeprefix("sqlite:///")) or ".", exist_ok=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            compare_type=True,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
            if connection.dialect.name == "postgresql":
                grant_serving_roles(connection)


if context.is_offline_mode():
    run_offline()
else:
    run_online()
