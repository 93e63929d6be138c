"""Periodic jobs. Any number of workers may run; each job runs in one worker at a time
(a PostgreSQL advisory lock held for the job's transaction), and every job is idempotent."""

from __future__ import annotations

import logging
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from service.alerts import evaluation
from service.core import context, metrics
from service.core.clock import utcnow
from service.db import idempotency, uow
from service.feedback import links
from service.worker.backoff import Backoff

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    every: timedelta
    run: Callable[[datetime], object]
    last_run: datetime | None = None
    # False for a job that claims its own rows (FOR UPDATE SKIP LOCKED) and commits as it
    # goes: it runs without the advisory-lock transaction, which a long job (an export) would
    # hold idle past PostgreSQL's idle-in-transaction timeout.
    locked: bool = True
    # After a failure the job is tried again sooner than `every` (never later), backing off.
    retry_at: datetime | None = None
    backoff: Backoff = field(default_factory=lambda: Backoff(base=5.0, cap=300.0))

    def due(self, now: datetime) -> bool:
        if self.retry_at is not None:
            return now >= self.retry_at
        return self.last_run is None or now - self.last_run >= self.every

    def succeeded(self, now: datetime) -> None:
        self.last_run, self.retry_at = now, None
        self.backoff.succeeded()

    def failed(self, now: datetime) -> None:
        wait = timedelta(seconds=self.backoff.failed())
        self.retry_at = now + min(wait, self.every)


def expire_feedback_requests(now: datetime) -> int:
    """Links past their expiry are marked expired; then, per clinic, the sessions they were
    for are judged for `missing_feedback` (a silence is final once the link is gone)."""
    expired = links.expire_due(now)
    sessions_by_clinic: dict[uuid.UUID, set[uuid.UUID]] = {}
    for clinic_id, session_id in expired:
        sessions_by_clinic.setdefault(clinic_id, set()).add(session_id)
    for clinic_id, session_ids in sessions_by_clinic.items():
        with context.tenant_context(clinic_id), uow.unit_of_work():
            evaluation.judge_silences(session_ids)
    return len(expired)


def purge_idempotency_keys(_now: datetime) -> int:
    return idempotency.purge_expired()


def run_due(jobs: list[Job], now: datetime | None = None) -> list[str]:
    """Run the jobs that are due; returns the names that ran here. A job that fails is
    logged (its name and the exception class), counted, and retried with backoff; the
    others still run."""
    now = now or utcnow()
    ran = []
    for job in jobs:
        if not job.due(now):
            continue
        try:
            if not _run(job, now):
                continue  # another worker is running it
        except Exception as exc:  # a failing job must not stop the worker
            job.failed(now)
            log.warning("job failed", extra={"job": job.name, **metrics.failure("job", exc)})
            continue
        job.succeeded(now)
        ran.append(job.name)
    return ran


def _run(job: Job, now: datetime) -> bool:
    if not job.locked:
        with context.system_context(f"job {job.name}"):
            job.run(now)
        return True
    with context.system_context(f"job {job.name}"), uow.unit_of_work() as session:
        if not _lock(session, job.name):
            return False
        job.run(now)
    return True


def _lock_key(name: str) -> int:
    return zlib.crc32(f"alliance:job:{name}".encode())


def _lock(session: sa.orm.Session, name: str) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(_lock_key(name)))))
