from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from tests import database
from tests.loopback import free_port

pytest_plugins = ["tests.fixtures", "tests.mail", "tests.browsers"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The SQLite run proves the embedded default `make run` uses: it runs the tests that reach
    the database and are not PostgreSQL-only. Tests that never touch a database, and the
    contract fuzzing (`backend_neutral`), already ran in the PostgreSQL pass: they are
    deselected, so the SQLite pass spends its time on what differs between the backends."""
    if not database.is_citus():  # the Citus checks need `make test-citus`'s cluster
        citus = [item for item in items if item.get_closest_marker("citus")]
        config.hook.pytest_deselected(items=citus)
        items[:] = [item for item in items if not item.get_closest_marker("citus")]
    if database.backend() != "sqlite":
        return
    kept, dropped = [], []
    for item in items:
        portable = "postgres_only" not in item.keywords and "backend_neutral" not in item.keywords
        (kept if portable and "app" in getattr(item, "fixturenames", ()) else dropped).append(item)
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept


# Fixtures whose code reaches the database from another thread or process: tests that use them
# need real commits.
COMMITTING = frozenset({"live_server"})


@pytest.fixture(autouse=True)
def rolled_back(request: pytest.FixtureRequest) -> Iterator[None]:
    """Most tests run inside one PostgreSQL transaction that is rolled back at the end (every
    unit of work in it is a savepoint): fast, and nothing they write outlives them. A test that
    reaches the database from elsewhere (a live server, worker processes, its own engines: those
    using COMMITTING fixtures, `test_db` itself, or marked `committed`) commits for real.

    The app's sessions and the system context's sessions share that one transaction, so each
    savepoint takes the role its session would log in as (`SET LOCAL ROLE`); the connection is
    the superuser's only because no other role may become both. On Citus every test commits:
    the coordinator replays a transaction's role switches on each worker connection it opens as
    the current role, and neither role may become the other there."""
    if (
        database.backend() != "postgresql"
        or database.is_citus()
        or "app" not in request.fixturenames
        or COMMITTING & set(request.fixturenames)
        or "test_db" in inspect.signature(request.function).parameters
        or request.node.get_closest_marker("committed")
    ):
        yield
        return
    from sqlalchemy.orm import sessionmaker

    from service.db import uow
    from service.db.rls import SYSTEM_ROLE

    request.getfixturevalue("app")
    db = uow.database()
    with request.getfixturevalue("harness_engine").connect() as connection:
        outer = connection.begin()
        connection.exec_driver_sql(f'SET LOCAL ROLE "{database.APP_ROLE}"')
        real = db.sessions, db.system_sessions
        db.sessions, db.system_sessions = (
            sessionmaker(
                bind=connection,
                class_=_role_switching_session(),
                expire_on_commit=False,
                join_transaction_mode="create_savepoint",
                info={"role": role},
            )
            for role in (database.APP_ROLE, SYSTEM_ROLE)
        )
        try:
            yield
        finally:
            db.sessions, db.system_sessions = real
            outer.rollback()


@pytest.fixture(scope="session")
def harness_engine(test_db: database.TestDatabase):
    import sqlalchemy as sa

    engine = sa.create_engine(database.superuser_url(test_db), hide_parameters=True)
    yield engine
    engine.dispose()


@functools.cache
def _role_switching_session() -> type:
    from sqlalchemy import event

    from service.db.session import TenantSession

    class Switching(TenantSession):
        """A test session sharing the rolled-back transaction, as the role it stands for."""

    @event.listens_for(Switching, "after_begin")
    def _take_role(session, _transaction, connection) -> None:
        connection.exec_driver_sql(f'SET LOCAL ROLE "{session.info["role"]}"')

    return Switching


@pytest.fixture(scope="session")
def test_db(worker_id: str) -> Iterator[database.TestDatabase]:
    if database.backend() == "sqlite":
        yield database.create_sqlite(worker_id)
        return
    db = database.create_postgres(worker_id)
    yield db
    database.drop_postgres(db)  # WITH (FORCE): open pool connections do not block it


@pytest.fixture(scope="session")
def server_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def settings(test_db: database.TestDatabase, server_port: int, tmp_path_factory):
    from service.settings import Settings

    return Settings(
        env="test",
        database_url=test_db.app_url,
        system_database_url=test_db.system_url,
        migration_database_url=test_db.owner_url,
        base_url=f"http://127.0.0.1:{server_port}",
        # Limits stay on (as in production) but generous; tests/test_rate_limits.py lowers them.
        login_rate_limit="100000 per minute",
        token_rate_limit="100000 per minute",
        directory_rate_limit="100000 per minute",
        feedback_form_rate_limit="100000 per minute",
        log_level="WARNING",
        cors_origins=("https://frontend.example",),
        export_dir=str(tmp_path_factory.mktemp("fhir-exports")),
    )


@pytest.fixture(scope="session")
def app(settings):
    from service import create_app

    application = create_app(settings)
    application.testing = True
    return application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(app, server_port: int) -> Iterator[str]:
    """The app over real HTTP on loopback (threaded), for real clients and browsers."""
    server = make_server("127.0.0.1", server_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server_port}"
    server.shutdown()


@pytest.fixture
def travel():
    """The process's clock, moved forward by hand: `travel.advance(timedelta(...))`."""
    from service.core import clock

    with clock.using(clock.TravelClock()) as travelling:
        yield travelling
