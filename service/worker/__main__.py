"""`python -m service.worker`: deliver the outbox and run periodic jobs until SIGTERM.

`python -m service.worker --alive` is the liveness probe: exit 0 when the running worker's loop
touched its heartbeat file within ALLIANCE_WORKER_ALIVE_SECONDS, else 1.
"""

from __future__ import annotations

import argparse
import functools
import sys
from datetime import timedelta
from pathlib import Path

from service.alerts import emails as alert_emails
from service.alerts import service as alerts
from service.auth import web_sessions
from service.core import crypto
from service.db import uow
from service.db.session import Database
from service.fhir import export as fhir_export
from service.notifications import email, webhooks
from service.ops import logging as json_logging
from service.ops import metrics as ops_metrics
from service.settings import Settings
from service.worker import jobs
from service.worker.runner import Worker, is_alive


def build(settings: Settings) -> Worker:
    return Worker(
        settings,
        {"email": email.send, "webhook": webhooks.deliver},
        [
            jobs.Job(
                "expire_feedback_requests", timedelta(minutes=5), jobs.expire_feedback_requests
            ),
            jobs.Job("purge_idempotency_keys", timedelta(hours=1), jobs.purge_idempotency_keys),
            jobs.Job(
                "escalate_unacknowledged",
                timedelta(minutes=5),
                functools.partial(
                    alert_emails.escalate_unacknowledged,
                    after=timedelta(hours=settings.alert_escalation_hours),
                ),
            ),
            jobs.Job("compose_digests", timedelta(minutes=10), alert_emails.compose_digests),
            jobs.Job("wake_snoozed_alerts", timedelta(minutes=1), alerts.wake_snoozed),
            jobs.Job("purge_web_sessions", timedelta(hours=1), web_sessions.purge_ended),
            jobs.Job(
                "run_fhir_exports",
                timedelta(seconds=2),
                functools.partial(fhir_export.run_queued, settings=settings),
                locked=False,  # claims jobs with SKIP LOCKED; one export may run for minutes
            ),
            jobs.Job(
                "purge_fhir_exports",
                timedelta(minutes=10),
                functools.partial(fhir_export.purge_expired, settings=settings),
            ),
        ],
        batch=settings.worker_batch,
        lease=timedelta(seconds=settings.worker_lease_seconds),
        idle_sleep=settings.worker_idle_seconds,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service.worker")
    parser.add_argument(
        "--alive", action="store_true", help="exit 0 if the running worker's loop is turning"
    )
    settings = Settings.from_env()
    if parser.parse_args(argv).alive:
        alive = is_alive(Path(settings.worker_heartbeat_file), settings.worker_alive_seconds)
        sys.exit(0 if alive else 1)
    json_logging.configure(settings.log_level)
    uow.init(Database.from_settings(settings, application_name="alliance-worker", pool_size=2))
    crypto.configure(settings.data_keys, settings.key_encryption_keys)
    if settings.worker_metrics_port:
        ops_metrics.serve_worker_metrics(settings)
    worker = build(settings)
    worker.install_signal_handlers()
    worker.run()


if __name__ == "__main__":
    main()
