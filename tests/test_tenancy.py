"""Tenant isolation proven in the database itself, for every clinic-owned table.

The tables are enumerated from the models, so a table added later is covered without
touching this file. Rows are written as the superuser (which bypasses row-level security);
reads and writes are then made as the app role, the way the service connects.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import service.models  # noqa: F401 - registers every model
from service.core import context, crypto
from service.db.base import Base, tenant_tables
from service.db.rls import SYSTEM_ROLE
from service.db.session import scope_statement
from tests import database
from tests.sample_rows import SampleWriter

pytestmark = [pytest.mark.postgres_only, pytest.mark.committed]  # other processes and engines

TENANT_TABLES = [table.name for table in tenant_tables()]


@pytest.fixture(scope="module")
def engines(test_db, settings):
    # No app is built here, yet sample rows fill sealed columns: seal them with the test keys.
    crypto.configure(settings.data_keys, settings.key_encryption_keys)
    superuser = sa.create_engine(test_db.app_url.replace(f"{database.APP_ROLE}@", "postgres@"))
    app_role = sa.create_engine(test_db.app_url)
    yield superuser, app_role
    superuser.dispose()
    app_role.dispose()


@pytest.fixture(scope="module")
def two_clinics(engines):
    superuser, _ = engines
    ids = []
    with superuser.begin() as connection:
        for _ in range(2):
            clinic_id = uuid.uuid4()
            connection.execute(
                sa.text(
                    "INSERT INTO clinics (id, name, slug, timezone, locale, cors_origins, "
                    "feedback_settings, email_policy, version, created_at, updated_at) VALUES "
                    "(:id, 'Tenancy test', :slug, 'UTC', 'en', '[]', '{}', '{}', 1, now(), now())"
                ),
                {"id": clinic_id, "slug": f"tenancy-{clinic_id.hex[:12]}"},
            )
            ids.append(clinic_id)
        writer = SampleWriter(connection, Base.metadata, ids[0])
        for name in TENANT_TABLES:
            writer.row_for(Base.metadata.tables[name])
    return ids[0], ids[1], writer


def _as_clinic(connection: sa.Connection, clinic_id: uuid.UUID) -> None:
    connection.exec_driver_sql(scope_statement(context.RequestContext(clinic_id=clinic_id)))


def test_every_tenant_table_is_found_and_has_rls():
    assert {"staff_members", "audit_events"} <= set(TENANT_TABLES)


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_select_in_another_clinic_sees_no_rows_of_this_clinic(engines, two_clinics, table):
    _, app_role = engines
    clinic_a, clinic_b, _ = two_clinics
    count_a = sa.text(f"SELECT count(*) FROM {table} WHERE clinic_id = :a")  # noqa: S608
    with app_role.begin() as connection:
        _as_clinic(connection, clinic_a)
        assert connection.scalar(count_a, {"a": clinic_a}) >= 1, "sample row must be visible"
    with app_role.begin() as connection:
        _as_clinic(connection, clinic_b)
        assert connection.scalar(count_a, {"a": clinic_a}) == 0
        everything = connection.execute(sa.text(f"SELECT clinic_id FROM {table}")).scalars()  # noqa: S608
        assert clinic_a not in set(everything)
    with app_role.begin() as connection:  # no clinic at all: nothing
        assert connection.scalar(sa.text(f"SELECT count(*) FROM {table}")) == 0  # noqa: S608


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_the_app_role_cannot_turn_rls_off_with_the_old_system_setting(engines, two_clinics, table):
    """Issue 12: every policy once ended in `OR current_setting('app.system') = 'on'`, which
    the app role could set itself (one SQL injection away from every clinic's rows)."""
    _, app_role = engines
    clinic_a, clinic_b, _ = two_clinics
    with app_role.begin() as connection:
        _as_clinic(connection, clinic_b)
        connection.execute(sa.text("SELECT set_config('app.system', 'on', true)"))
        seen = set(connection.execute(sa.text(f"SELECT clinic_id FROM {table}")).scalars())  # noqa: S608
    assert clinic_a not in seen


def test_the_app_role_cannot_become_the_system_role(engines):
    _, app_role = engines
    with app_role.connect() as connection, pytest.raises(DBAPIError, match="permission denied"):
        connection.execute(sa.text(f'SET ROLE "{SYSTEM_ROLE}"'))


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_the_system_role_sees_every_clinics_rows_with_no_setting(test_db, two_clinics, table):
    clinic_a, _, _ = two_clinics
    system_role = sa.create_engine(test_db.system_url)
    try:
        with system_role.begin() as connection:
            seen = set(connection.execute(sa.text(f"SELECT clinic_id FROM {table}")).scalars())  # noqa: S608
    finally:
        system_role.dispose()
    assert clinic_a in seen


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_insert_of_another_clinics_row_is_refused(engines, two_clinics, table):
    _, app_role = engines
    _, clinic_b, writer = two_clinics
    row = writer.build(Base.metadata.tables[table])  # a clinic-A row with fresh unique values
    with app_role.connect() as connection, connection.begin():
        _as_clinic(connection, clinic_b)
        with pytest.raises(DBAPIError, match="row-level security"):
            connection.execute(sa.insert(Base.metadata.tables[table]).values(row))


def test_clinics_table_shows_only_the_own_clinic(engines, two_clinics):
    _, app_role = engines
    _, clinic_b, _ = two_clinics
    with app_role.begin() as connection:
        _as_clinic(connection, clinic_b)
        seen = set(connection.execute(sa.text("SELECT id FROM clinics")).scalars())
    assert seen == {clinic_b}


def test_app_role_neither_owns_tables_nor_bypasses_rls(engines):
    _, app_role = engines
    with app_role.connect() as connection:
        role = connection.execute(
            sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        owned = connection.scalar(
            sa.text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        )
    assert tuple(role) == (False, False)
    assert owned == 0


def test_audit_events_are_append_only_even_for_the_owner(test_db, engines, two_clinics):
    clinic_a, _, _ = two_clinics
    owner = sa.create_engine(test_db.owner_url)
    try:
        for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
            with owner.connect() as connection, connection.begin():
                _as_clinic(connection, clinic_a)
                with pytest.raises(DBAPIError, match="append-only"):
                    connection.execute(sa.text(statement))
    finally:
        owner.dispose()


def test_the_transaction_scope_is_sent_only_for_a_real_clinic_id():
    clinic_id = uuid.uuid4()
    assert scope_statement(context.RequestContext(clinic_id=clinic_id)) == (
        f"SET LOCAL app.clinic_id = '{clinic_id}'"
    )
    forged = context.RequestContext(clinic_id="x'; RESET ROLE; --")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        scope_statement(forged)
