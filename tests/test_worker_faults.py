"""The worker survives what breaks around it: a database that goes away, a job that raises,
an SMTP server that stops in the middle of a batch. Each failure is logged by exception class
only (never an address or a message), counted in a metric, and retried with backoff."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from service.core import context
from service.core.clock import utcnow
from service.db import uow
from service.db.session import Database
from service.notifications import email as email_channel
from service.notifications.models import OutboxMessage
from service.worker import jobs
from service.worker.__main__ import build
from tests import database
from tests.loopback import free_port
from tests.test_worker import Inbox, enqueue, start_smtp, statuses

PHI = "ana.partner@home.example"


def failures(stage: str, error: str) -> float:
    sample = REGISTRY.get_sample_value(
        "alliance_worker_failures_total", {"stage": stage, "error": error}
    )
    return sample or 0.0


@pytest.fixture
def database_down(app):
    working = uow.database()
    unreachable = Database("postgresql://alliance_app@127.0.0.1:1/nowhere")
    uow.init(unreachable)
    yield
    uow.init(working)
    unreachable.dispose()


def test_the_loop_rides_out_a_database_outage_backing_off(app, settings, database_down, caplog):
    worker = build(settings)
    before = failures("loop", "OperationalError")
    with caplog.at_level(logging.WARNING):
        waits = [worker.step() for _ in range(4)]
    assert failures("loop", "OperationalError") == before + 4  # counted, never raised
    assert all(w > 0 for w in waits) and waits[-1] > waits[0]  # it backs off
    logged = [r for r in caplog.records if r.getMessage() == "worker loop failed"]
    assert len(logged) == 4 and {r.error for r in logged} == {"OperationalError"}
    assert all(r.exc_info is None for r in logged)  # no traceback: it may quote SQL values


def test_the_loop_resumes_when_the_database_is_back(app, settings):
    worker = build(settings)
    working = uow.database()
    unreachable = Database("postgresql://alliance_app@127.0.0.1:1/nowhere")
    uow.init(unreachable)
    try:
        assert worker.step() > 0
    finally:
        uow.init(working)
        unreachable.dispose()
    assert worker.step() in (0.0, worker.idle_sleep) and worker.backoff.failures == 0


def test_a_failing_job_is_retried_with_backoff_and_the_others_still_run(app, caplog):
    def broken(_now):
        raise ValueError(f"could not mail {PHI}")

    ran = []
    failing = jobs.Job("broken", timedelta(hours=1), broken, locked=False)
    healthy = jobs.Job("healthy", timedelta(hours=1), ran.append, locked=False)
    now = utcnow()
    before = failures("job", "ValueError")
    with caplog.at_level(logging.WARNING):
        assert jobs.run_due([failing, healthy], now) == ["healthy"]
    assert failures("job", "ValueError") == before + 1 and len(ran) == 1
    assert now < failing.retry_at <= now + timedelta(minutes=5)  # sooner than its hour
    assert not failing.due(now) and failing.due(failing.retry_at)
    [logged] = [r for r in caplog.records if r.getMessage() == "job failed"]
    assert (logged.job, logged.error) == ("broken", "ValueError")
    assert PHI not in caplog.text and logged.exc_info is None


def cut_connections(application_name: str) -> int:
    """What a database restart or a dropped network does to a process: its connections die."""
    with psycopg.connect(database.ADMIN_URL, autocommit=True) as admin:
        return admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            (application_name,),
        ).fetchone()[0]


def all_sent(clinic_id) -> bool:
    # The test's own checks share the worker's database, so a cut can end one of them too.
    try:
        return statuses(clinic_id) == Counter({"sent": 30})
    except sa.exc.OperationalError:
        return False


def smtp_failures(clinic_id) -> int:
    """The clinic's messages whose last attempt found no SMTP server (0 when the check's own
    connection was cut)."""
    try:
        with context.system_context("test check"), uow.unit_of_work() as session:
            return session.scalar(
                sa.select(sa.func.count()).where(
                    OutboxMessage.clinic_id == clinic_id,
                    OutboxMessage.last_error.like("SMTP connection failed%"),
                )
            )
    except sa.exc.OperationalError:
        return 0


@pytest.mark.postgres_only
@pytest.mark.committed
def test_a_batch_rides_out_its_database_connection_and_its_smtp_server_breaking(
    clinic, settings, test_db, travel
):
    """Thirty emails in one batch. After the 5th is accepted by the SMTP server the worker's
    database connections are cut, so that message's `sent` mark is lost; after the 10th the
    SMTP server stops and later starts again on the same port. Everything is delivered, each
    message once, except the 5th: twice, with the same Message-ID (at-least-once, DESIGN §9)."""
    name = f"alliance-worker-faults-{test_db.app_url.rsplit('/', 1)[1]}"
    port = free_port()
    enqueue(clinic.id, 30)
    inbox = Inbox()
    smtp = start_smtp(port, inbox)
    working, own = (
        uow.database(),
        Database(test_db.app_url, system_url=test_db.system_url, application_name=name),
    )
    uow.init(own)  # the worker's own connections, found by name, are the ones cut
    worker = build(
        dataclasses.replace(
            settings,
            smtp_host="127.0.0.1",
            smtp_port=port,
            worker_batch=30,
            worker_lease_seconds=60,
            worker_idle_seconds=0.05,
        )
    )
    send_email, accepted, unmarked = worker.senders["email"], [], []

    def breaking(message, message_settings):
        outcome = send_email(message, message_settings)
        if outcome.ok and message.clinic_id == clinic.id:
            accepted.append(message.id)
            if len(accepted) == 5:  # DATA accepted; marking it sent will fail
                assert cut_connections(name) >= 1
                unmarked.append(email_channel.message_id(message, message_settings))
            elif len(accepted) == 10:
                smtp.stop()  # the rest of the batch finds no server
                smtp_down.set()
        return outcome

    smtp_down = threading.Event()
    worker.senders["email"] = breaking
    database_failures = failures("loop", "OperationalError")
    loop = threading.Thread(target=worker.run, daemon=True)
    loop.start()
    restarted = False
    try:
        deadline = time.monotonic() + 90
        while not all_sent(clinic.id) and time.monotonic() < deadline:
            if smtp_down.is_set() and not restarted and smtp_failures(clinic.id) >= 3:
                smtp, restarted = start_smtp(port, inbox), True
            travel.advance(timedelta(minutes=1))  # leases run out, retries come due
            time.sleep(0.1)
    finally:
        worker.stop()
        loop.join(timeout=30)
        if restarted or not smtp_down.is_set():
            smtp.stop()
        uow.init(working)
        own.dispose()
    assert restarted and not loop.is_alive()
    assert failures("loop", "OperationalError") > database_failures  # counted, not raised
    assert statuses(clinic.id) == Counter({"sent": 30})
    received = inbox.ids(clinic.id)
    assert len(received) == 30  # nothing lost
    assert {mid: n for mid, n in received.items() if n > 1} == {unmarked[0]: 2}
