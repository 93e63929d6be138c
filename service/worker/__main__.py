"""`python -m service.worker`: deliver the outbox and run periodic jobs until SIGTERM."""

from __future__ import annotations

import functools
from datetime import timedelta

from service.alerts import emails as alert_emails
from service.alerts import service as alerts
from service.auth import web_sessions
from service.core import crypto
from service.db import uow
from service.db.session import Database
from service.fhir import export as fhir_export
from service.notifications import email, webhooks
from service.ops import logging as json_logging
from service.settings import Settings
from service.worker import jobs
from service.worker.runner import Worker


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


def main() -> None:
    settings = Settings.from_env()
    json_logging.configure(settings.log_level)
    uow.init(
        Database(
            settings.database_url,
            system_url=settings.system_database_url,
            pool_size=2,
            refuse_unsafe_app_role=settings.is_production,
        )
    )
    crypto.configure(settings.data_keys, settings.key_encryption_keys)
    worker = build(settings)
    worker.install_signal_handlers()
    worker.run()


if __name__ == "__main__":
    main()
