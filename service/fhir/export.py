"""Bulk Data `$export` (FHIR Bulk Data Access IG): jobs asked for by an integrator, run by
the worker as that integrator, written as NDJSON files only that integrator can read.

- `kick_off` records a job (the API answers 202 with its status URL);
- `run_queued` (a worker job) claims queued jobs and streams each type from a server-side
  cursor to its file, a batch at a time, so memory does not grow with the export; every row
  read is audited as read by the client, and a cancel is seen between batches;
- `purge_expired` (a worker job) deletes jobs and files past retention, and cancelled ones.

`transactionTime` is the start of the export less `SETTLE`: a change committed by a
transaction that began just before the export may be missing from it, so the next export
`_since` that time overlaps a little instead of losing it (resources are upserted by id).
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from service.core import context
from service.core.clock import utcnow
from service.core.context import Actor
from service.core.errors import NotFound
from service.couples import service as couples
from service.db import audit, claims, uow
from service.db.lookup import Lookup
from service.db.session import long_transaction
from service.fhir import service as resources
from service.fhir.models import ExportJob
from service.fhir.params import Search
from service.settings import Settings

log = logging.getLogger(__name__)
SETTLE = timedelta(seconds=2)
STALE_RUN = timedelta(hours=6)  # a running job whose worker died is queued again after this
JOBS_PER_RUN = 5
NOT_FOUND = "No such export (it may have expired or been cancelled)."


def _asked_by_caller(stmt: sa.Select[Any]) -> sa.Select[Any]:
    actor = context.actor()
    client_id = actor.client_id if actor is not None else None
    return stmt.where(ExportJob.client_id == (client_id or ""), ExportJob.status != "cancelled")


JOBS = Lookup(ExportJob, "fhir_export", NOT_FOUND, visible=_asked_by_caller)


def fhir_base(base_url: str) -> str:
    return base_url.rstrip("/") + "/fhir/R4"


def folder(export_dir: str, job: Any) -> Path:
    return Path(export_dir) / str(job.clinic_id) / str(job.id)


def _folder(settings: Settings, clinic_id: uuid.UUID | None, job_id: uuid.UUID) -> Path:
    return Path(settings.export_dir) / str(clinic_id) / str(job_id)


# -- the integrator's side ----------------------------------------------------------------------


def kick_off(
    types: list[str], since: datetime | None, group_id: uuid.UUID | None, request_url: str
) -> ExportJob:
    actor = context.actor()
    assert actor is not None and actor.client_id
    if group_id is not None:
        couples.COUPLES.get(group_id, audited=False, loading=())
    job = ExportJob(
        client_id=actor.client_id,
        scopes=sorted(actor.scopes),
        group_id=group_id,
        types=types,
        since=since,
        request_url=request_url[:2000],
    )
    uow.session().add(job)
    uow.session().flush()
    audit.record("create", "fhir_export", job.id)
    return job


def status(job_id: uuid.UUID) -> ExportJob:
    """The caller's own export (404 for anyone else's, or once cancelled or expired)."""
    return JOBS.get(job_id, audited=False)


def cancel(job_id: uuid.UUID, export_dir: str) -> None:
    job = JOBS.get(job_id, lock=True, audited=False)
    job.status, job.finished_at = "cancelled", utcnow()
    uow.session().flush()
    shutil.rmtree(folder(export_dir, job), ignore_errors=True)
    audit.record("cancel", "fhir_export", job.id)


def output_file(job_id: uuid.UUID, name: str, export_dir: str) -> Path:
    """One NDJSON file of a completed export of the caller's."""
    job = JOBS.get(job_id, audited=False)
    if job.status != "completed" or name not in {item["file"] for item in job.output}:
        raise NotFound("No such file in this export.")
    path = folder(export_dir, job) / name
    if not path.is_file():
        raise NotFound(NOT_FOUND)
    audit.record("download", "fhir_export", job.id)
    return path


# -- the worker's side --------------------------------------------------------------------------


def run_queued(now: datetime, settings: Settings) -> int:
    """Job: run queued exports, oldest first (a few per run). Returns how many ran."""
    ran = 0
    while ran < JOBS_PER_RUN and (claimed := _claim()) is not None:
        _run(claimed, settings)
        ran += 1
    return ran


def _claim() -> tuple[uuid.UUID, uuid.UUID, Actor] | None:
    """The oldest queued export, now running (one statement; another worker skips it)."""
    with uow.unit_of_work():
        taken = claims.claim(
            ExportJob,
            (ExportJob.status == "queued",),
            order_by=(ExportJob.created_at,),
            limit=1,
            values={"status": "running", "started_at": utcnow(), "progress": "starting"},
            returning=(ExportJob.id, ExportJob.clinic_id, ExportJob.client_id, ExportJob.scopes),
        )
        if not taken:
            return None
        job = taken[0]
        asker = Actor(
            kind="client",
            subject=job.client_id,
            clinic_id=job.clinic_id,
            scopes=frozenset(job.scopes),
            client_id=job.client_id,
        )
        return job.id, job.clinic_id, asker


def _run(claimed: tuple[uuid.UUID, uuid.UUID, Actor], settings: Settings) -> None:
    job_id, clinic_id, asker = claimed
    with context.tenant_context(clinic_id, asker):
        try:
            result = _write_all(job_id, settings)
        except Exception:
            log.exception("export failed", extra={"export_id": str(job_id)})
            result = None
        try:
            _finish(job_id, result, settings)
        except Exception:
            # Its outcome could not be stored: say it failed rather than leave it "running"
            # until STALE_RUN; if even that cannot be stored, that rescue queues it again.
            log.exception("export outcome not stored", extra={"export_id": str(job_id)})
            _finish(job_id, None, settings)


def _write_all(job_id: uuid.UUID, settings: Settings) -> tuple[datetime, list[dict]] | None:
    """Every type of the job to its file, each type in a transaction of its own (its reads
    and their audit events); None when the job was cancelled meanwhile."""
    with uow.unit_of_work() as session:
        job = session.get(ExportJob, job_id)
    if job is None:
        return None
    transaction_time = utcnow() - SETTLE
    target = folder(settings.export_dir, job)
    target.mkdir(parents=True, exist_ok=True)
    query = Search(updated=((">=", job.since),) if job.since else ())
    output = []
    for index, kind in enumerate(job.types, start=1):
        _progress(job_id, f"exporting {kind} ({index} of {len(job.types)} types)")
        with uow.unit_of_work() as session:
            long_transaction(session, settings.export_statement_timeout_ms)
            count = _write_type(job, kind, query, target / f"{kind}.ndjson", settings)
        if count is None:
            return None
        if count:
            output.append({"type": kind, "file": f"{kind}.ndjson", "count": count})
    return transaction_time, output


def _write_type(
    job: ExportJob, kind: str, query: Search, path: Path, settings: Settings
) -> int | None:
    count = 0
    base = fhir_base(settings.base_url)
    with path.open("w", encoding="utf-8") as out:
        for batch in resources.stream(kind, query, base, settings.export_batch_size, job.group_id):
            if _cancelled(job.id):
                return None
            out.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in batch)
            count += len(batch)
    if not count:
        path.unlink()
    return count


def _cancelled(job_id: uuid.UUID) -> bool:
    found = uow.session().scalar(sa.select(ExportJob.status).where(ExportJob.id == job_id))
    return found in (None, "cancelled")


def _progress(job_id: uuid.UUID, text: str) -> None:
    """Committed on its own, so a client polling sees it while the export runs."""
    with uow.unit_of_work() as session:
        session.execute(
            sa.update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.status == "running")
            .values(progress=text)
        )


def _finish(
    job_id: uuid.UUID, result: tuple[datetime, list[dict]] | None, settings: Settings
) -> None:
    """Completed; or, without a result, cancelled (as asked) or failed; files of either go."""
    with uow.unit_of_work() as session:
        job = session.get(ExportJob, job_id, with_for_update=True)
        if job is None or job.status == "cancelled" or result is None:
            shutil.rmtree(_folder(settings, context.clinic_id(), job_id), ignore_errors=True)
            if job is not None and job.status != "cancelled":
                job.status, job.error = "failed", "The export could not be completed."
                _close(job, settings)
            return
        job.transaction_time, job.output = result
        job.status, job.progress = "completed", "done"
        _close(job, settings)


def _close(job: ExportJob, settings: Settings) -> None:
    job.finished_at = utcnow()
    job.expires_at = job.finished_at + timedelta(hours=settings.export_retention_hours)


def purge_expired(now: datetime, settings: Settings) -> int:
    """Job: delete exports past retention and cancelled ones, with their files; queue again
    an export whose worker died mid-run. Returns how many were deleted."""
    with uow.unit_of_work() as session:
        session.execute(
            sa.update(ExportJob)
            .where(ExportJob.status == "running", ExportJob.started_at < now - STALE_RUN)
            .values(status="queued", progress="queued")
        )
        gone = session.scalars(
            sa.select(ExportJob)
            .where(sa.or_(ExportJob.status == "cancelled", ExportJob.expires_at < now))
            .limit(500)
        ).all()
        for job in gone:
            shutil.rmtree(folder(settings.export_dir, job), ignore_errors=True)
            session.delete(job)
    return len(gone)
