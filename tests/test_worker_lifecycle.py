"""The worker as an orchestrator runs it (a real `python -m service.worker` process): its
liveness probe, its own metrics port, and a SIGTERM that lets the message in hand finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import requests
import sqlalchemy as sa

from service.core import context
from service.db import uow
from service.notifications.models import OutboxMessage
from service.settings import ROOT
from tests.loopback import free_port
from tests.test_metrics import sample
from tests.test_worker import Inbox, enqueue, start_smtp, statuses

pytestmark = [pytest.mark.postgres_only, pytest.mark.committed]  # another process delivers

QUEUED = 40  # at half a second each: the worker is still busy when SIGTERM comes
TOKEN = "worker-scraper-token-0123456789"


def worker_env(test_db, tmp_path, smtp_port: int, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALLIANCE_")},
        "ALLIANCE_ENV": "test",
        "ALLIANCE_DATABASE_URL": test_db.app_url,
        "ALLIANCE_SYSTEM_DATABASE_URL": test_db.system_url,
        "ALLIANCE_SMTP_HOST": "127.0.0.1",
        "ALLIANCE_SMTP_PORT": str(smtp_port),
        "ALLIANCE_WORKER_IDLE_SECONDS": "0.05",
        "ALLIANCE_WORKER_HEARTBEAT_FILE": str(tmp_path / "worker.alive"),
        "ALLIANCE_WORKER_ALIVE_SECONDS": "30",
        "ALLIANCE_LOG_LEVEL": "WARNING",
        **extra,
    }


def alive(env: dict[str, str]) -> int:
    probe = [sys.executable, "-m", "service.worker", "--alive"]
    return subprocess.run(probe, cwd=ROOT, env=env, timeout=60).returncode


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        time.sleep(0.05)


def attempts(clinic_id) -> Counter:
    """(status, attempts, still leased) of the clinic's messages."""
    with context.system_context("test check"), uow.unit_of_work() as session:
        rows = session.execute(
            sa.select(
                OutboxMessage.status,
                OutboxMessage.attempts,
                OutboxMessage.lease_until.is_not(None),
            ).where(OutboxMessage.clinic_id == clinic_id)
        )
        return Counter(tuple(row) for row in rows)


def test_sigterm_finishes_the_message_in_hand_and_the_probes_see_it(clinic, test_db, tmp_path):
    smtp_port, metrics_port = free_port(), free_port()
    env = worker_env(
        test_db,
        tmp_path,
        smtp_port,
        ALLIANCE_WORKER_METRICS_PORT=str(metrics_port),
        ALLIANCE_METRICS_TOKEN=TOKEN,
    )
    assert alive(env) == 1  # no worker has run yet
    enqueue(clinic.id, QUEUED)
    inbox = Inbox(delay=0.5)  # a slow mail server: SIGTERM arrives while a message is sent
    controller = start_smtp(smtp_port, inbox)
    worker = subprocess.Popen([sys.executable, "-m", "service.worker"], cwd=ROOT, env=env)
    try:
        wait_for(lambda: len(inbox.ids(clinic.id)) >= 1)
        assert alive(env) == 0
        scrape = f"http://127.0.0.1:{metrics_port}/metrics"
        assert requests.get(scrape, timeout=10).status_code == 401
        counted = requests.get(scrape, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert counted.status_code == 200
        sent = {"channel": "email", "result": "sent"}
        assert sample(counted.text, "alliance_outbox_deliveries_total", sent) >= 1
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0  # a clean exit
    finally:
        if worker.poll() is None:
            worker.kill()
        controller.stop()
    delivered = statuses(clinic.id)["sent"]
    assert 1 <= delivered < QUEUED  # it left without emptying the queue ...
    assert len(inbox.ids(clinic.id)) == delivered  # ... and what it sent was recorded sent
    # Nothing half done, and nothing held: the rest were never tried, their leases given back
    # (another worker takes them now, not when the leases run out).
    untried = QUEUED - delivered
    expected = {("sent", 1, False): delivered, ("pending", 0, False): untried}
    assert attempts(clinic.id) == Counter(expected)
    stale = time.time() - 31
    os.utime(tmp_path / "worker.alive", (stale, stale))
    assert alive(env) == 1  # a loop that stopped turning 31 s ago fails the probe
    with context.system_context("test cleanup"), uow.unit_of_work() as session:
        # the rest would otherwise wait in this suite's outbox for other tests' workers
        session.execute(sa.delete(OutboxMessage).where(OutboxMessage.clinic_id == clinic.id))
