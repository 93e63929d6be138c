"""Bulk export memory against DESIGN §12 ("peak memory flat, within 1.2x, from 10k to 1M
responses"), on a throwaway PostgreSQL database built by the real migrations.

    .venv/bin/python -m bench.export_memory [--sizes 10000 100000 1000000]

For each size, responses are added to one clinic (couples of two partners, twelve weekly
sessions each, both partners answering) with set-based SQL, then a system-level `$export`
job (every type) runs in a fresh subprocess exactly as the worker runs it, and that process
reports its peak resident memory (ru_maxrss) before and after the export, the export's time
and how many NDJSON lines it wrote. The ratio of each peak to the smallest size's is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid

import psycopg

from tests import database

RESPONSES_PER_COUPLE = 24  # 12 sessions x 2 partners
SAC8_ID = "018f0000-0000-7000-8000-000000005ac8"
ANSWERS = json.dumps(
    dict.fromkeys(
        ("heard", "respect", "openness", "goals", "approach", "balance", "airtime", "confidence"),
        8,
    )
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--child", nargs=4, metavar=("URL", "SYSTEM_URL", "CLINIC", "DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    db = database.create_postgres(f"bench_export{os.getpid()}")
    try:
        run(db, sorted(args.sizes))
    finally:
        database.drop_postgres(db)


def run(db: database.TestDatabase, sizes: list[int]) -> None:
    clinic, therapist = str(uuid.uuid4()), str(uuid.uuid4())
    # The system role: row-level security lets it write every clinic's rows.
    with psycopg.connect(db.system_url, autocommit=True) as conn:
        _clinic(conn, clinic, therapist)
        couples, results = 0, []
        for size in sizes:
            wanted = -(-size // RESPONSES_PER_COUPLE)
            started = time.perf_counter()
            _seed(conn, clinic, therapist, couples, wanted)
            couples = wanted
            seeded = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as folder:
                measured = _measure(db, clinic, folder)
            measured.update(responses=couples * RESPONSES_PER_COUPLE, seed_seconds=round(seeded, 1))
            results.append(measured)
            _report(measured, results[0])


def _report(measured: dict, smallest: dict) -> None:
    ratio = measured["peak_kib"] / smallest["peak_kib"]
    growth = measured["peak_kib"] - measured["before_kib"]
    print(
        f"{measured['responses']:>9,} responses: peak {measured['peak_kib'] / 1024:7.1f} MiB "
        f"(+{growth / 1024:6.1f} MiB during the export; {ratio:.2f}x the smallest), "
        f"{measured['lines']:,} NDJSON lines in {measured['export_seconds']:.1f} s "
        f"(seeded in {measured['seed_seconds']} s)",
        flush=True,
    )


def _measure(db: database.TestDatabase, clinic: str, folder: str) -> dict:
    urls = [db.app_url, db.system_url]
    command = [sys.executable, "-m", "bench.export_memory", "--child", *urls, clinic, folder]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(app_url: str, system_url: str, clinic: str, folder: str) -> dict:
    """In a fresh process: one export job of every type, run as the worker runs it."""
    from service.core import context
    from service.core.context import Actor
    from service.db import uow
    from service.db.session import Database
    from service.fhir import export
    from service.fhir import service as resources
    from service.settings import Settings
    from service.worker import jobs

    settings = Settings(
        env="test",
        database_url=app_url,
        system_database_url=system_url,
        export_dir=folder,
        log_level="WARNING",
    )
    uow.init(Database(app_url, system_url=system_url, pool_size=2))
    asker = Actor(
        kind="client",
        subject="bench",
        clinic_id=uuid.UUID(clinic),
        scopes=frozenset({"system/*.rs"}),
        client_id="bench",
    )
    with context.tenant_context(uuid.UUID(clinic), asker), uow.unit_of_work():
        export.kick_off(list(resources.SOURCES), None, None, "bench")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    from service.worker.__main__ import build

    (job,) = [job for job in build(settings).jobs if job.name == "run_fhir_exports"]
    jobs.run_due([job])
    elapsed = time.perf_counter() - started
    lines = sum(
        sum(1 for _ in open(os.path.join(root, name), encoding="utf-8"))  # noqa: SIM115
        for root, _, names in os.walk(folder)
        for name in names
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"before_kib": before, "peak_kib": peak, "export_seconds": elapsed, "lines": lines}


def _clinic(conn: psycopg.Connection, clinic: str, therapist: str) -> None:
    conn.execute(
        "INSERT INTO clinics (id, created_at, version, updated_at, name, slug, timezone, locale, "
        "cors_origins, feedback_settings, email_policy) VALUES (%s, now(), 1, now(), 'Bench', "
        "%s, 'UTC', 'en', '[]', '{}', '{}')",
        (clinic, f"bench-{clinic[:8]}"),
    )
    conn.execute(
        "INSERT INTO staff_members (id, clinic_id, created_at, version, updated_at, email, role, "
        "active, display_name, approaches, languages, accepting_new, listed_publicly, "
        "alert_emails) VALUES (%s, %s, now(), 1, now(), 'bench@bench.test', 'therapist', true, "
        "'Bench Therapist', '[]', '[]', false, false, 'immediate')",
        (therapist, clinic),
    )


def _seed(conn: psycopg.Connection, clinic: str, therapist: str, start: int, end: int) -> None:
    """Couples start+1..end with their partners, sessions and responses (set-based)."""
    values = {"clinic": clinic, "therapist": therapist, "start": start + 1, "end": end}
    conn.execute(
        "INSERT INTO couples (id, clinic_id, created_at, version, updated_at, label, "
        "therapist_id, status, shared_goals) SELECT md5('c' || g)::uuid, %(clinic)s, now(), 1, "
        "now(), 'Couple ' || g, %(therapist)s, 'active', '[]' "
        "FROM generate_series(%(start)s::int, %(end)s::int) g",
        values,
    )
    conn.execute(
        "INSERT INTO partners (id, clinic_id, created_at, version, updated_at, couple_id, "
        "position, display_name, personal_goals, feedback_channel) SELECT md5('p' || g || '-' || "
        "p)::uuid, %(clinic)s, now(), 1, now(), md5('c' || g)::uuid, p, 'Partner ' || g || p, "
        "'[]', 'in_clinic' FROM generate_series(%(start)s::int, %(end)s::int) g, "
        "generate_series(1, 2) p",
        values,
    )
    conn.execute(
        "INSERT INTO therapy_sessions (id, clinic_id, created_at, version, updated_at, "
        "couple_id, therapist_id, starts_at, ends_at, duration_minutes, modality, status, "
        "completed_at) SELECT md5('s' || g || '-' || w)::uuid, %(clinic)s, now(), 1, now(), "
        "md5('c' || g)::uuid, %(therapist)s, t, t + interval '50 minutes', 50, 'in_person', "
        "'completed', t + interval '50 minutes' "
        "FROM generate_series(%(start)s::int, %(end)s::int) g, "
        "generate_series(0, 11) w, LATERAL (SELECT timestamptz '2020-01-01' + "
        "((g * 12 + w) * interval '1 hour') AS t) times",
        values,
    )
    conn.execute(
        "INSERT INTO feedback_responses (id, clinic_id, created_at, session_id, partner_id, "
        "couple_id, session_at, instrument_id, instrument_version, answers, total, pct, source, "
        "safety_concern) SELECT gen_random_uuid(), %(clinic)s, now(), s.id, p.id, s.couple_id, "
        "s.starts_at, %(sac8)s, 1, %(answers)s, 64, 80, 'staff_entry', false "
        "FROM therapy_sessions s JOIN partners p ON p.couple_id = s.couple_id "
        "AND p.clinic_id = s.clinic_id WHERE s.clinic_id = %(clinic)s AND s.couple_id IN "
        "(SELECT md5('c' || g)::uuid FROM generate_series(%(start)s::int, %(end)s::int) g)",
        {**values, "sac8": SAC8_ID, "answers": ANSWERS},
    )
    conn.execute("ANALYZE")


if __name__ == "__main__":
    main()
