"""The outbox worker against a real SMTP server (aiosmtpd on loopback) and real processes:
an outage, a killed worker, and two workers sharing a queue."""

from __future__ import annotations

import dataclasses
import email
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from service.core import context
from service.core.clock import utcnow
from service.db import uow
from service.notifications import email as email_channel
from service.notifications import service as notifications
from service.notifications.models import OutboxMessage
from service.settings import ROOT, Settings
from service.worker.__main__ import build
from tests.loopback import free_port

pytestmark = [pytest.mark.postgres_only, pytest.mark.committed]  # other processes and engines


class Inbox:
    """An aiosmtpd handler that keeps every received message; optionally slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[email.message.Message] = []
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, _server, _session, envelope):
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def ids(self, clinic_id=None) -> Counter:
        """Message-IDs received; with a clinic, only of that clinic's outbox (the worker also
        delivers whatever other tests left pending)."""
        wanted = _message_ids(clinic_id) if clinic_id else None
        with self.lock:
            return Counter(
                m["Message-ID"]
                for m in self.messages
                if wanted is None or m["Message-ID"] in wanted
            )


def _message_ids(clinic_id) -> set[str]:
    with context.system_context("test check"), uow.unit_of_work() as session:
        rows = session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.clinic_id == clinic_id)
        ).all()
        return {email_channel.message_id(row, Settings()) for row in rows}


@pytest.fixture
def smtp_port() -> int:
    return free_port()


def start_smtp(port: int, inbox: Inbox) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@pytest.fixture
def worker_settings(settings, smtp_port):
    return dataclasses.replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        worker_lease_seconds=2,
        worker_idle_seconds=0.05,
    )


def enqueue(clinic_id, count: int) -> None:
    with context.tenant_context(clinic_id), uow.unit_of_work():
        for n in range(count):
            notifications.enqueue_email(
                topic="test.bulk",
                to=f"staff{n}@clinic.example",
                template="prerendered",
                values={"subject": "Queue test", "text": f"Message {n}", "html": f"<p>{n}</p>"},
            )


def statuses(clinic_id) -> Counter:
    with context.system_context("test check"), uow.unit_of_work() as session:
        rows = session.execute(
            sa.select(OutboxMessage.status, sa.func.count())
            .where(OutboxMessage.clinic_id == clinic_id)
            .group_by(OutboxMessage.status)
        ).all()
    return Counter(dict(rows))


def _unattempted(clinic_id) -> int:
    with context.system_context("test check"), uow.unit_of_work() as session:
        return session.scalar(
            sa.select(sa.func.count()).where(
                OutboxMessage.clinic_id == clinic_id, OutboxMessage.attempts == 0
            )
        )


def drain(worker, clinic_id, *, until: float = 60) -> None:
    deadline = time.monotonic() + until
    while statuses(clinic_id).get("pending", 0) and time.monotonic() < deadline:
        if worker.run_once() == 0:
            time.sleep(0.1)


def worker_process(test_db, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "ALLIANCE_ENV": "test",
        "ALLIANCE_DATABASE_URL": test_db.app_url,
        "ALLIANCE_SYSTEM_DATABASE_URL": test_db.system_url,
        "ALLIANCE_SMTP_HOST": "127.0.0.1",
        "ALLIANCE_SMTP_PORT": str(port),
        "ALLIANCE_WORKER_LEASE_SECONDS": "2",
        "ALLIANCE_WORKER_IDLE_SECONDS": "0.05",
        "ALLIANCE_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "service.worker"], cwd=ROOT, env=env)


def raise_alerts(clinic, count: int) -> None:
    """`count` low-alliance alerts for one therapist (immediate emails), through the same
    use-case the API calls; the alert emails are written in those transactions."""
    from service.alerts import evaluation
    from service.core.context import Actor
    from service.therapy_sessions import service as sessions
    from tests.practice import PAST, seed_couples

    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    actor = Actor(
        kind="staff", subject=str(admin.id), clinic_id=clinic.id, roles=frozenset({"admin"})
    )
    seed_couples(clinic.id, therapist.id, count)
    # 70 %: below the cutoff, while the watch items stay above theirs: one alert a couple.
    low = {
        key: 7
        for key in (
            "heard",
            "respect",
            "openness",
            "goals",
            "approach",
            "balance",
            "airtime",
            "confidence",
        )
    }
    with context.tenant_context(clinic.id, actor), uow.unit_of_work() as session:
        from sqlalchemy.orm import selectinload

        from service.couples.models import Couple

        everyone = sa.select(Couple).options(selectinload(Couple.partners))
        for hour, couple in enumerate(session.scalars(everyone).all()):
            booked = sessions.schedule(
                {
                    "couple_id": couple.id,
                    "duration_minutes": 50,
                    "modality": "video",
                    "starts_at": PAST - timedelta(hours=hour),
                }
            )
            sessions.complete(booked.id, None)
            evaluation.record_staff_entry(
                booked.id,
                {"partner_id": couple.partners[0].id, "answers": low, "source": "staff_entry"},
            )


def test_an_smtp_outage_while_200_alerts_are_raised_loses_no_email(
    clinic, worker_settings, smtp_port
):
    raise_alerts(clinic, 200)
    with context.system_context("test check"), uow.unit_of_work() as session:
        topics = Counter(
            session.scalars(
                sa.select(OutboxMessage.topic).where(
                    OutboxMessage.clinic_id == clinic.id, OutboxMessage.channel == "email"
                )
            )
        )
    assert topics == Counter({"alert.email": 200})
    worker = build(worker_settings)
    deadline = time.monotonic() + 60  # the server is down: every attempt fails
    while _unattempted(clinic.id) and time.monotonic() < deadline:
        worker.run_once()
    with context.system_context("test check"), uow.unit_of_work() as session:
        rows = session.scalars(
            sa.select(OutboxMessage).where(
                OutboxMessage.clinic_id == clinic.id, OutboxMessage.channel == "email"
            )
        ).all()
        assert {row.status for row in rows} == {"pending"}
        assert all(row.attempts >= 1 and row.last_error for row in rows)  # the retries show
        for row in rows:  # time passes
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
    inbox = Inbox()
    controller = start_smtp(smtp_port, inbox)
    try:
        drain(worker, clinic.id)
    finally:
        controller.stop()
    assert statuses(clinic.id)["sent"] >= 200 and not statuses(clinic.id)["pending"]
    ids = inbox.ids(clinic.id)
    assert len(ids) == 200 and set(ids.values()) == {1}  # each once per Message-ID


def test_a_killed_workers_messages_are_delivered_by_another(
    clinic, worker_settings, smtp_port, test_db
):
    enqueue(clinic.id, 60)
    inbox = Inbox(delay=0.05)
    controller = start_smtp(smtp_port, inbox)
    try:
        victim = worker_process(test_db, smtp_port)
        deadline = time.monotonic() + 30
        while len(inbox.ids(clinic.id)) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        assert statuses(clinic.id).get("pending", 0) > 0  # killed mid-batch
        time.sleep(2.5)  # its leases run out
        drain(build(worker_settings), clinic.id)
    finally:
        controller.stop()
    assert statuses(clinic.id) == Counter({"sent": 60})
    ids = inbox.ids(clinic.id)
    assert len(ids) == 60  # nothing lost (at least once: one in flight may repeat)
    assert sum(ids.values()) - 60 <= 1


def test_two_workers_deliver_each_of_1000_messages_exactly_once(clinic, smtp_port, test_db):
    enqueue(clinic.id, 1000)
    inbox = Inbox()
    controller = start_smtp(smtp_port, inbox)
    workers = [worker_process(test_db, smtp_port) for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        while len(inbox.ids(clinic.id)) < 1000 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)  # a clean stop
        for process in workers:
            assert process.wait(timeout=20) == 0
        controller.stop()
    ids = inbox.ids(clinic.id)
    assert len(ids) == 1000 and set(ids.values()) == {1}
    assert statuses(clinic.id) == Counter({"sent": 1000})


def test_dead_messages_are_listed_and_re_driven_from_the_cli(
    app, clinic, worker_settings, smtp_port
):
    import json

    from service.cli import outbox_redrive

    enqueue(clinic.id, 2)
    with context.system_context("test"), uow.unit_of_work() as session:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.clinic_id == clinic.id)
            .values(status="dead", last_error="550 mailbox unavailable")
        )
    result = app.test_cli_runner().invoke(outbox_redrive, ["--clinic", clinic.slug])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"clinic": clinic.slug, "requeued": 2}
    inbox = Inbox()
    controller = start_smtp(smtp_port, inbox)
    try:
        drain(build(worker_settings), clinic.id)
    finally:
        controller.stop()
    assert statuses(clinic.id) == Counter({"sent": 2}) and len(inbox.ids(clinic.id)) == 2


def test_admins_list_dead_messages_and_re_drive_them(client, clinic):
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    enqueue(clinic.id, 1)
    with context.system_context("test"), uow.unit_of_work() as session:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.clinic_id == clinic.id)
            .values(status="dead", last_error="550")
        )
    dead = client.get("/v1/outbox?status=dead", headers=admin.headers)
    assert dead.status_code == 200
    [item] = dead.json["items"]
    assert item["last_error"] == "550" and "recipient" not in item and "body_text" not in item
    assert client.get("/v1/outbox", headers=therapist.headers).status_code == 403
    again = client.post(f"/v1/outbox/{item['id']}/redrive", headers=admin.headers)
    assert again.status_code == 200 and again.json == {"requeued": 1}
    assert statuses(clinic.id) == Counter({"pending": 1})
    assert (
        client.post(f"/v1/outbox/{item['id']}/redrive", headers=admin.headers).status_code == 404
    )  # no longer dead


def test_periodic_jobs_expire_links_and_run_in_one_worker_at_a_time(client, clinic):
    from service.feedback.models import FeedbackRequest
    from service.worker import jobs
    from tests.practice import new_couple, new_session

    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    couple = new_couple(
        client,
        admin,
        therapist.id,
        partners=[
            {"display_name": "A", "feedback_channel": "in_clinic"},
            {"display_name": "B", "feedback_channel": "in_clinic"},
        ],
    )
    booked = new_session(client, admin, couple)
    client.post(f"/v1/sessions/{booked['id']}/complete", json={}, headers=admin.headers)
    expire = jobs.Job(
        "expire_feedback_requests", timedelta(minutes=5), jobs.expire_feedback_requests
    )
    with uow.database().engine.connect() as holder, holder.begin():
        # Another worker is running the job (it holds the lock): this one skips it.
        holder.execute(
            sa.text("SELECT pg_advisory_xact_lock(:k)"),
            {"k": jobs._lock_key("expire_feedback_requests")},
        )
        assert jobs.run_due([expire], utcnow() + timedelta(days=4)) == []
    assert jobs.run_due([expire], utcnow() + timedelta(days=4)) == ["expire_feedback_requests"]
    with context.system_context("test check"), uow.unit_of_work() as session:
        found = set(
            session.scalars(
                sa.select(FeedbackRequest.status).where(FeedbackRequest.clinic_id == clinic.id)
            )
        )
    assert found == {"expired"}


def test_an_expired_link_makes_a_silence_final_and_missing_feedback_is_raised(client, clinic):
    from service.worker import jobs
    from tests.practice import IN_CLINIC_PAIR, PAST, complete, new_couple, new_session

    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    couple = new_couple(client, admin, therapist.id, partners=IN_CLINIC_PAIR)
    answers = {
        key: 10
        for key in (
            "heard",
            "respect",
            "openness",
            "goals",
            "approach",
            "balance",
            "airtime",
            "confidence",
        )
    }
    for week in range(2):  # Ana answers, Ben stays silent
        booked = new_session(client, admin, couple, starts_at=PAST + timedelta(weeks=week))
        ana_link = next(
            link
            for link in complete(client, admin, booked)
            if link["partner_id"] == couple["partners"][0]["id"]
        )
        token = ana_link["url"].rsplit("/", 1)[1]
        assert (
            client.post(f"/v1/feedback-forms/{token}", json={"answers": answers}).status_code == 201
        )

    def missing() -> list[dict]:
        found = client.get(
            f"/v1/alerts?couple_id={couple['id']}&rule=missing_feedback", headers=admin.headers
        ).json["items"]
        return [a for a in found if a["partner_id"] == couple["partners"][1]["id"]]

    assert missing() == []  # Ben's last link may still be answered
    expire = jobs.Job(
        "expire_feedback_requests", timedelta(minutes=5), jobs.expire_feedback_requests
    )
    assert jobs.run_due([expire], utcnow() + timedelta(days=4)) == ["expire_feedback_requests"]
    [alert] = missing()
    assert alert["severity"] == "warning"
