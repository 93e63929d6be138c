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
# `make test-citus`: HOST is the coordinator and these are its workers ("host:port,host:port").
CITUS_WORKERS = tuple(
    worker for worker in os.environ.get("ALLIANCE_TEST_CITUS_WORKERS", "").split(",") if worker
)


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


def is_citus() -> bool:
    return bool(CITUS_WORKERS)


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
        for admin_url in _admin_urls():
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}"')
    except psycopg.OperationalError as exc:
        postgres_unavailable(str(exc).strip().splitlines()[0])
    if is_citus():
        _join_citus(name)
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
    for admin_url in _admin_urls():
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_urls(database: str = "postgres") -> list[str]:
    """The superuser on every node: the coordinator (or plain server) first, then workers."""
    coordinator = ADMIN_URL.rsplit("/", 1)[0] + "/" + database
    user = coordinator.split("//", 1)[1].split("@", 1)[0]
    return [coordinator, *(f"postgresql://{user}@{worker}/{database}" for worker in CITUS_WORKERS)]


def node_url(node: str, db: TestDatabase, role: str = APP_ROLE) -> str:
    """A connection straight to one Citus node's copy of the database, as `role`."""
    return f"postgresql://{role}@{node}/{db.app_url.rsplit('/', 1)[1]}"


def _join_citus(name: str) -> None:
    """Citus keeps its extension and node list per database: install it on every node's copy,
    then tell the coordinator where it and its workers are. The migrations distribute."""
    urls = _admin_urls(name)
    for url in urls:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as node:
            node.execute("CREATE EXTENSION IF NOT EXISTS citus")
    host, port = HOST.rsplit(":", 1)
    with psycopg.connect(urls[0], autocommit=True, connect_timeout=5) as coordinator:
        coordinator.execute("SELECT citus_set_coordinator_host(%s, %s)", (host, int(port)))
        for worker in CITUS_WORKERS:
            worker_host, worker_port = worker.rsplit(":", 1)
            coordinator.execute("SELECT citus_add_node(%s, %s)", (worker_host, int(worker_port)))
