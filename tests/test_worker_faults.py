"""The worker survives what breaks around it: a database that goes away, a job that raises,
an SMTP server that stops in the middle of a batch. Each failure is logged by exception class
only (never an address or a message), counted in a metric, and retried with backoff."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from service.core.clock import utcnow
from service.db import uow
from service.db.session import Database
from service.worker import jobs
from service.worker.__main__ import build

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
