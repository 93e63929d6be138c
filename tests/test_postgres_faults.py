"""PostgreSQL faults: a restart under load (on a throwaway cluster of the test's own: the
shared server on 5432 is never stopped), a statement past the app role's timeout, a
transaction left idle, and the bulk export, which may legitimately run longer."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
import sqlalchemy as sa

from service.db import uow
from service.db.rls import SYSTEM_ROLE
from service.db.session import Database, Limits
from service.settings import ROOT
from tests import database, demo_api
from tests.loopback import free_port

pytestmark = pytest.mark.postgres_only
PG_BIN = Path(os.environ.get("ALLIANCE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
CLUSTER_PORTS = range(55432, 55440)


@dataclass
class Cluster:
    data: Path
    port: int

    def pg_ctl(self, *args: str) -> None:
        log = str(self.data / "server.log")
        _as_cluster_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", log, "-w", *args])

    def start(self) -> None:
        self.pg_ctl("-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def url(self, role: str, name: str = "postgres") -> str:
        return f"postgresql://{role}@127.0.0.1:{self.port}/{name}"


def _as_cluster_owner(command: list[str]) -> None:
    # initdb and pg_ctl refuse to run as root: as root, run them as the postgres user.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(prefix + command, check=True, capture_output=True, timeout=120)


def _free_cluster_port() -> int:
    for port in CLUSTER_PORTS:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.fail(f"no free port for a throwaway cluster in {CLUSTER_PORTS}")


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster of this test's own, with the suite's two roles
    (`scripts/ensure-postgres.sh`); deleted afterwards."""
    if not (PG_BIN / "initdb").exists():
        database.postgres_unavailable(f"no initdb in {PG_BIN} (ALLIANCE_TEST_PG_BIN)")
    data = Path(tempfile.mkdtemp(prefix="alliance-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    cluster = Cluster(data, _free_cluster_port())
    try:
        _as_cluster_owner(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ]
        )
        cluster.start()
        subprocess.run(
            [str(ROOT / "scripts" / "ensure-postgres.sh")],
            env={**os.environ, "ALLIANCE_TEST_PG_PORT": str(cluster.port)},
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # never started, or stopped
            cluster.stop()
        shutil.rmtree(data, ignore_errors=True)


class Load:
    """Clients reading, writing and asking /readyz in a loop; each answer kept with the phase
    of the test it was asked in."""

    def __init__(self, base: str, headers: dict[str, str], therapist_id: str) -> None:
        self.base, self.headers, self.therapist_id = base, headers, therapist_id
        self.phase = "before"
        self.answers: list[tuple[str, str, requests.Response]] = []
        self.stopping = threading.Event()

    def run(self, kind: str) -> None:
        while not self.stopping.is_set():
            asked = self.phase
            try:
                answer = self._ask(kind)
            except requests.RequestException as exc:  # no answer at all is a failure too
                pytest.fail(f"{kind} got no answer in phase {asked}: {exc}")
            # A request in flight while the phase changed belongs to neither phase.
            phase = asked if asked == self.phase else "changing"
            self.answers.append((phase, kind, answer))
            time.sleep(0.02)

    def _ask(self, kind: str) -> requests.Response:
        if kind == "ready":
            return requests.get(f"{self.base}/readyz", timeout=30)
        if kind == "read":
            return requests.get(f"{self.base}/v1/couples", headers=self.headers, timeout=30)
        body = {
            "label": "Restart test",
            "therapist_id": self.therapist_id,
            "partners": [{"display_name": "Ana"}, {"display_name": "Ben"}],
        }
        return requests.post(f"{self.base}/v1/couples", json=body, headers=self.headers, timeout=30)

    def statuses(self, phase: str, kind: str | None = None) -> set[int]:
        return {a.status_code for p, k, a in self.answers if p == phase and kind in (None, k)}

    def wait_for(self, phase: str, count: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while sum(1 for p, _, _ in self.answers if p == phase) < count:
            assert time.monotonic() < deadline, f"fewer than {count} answers in phase {phase}"
            time.sleep(0.05)


def test_a_database_restart_under_load_answers_503_while_down_and_no_500_ever(tmp_path):
    with throwaway_cluster() as cluster:
        admin = psycopg.connect(cluster.url("postgres"), autocommit=True)
        admin.execute(f'CREATE DATABASE alliance OWNER "{database.OWNER_ROLE}"')
        admin.close()
        db = database.TestDatabase(
            cluster.url(database.APP_ROLE, "alliance"),
            cluster.url(database.OWNER_ROLE, "alliance"),
            "postgresql",
            system_url=cluster.url(SYSTEM_ROLE, "alliance"),
        )
        database.migrate(db.owner_url)
        with demo_api.serving(db, free_port(), tmp_path, "pg-restart", WEB_CONCURRENCY="2") as api:
            token = demo_api.dev_token(api, "admin@harbor.example")
            headers = {"Authorization": f"Bearer {token}"}
            staff = requests.get(f"{api.base_url}/v1/staff", headers=headers, timeout=30).json()
            therapist_id = next(s["id"] for s in staff["items"] if s["role"] == "therapist")
            load = Load(api.base_url, headers, therapist_id)
            with ThreadPoolExecutor(3) as pool:
                clients = [pool.submit(load.run, kind) for kind in ("ready", "read", "write")]
                try:
                    load.wait_for("before", 30)
                    load.phase = "stopping"
                    cluster.stop()
                    load.phase = "down"
                    load.wait_for("down", 30)
                    load.phase = "starting"
                    cluster.start()
                    while requests.get(f"{api.base_url}/readyz", timeout=30).status_code != 200:
                        time.sleep(0.1)
                    load.phase = "back"
                    load.wait_for("back", 60)
                finally:
                    load.stopping.set()
                for client in clients:
                    client.result()  # re-raises a client's failure
    everything = {a.status_code for _, _, a in load.answers}
    assert 500 not in everything, everything
    assert load.statuses("before") == {200, 201}
    assert load.statuses("down") == {503}
    down = [a for p, _, a in load.answers if p == "down"]
    assert all(a.headers["Content-Type"] == "application/problem+json" for a in down)
    assert all(int(a.headers["Retry-After"]) > 0 for a in down)
    assert load.statuses("back", "ready") == {200}
    assert load.statuses("back", "read") == {200} and load.statuses("back", "write") == {201}
    in_between = ("stopping", "starting", "changing")
    assert set().union(*(load.statuses(p) for p in in_between)) <= {200, 201, 503}


def test_the_app_roles_connections_carry_the_timeouts(settings):
    configured = Database.from_settings(settings, application_name="alliance-test", pool_size=1)
    try:
        with configured.engine.connect() as connection:
            shown = {
                name: connection.exec_driver_sql(f"SHOW {name}").scalar()
                for name in ("statement_timeout", "idle_in_transaction_session_timeout")
            }
            name = connection.exec_driver_sql("SHOW application_name").scalar()
    finally:
        configured.dispose()
    assert shown == {"statement_timeout": "10s", "idle_in_transaction_session_timeout": "1min"}
    assert name == "alliance-test"


def test_a_transaction_left_idle_is_ended_by_the_server(test_db):
    short = Database(test_db.app_url, limits=Limits(idle_in_transaction_timeout_ms=200))
    try:
        with short.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            time.sleep(1)  # a request that forgot its transaction open
            with pytest.raises(sa.exc.DBAPIError) as ended:
                connection.execute(sa.text("SELECT 1"))
        assert ended.value.connection_invalidated  # seen as a lost connection: a 503, retried
        with short.engine.connect() as connection:  # the pool hands out a live one again
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        short.dispose()


@contextmanager
def table_locked(test_db, table: str) -> Iterator[psycopg.Connection]:
    """Another session (a migration, an operator) holds `table` exclusively until the block
    ends: every statement that touches it waits."""
    with psycopg.connect(database.superuser_url(test_db)) as holder:
        holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield holder
        holder.rollback()


def _waiting_on_a_lock(test_db, application_name: str, longer_than_ms: int) -> bool:
    with psycopg.connect(database.superuser_url(test_db), autocommit=True) as watcher:
        return watcher.execute(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = %s "
            "AND datname = current_database() AND wait_event_type = 'Lock' "
            "AND now() - query_start > %s * interval '1 millisecond'",
            (application_name, longer_than_ms),
        ).fetchone()[0]


@pytest.mark.committed
def test_past_the_statement_timeout_a_request_is_503_while_the_export_waits_on(
    settings, test_db, clinic
):
    """With a 300 ms statement timeout and the partners table locked by someone else: a
    request that reads partners is cancelled and answered 503 (not left hanging); the bulk
    export, whose statements may run for minutes, waits for the lock and completes."""
    from service import create_app
    from service.worker import jobs
    from service.worker.__main__ import build
    from tests.practice import new_couple

    working = uow.database()
    timeout_ms, name = 300, f"alliance-timeout-{test_db.app_url.rsplit('/', 1)[1]}"
    short = dataclasses.replace(settings, db_statement_timeout_ms=timeout_ms)
    app = create_app(short)
    uow.init(Database.from_settings(short, application_name=name, pool_size=2))
    try:
        client = app.test_client()
        admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
        new_couple(client, admin, therapist.id)
        reader = clinic.integrator("system/*.rs")
        kicked = client.get(
            "/fhir/R4/$export?_type=Patient",
            headers={**reader.headers, "Prefer": "respond-async"},
        )
        assert kicked.status_code == 202
        export_job = [job for job in build(short).jobs if job.name == "run_fhir_exports"]
        with table_locked(test_db, "partners"):
            cancelled = client.get("/v1/couples", headers=admin.headers)
            exporting = threading.Thread(target=jobs.run_due, args=(export_job,))
            exporting.start()
            deadline = time.monotonic() + 60
            while not _waiting_on_a_lock(test_db, name, 3 * timeout_ms):
                assert time.monotonic() < deadline and exporting.is_alive()
                time.sleep(0.05)
        exporting.join(timeout=60)
        status = client.get(
            "/" + kicked.headers["Content-Location"].split("/", 3)[3], headers=reader.headers
        )
    finally:
        uow.database().dispose()
        uow.init(working)
    assert cancelled.status_code == 503 and cancelled.mimetype == "application/problem+json"
    assert "took too long" in cancelled.json["detail"] and cancelled.headers["Retry-After"]
    assert status.status_code == 200, status.get_data(as_text=True)
    assert [item["type"] for item in status.json["output"]] == ["Patient"]
    assert status.json["output"][0]["count"] == 2


@pytest.mark.committed
def test_a_pooled_connection_the_server_ended_is_replaced_before_use(client, admin, test_db):
    assert client.get("/v1/couples", headers=admin.headers).status_code == 200  # one pooled
    with psycopg.connect(database.superuser_url(test_db), autocommit=True) as watcher:
        ended = watcher.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'alliance-api' AND datname = current_database()"
        ).fetchone()[0]
    assert ended >= 1
    assert client.get("/v1/couples", headers=admin.headers).status_code == 200
