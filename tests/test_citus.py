"""The schema really is distributed on Citus, and the tenant boundary holds on the workers.

Runs only in `make test-citus` (a coordinator and two workers: scripts/citus-cluster.sh); the
other runs deselect it (tests/conftest.py). There it fails, never skips, when the cluster
cannot be reached. The rest of the suites `make test-citus` runs prove the service works on the
cluster; this file proves the cluster is what it claims to be.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa

import service.models  # noqa: F401 - registers every model
from service.core import context
from service.db.base import Base, tenant_tables
from service.db.session import scope_statement
from tests import database

pytestmark = [pytest.mark.citus, pytest.mark.committed]

TENANT_TABLES = {table.name for table in tenant_tables()}


@pytest.fixture(scope="module")
def coordinator(test_db):
    engine = sa.create_engine(database.superuser_url(test_db))
    yield engine
    engine.dispose()


def _citus_tables(coordinator: sa.Engine) -> dict[str, tuple[str, str, int]]:
    with coordinator.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT table_name::text, citus_table_type, distribution_column, colocation_id "
                "FROM citus_tables"
            )
        )
        return {name: (kind, column, colocation) for name, kind, column, colocation in rows}


def test_every_tenant_table_is_distributed_by_clinic_and_colocated(coordinator):
    tables = _citus_tables(coordinator)
    distributed = {name: value for name, value in tables.items() if value[0] == "distributed"}
    assert set(distributed) == TENANT_TABLES
    assert {column for _, column, _ in distributed.values()} == {"clinic_id"}
    assert len({colocation for _, _, colocation in distributed.values()}) == 1


def test_every_shared_table_is_a_reference_table(coordinator):
    tables = _citus_tables(coordinator)
    shared = set(Base.metadata.tables) - TENANT_TABLES
    assert {name for name, value in tables.items() if value[0] == "reference"} == shared


def test_shards_are_spread_over_both_workers(coordinator):
    with coordinator.connect() as connection:
        nodes = connection.execute(
            sa.text(
                "SELECT DISTINCT nodeport FROM citus_shards WHERE table_name = 'couples'::regclass"
            )
        ).scalars()
        assert set(nodes) == {int(worker.rsplit(":", 1)[1]) for worker in database.CITUS_WORKERS}


@pytest.fixture(scope="module")
def two_clinics_on_one_shard(coordinator):
    """Two clinics whose rows hash to the same shard of `events`, each with one event."""
    with coordinator.begin() as connection:
        first = uuid.uuid4()
        shard = connection.scalar(
            sa.text("SELECT get_shard_id_for_distribution_column('events', :c)"), {"c": first}
        )
        second = connection.scalar(
            sa.text(
                "SELECT candidate FROM (SELECT gen_random_uuid() AS candidate "
                "FROM generate_series(1, 5000)) AS c "
                "WHERE get_shard_id_for_distribution_column('events', candidate) = :shard "
                "AND candidate <> :first LIMIT 1"
            ),
            {"shard": shard, "first": first},
        )
        for clinic_id in (first, second):
            connection.execute(
                sa.text(
                    "INSERT INTO clinics (id, name, slug, timezone, locale, cors_origins, "
                    "feedback_settings, email_policy, version, created_at, updated_at) VALUES "
                    "(:id, 'Shard test', :slug, 'UTC', 'en', '[]', '{}', '{}', 1, now(), now())"
                ),
                {"id": clinic_id, "slug": f"shard-{clinic_id.hex[:12]}"},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO events (id, clinic_id, topic, payload, created_at) "
                    "VALUES (gen_random_uuid(), :c, 'test.shard', '{}', now())"
                ),
                {"c": clinic_id},
            )
        node = connection.execute(
            sa.text("SELECT nodename, nodeport FROM citus_shards WHERE shardid = :shard"),
            {"shard": shard},
        ).one()
    return first, second, f"events_{shard}", f"{node.nodename}:{node.nodeport}"


def _shard_clinics(node: str, test_db, shard: str, clinic_id: uuid.UUID | None) -> list:
    """The clinics of the rows the app role sees in one shard table, read on its worker."""
    with psycopg.connect(database.node_url(node, test_db)) as worker, worker.transaction():
        worker.execute(scope_statement(context.RequestContext(clinic_id=clinic_id)))
        return [row[0] for row in worker.execute(f"SELECT clinic_id FROM {shard}")]  # noqa: S608


def test_rls_on_a_worker_shard_shows_only_the_clinic_of_the_transaction(
    test_db, two_clinics_on_one_shard
):
    first, second, shard, node = two_clinics_on_one_shard
    assert node in database.CITUS_WORKERS  # the shard lives on a worker, not the coordinator
    with psycopg.connect(database.node_url(node, test_db, "postgres")) as superuser:
        stored = {row[0] for row in superuser.execute(f"SELECT clinic_id FROM {shard}")}  # noqa: S608
    assert {first, second} <= stored  # both clinics' rows are in this shard

    assert set(_shard_clinics(node, test_db, shard, first)) == {first}
    assert set(_shard_clinics(node, test_db, shard, second)) == {second}
    assert _shard_clinics(node, test_db, shard, None) == []


def test_the_clinic_setting_reaches_the_worker_through_the_coordinator(
    test_db, two_clinics_on_one_shard
):
    first, second, _, _ = two_clinics_on_one_shard
    read = "SELECT clinic_id FROM events WHERE clinic_id IN (%s, %s)"
    with psycopg.connect(test_db.app_url) as app, app.transaction():
        app.execute(scope_statement(context.RequestContext(clinic_id=first)))
        assert [row[0] for row in app.execute(read, (first, second))] == [first]
    with psycopg.connect(test_db.app_url) as app, app.transaction():  # why not set_config()
        app.execute("SELECT set_config('app.clinic_id', %s, true)", (str(first),))
        assert list(app.execute(read, (first, second))) == []
