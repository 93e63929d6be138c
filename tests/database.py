"""Test databases: one PostgreSQL database per xdist worker, built by the real migrations.

The suite connects as the non-owner app role (so row-level security applies), as the system
role for the system context, and migrates as the owner role, exactly as production does.
`make test` creates the three roles (scripts/ensure-postgres.sh).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import psycopg
import pytest
from alembic import command
from alembic.config import Config

from service.db.rls import SYSTEM_ROLE
from service.settings import ROOT

ADMIN_URL = os.environ.get(
    "ALLIANCE_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
OWNER_ROLE = os.environ.get("ALLIANCE_TEST_PG_OWNER", "alliance_owner")
APP_ROLE = os.environ.get("ALLIANCE_DB_APP_ROLE", "alliance_app")
HOST = os.environ.get("ALLIANCE_TEST_PG_HOST", "127.0.0.1:5432")


@dataclass(frozen=True)
class TestDatabase:
    app_url: str
    owner_url: str
    backend: str  # "postgresql" or "sqlite"
    system_url: str = ""

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"


def backend() -> str:
    return os.environ.get("ALLIANCE_TEST_DB", "postgresql")


def postgres_unavailable(reason: str) -> None:
    """Postgres-only tests fail under CI=true instead of skipping silently."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unreachable: {reason}")


def migrate(url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    command.upgrade(config, "head")


def create_postgres(worker: str) -> TestDatabase:
    # The pid keeps two runs on one machine (or two developers' sessions) apart.
    name = f"alliance_test_{worker}_{os.getpid()}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}"')
    except psycopg.OperationalError as exc:
        postgres_unavailable(str(exc).strip().splitlines()[0])
    owner_url = f"postgresql://{OWNER_ROLE}@{HOST}/{name}"
    migrate(owner_url)
    return TestDatabase(
        f"postgresql://{APP_ROLE}@{HOST}/{name}",
        owner_url,
        "postgresql",
        system_url=f"postgresql://{SYSTEM_ROLE}@{HOST}/{name}",
    )


def create_sqlite(worker: str) -> TestDatabase:
    path = os.path.join(tempfile.mkdtemp(prefix="alliance-"), f"{worker}.db")
    url = f"sqlite:///{path}"
    migrate(url)
    return TestDatabase(url, url, "sqlite", system_url=url)


def superuser_url(db: TestDatabase) -> str:
    """The same database as the superuser (seeding benches: no row-level security)."""
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + db.app_url.rsplit("/", 1)[1]


def drop_postgres(db: TestDatabase) -> None:
    name = db.app_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
