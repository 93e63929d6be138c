"""Prometheus metrics as an operator scrapes them: totals across gunicorn workers, the outbox
backlog read at scrape time, the domain counters, and who may read `/metrics` at all."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from service.core import context
from service.db import uow
from service.notifications import email as email_channel
from service.notifications import service as notifications
from service.notifications import webhooks
from service.settings import ROOT
from service.worker import outbox as worker_outbox
from tests.demo_api import BIN, demo_env, wait_ready
from tests.loopback import free_port
from tests.scenario import CoupleInCare, answers

HEALTHZ = {"method": "GET", "route": "/healthz", "status": "200"}


def sample(text: str, name: str, labels: dict[str, str]) -> float | None:
    """One sample's value in a scrape (Prometheus text format), or None."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return None


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def healthz_count_by_pid(metrics_dir: Path) -> dict[str, float]:
    """What each gunicorn worker wrote to its own file for GET /healthz."""
    by_pid = {}
    for path in metrics_dir.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(path)], accumulate=True):
            for found in family.samples:
                if found.name == "alliance_http_requests_total" and found.labels == HEALTHZ:
                    by_pid[path.stem.removeprefix("counter_")] = found.value
    return by_pid


def wait_for_workers(master: int, count: int, seconds: float = 30) -> None:
    children = Path(f"/proc/{master}/task/{master}/children")
    deadline = time.monotonic() + seconds
    while len(children.read_text().split()) != count:
        assert time.monotonic() < deadline, f"gunicorn did not settle at {count} worker(s)"
        time.sleep(0.1)


@pytest.mark.postgres_only
def test_two_gunicorn_workers_report_all_100_requests(test_db, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    metrics_dir = tmp_path / "metrics"
    env = {
        **demo_env(test_db, base, port, tmp_path),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [BIN / "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(base, server, 60)

        def healthz(_n: int) -> int:
            # a connection of its own each time, four at once: both workers take some
            return requests.get(
                f"{base}/healthz", headers={"Connection": "close"}, timeout=10
            ).status_code

        # Rounds of 100 until both workers have served some: a worker still loading the app
        # on a busy machine takes none of the first round.
        sent = 0
        while sent < 500 and (sent == 0 or len(healthz_count_by_pid(metrics_dir)) < 2):
            with ThreadPoolExecutor(4) as pool:
                assert set(pool.map(healthz, range(100))) == {200}
            sent += 100
        scrapes = [requests.get(f"{base}/metrics", timeout=10).text for _ in range(6)]
        by_pid = healthz_count_by_pid(metrics_dir)  # gunicorn clears the files when it exits
        # A worker that leaves (recycled after max_requests, or one fewer: TTOU) takes none
        # of its counts with it.
        server.send_signal(signal.SIGTTOU)
        wait_for_workers(server.pid, 1)
        after_exit = requests.get(f"{base}/metrics", timeout=10).text
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    # Whichever worker answered the scrape, it reports both workers' requests.
    totals = {sample(text, "alliance_http_requests_total", HEALTHZ) for text in scrapes}
    assert totals == {float(sent)}  # 100 unless a worker came late to the first round
    assert sample(after_exit, "alliance_http_requests_total", HEALTHZ) == sent
    assert len([n for n in by_pid.values() if n > 0]) == 2, by_pid  # both workers served
    assert sum(by_pid.values()) == sent


def test_the_outbox_backlog_is_read_at_scrape_time(client, clinic, travel):
    def backlog() -> tuple[float, float]:
        text = client.get("/metrics").text
        depth = sample(text, "alliance_outbox_depth", {"channel": "email"})
        age = sample(text, "alliance_outbox_oldest_age_seconds", {"channel": "email"})
        return depth, age

    before, _ = backlog()
    with context.tenant_context(clinic.id), uow.unit_of_work():
        for n in range(2):
            notifications.enqueue_email(
                topic="test.metrics",
                to=f"staff{n}@clinic.example",
                template="prerendered",
                values={"subject": "Backlog", "text": "Waiting", "html": "<p>Waiting</p>"},
            )
    travel.advance(timedelta(hours=1))
    depth, age = backlog()
    assert depth == before + 2
    assert age >= 3600  # the oldest undelivered message waits for an hour at least


def test_submissions_and_the_alerts_they_raise_are_counted_by_source_and_rule(client, clinic):
    couple = CoupleInCare(client, clinic)
    submissions = counted("alliance_feedback_submissions_total", source="staff_entry")
    session_id = couple.session(ana=answers(7, heard=8), ben=answers(8, heard=9))
    [alert] = couple.alerts()
    raised = {"rule": alert["rule"], "severity": alert["severity"]}
    assert counted("alliance_feedback_submissions_total", source="staff_entry") == submissions + 2
    assert counted("alliance_alerts_raised_total", **raised) >= 1
    before = counted("alliance_alerts_raised_total", **raised)
    refused = client.post(  # the same partner again: refused, so nothing counted
        f"/v1/sessions/{session_id}/feedback",
        headers=couple.therapist.headers,
        json={"partner_id": couple.ana, "answers": answers(7)},
    )
    assert refused.status_code == 409
    assert counted("alliance_feedback_submissions_total", source="staff_entry") == submissions + 2
    assert counted("alliance_alerts_raised_total", **raised) == before


def test_a_counter_moves_only_when_its_transaction_commits(app):
    ran = []
    with pytest.raises(RuntimeError), uow.unit_of_work():
        uow.after_commit(lambda: ran.append("rolled back"))
        raise RuntimeError("the transaction fails")
    with uow.unit_of_work():
        uow.after_commit(lambda: ran.append("committed"))
        assert ran == []  # not before the commit
    assert ran == ["committed"]


def test_deliveries_are_counted_by_channel_and_result(app, clinic, settings, tmp_path):
    with context.tenant_context(clinic.id), uow.unit_of_work():
        message = notifications.enqueue_email(
            topic="test.metrics",
            to="staff@clinic.example",
            template="prerendered",
            values={"subject": "Delivery", "text": "Hello", "html": "<p>Hello</p>"},
        )
    senders = {"email": email_channel.send}
    nobody_listens = dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=free_port())
    retries = counted("alliance_outbox_deliveries_total", channel="email", result="retry")
    sent = counted("alliance_outbox_deliveries_total", channel="email", result="sent")
    assert worker_outbox.deliver(message.id, clinic.id, senders, nobody_listens) == "pending"
    assert counted("alliance_outbox_deliveries_total", channel="email", result="retry") == (
        retries + 1
    )
    to_files = dataclasses.replace(settings, smtp_host="", mail_dir=str(tmp_path))
    assert worker_outbox.deliver(message.id, clinic.id, senders, to_files) == "sent"
    assert counted("alliance_outbox_deliveries_total", channel="email", result="sent") == sent + 1


def test_splitting_an_event_among_endpoints_is_no_delivery(app, clinic, settings):
    with context.tenant_context(clinic.id), uow.unit_of_work():
        message = notifications.enqueue_event("alert.created", {"alert_id": "a1"})
    webhook_sent = counted("alliance_outbox_deliveries_total", channel="webhook", result="sent")
    fan_out = {"webhook": webhooks.deliver}
    assert worker_outbox.deliver(message.id, clinic.id, fan_out, settings) == "sent"
    assert counted("alliance_outbox_deliveries_total", channel="webhook", result="sent") == (
        webhook_sent  # the clinic has no endpoint: nothing was sent anywhere
    )


@pytest.fixture
def app_with(settings):
    """A client of the app built with some settings changed (its own engine, disposed after)."""
    from service import create_app

    working = uow.database()
    built = []

    def make(**changes: object):
        application = create_app(dataclasses.replace(settings, **changes))
        built.append(uow.database())
        return application.test_client()

    yield make
    for database in built:
        database.dispose()
    uow.init(working)


TOKEN = "scraper-token-0123456789abcdef"


def test_with_a_token_metrics_need_it(app_with):
    client = app_with(metrics_token=TOKEN)
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing.mimetype == "application/problem+json"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    right = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and "alliance_http_requests_total" in right.text


def test_with_an_allow_list_only_those_networks_read_metrics(app_with):
    elsewhere = app_with(metrics_allow=("10.0.0.0/8",))
    assert elsewhere.get("/metrics").status_code == 403  # the test client is 127.0.0.1
    here = app_with(metrics_allow=("10.0.0.0/8", "127.0.0.0/8"))
    assert here.get("/metrics").status_code == 200
    both = app_with(metrics_allow=("127.0.0.0/8",), metrics_token=TOKEN)
    assert both.get("/metrics").status_code == 401  # the network alone is not enough
    assert both.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_outside_development_unrestricted_metrics_are_refused(app_with):
    client = app_with(env="staging", secret_key="a-staging-secret-that-is-long-enough-0123")
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert "ALLIANCE_METRICS_TOKEN" in refused.json["detail"]


def test_a_malformed_allow_list_stops_the_start():
    from service.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=r"ALLIANCE_METRICS_ALLOW.*'10\.0\.0\.0/33'"):
        Settings.from_env({"ALLIANCE_METRICS_ALLOW": "127.0.0.0/8, 10.0.0.0/33"})
