"""Periodic jobs. Any number of workers may run; each job runs in one worker at a time
(a PostgreSQL advisory lock held for the job's transaction), and every job is idempotent."""

from __future__ import annotations

import logging
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from service.alerts import evaluation
from service.core import context
from service.core.clock import utcnow
from service.db import idempotency, uow
from service.feedback import links

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

    def due(self, now: datetime) -> bool:
        return self.last_run is None or now - self.last_run >= self.every


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
    """Run the jobs that are due; returns the names that ran here."""
    now = now or utcnow()
    ran = []
    for job in jobs:
        if not job.due(now):
            continue
        if not job.locked:
            with context.system_context(f"job {job.name}"):
                job.run(now)
        else:
            with context.system_context(f"job {job.name}"), uow.unit_of_work() as session:
                if not _lock(session, job.name):
                    continue  # another worker is running it
                job.run(now)
        job.last_run = now
        ran.append(job.name)
    return ran


def _lock_key(name: str) -> int:
    return zlib.crc32(f"alliance:job:{name}".encode())


def _lock(session: sa.orm.Session, name: str) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(_lock_key(name)))))
