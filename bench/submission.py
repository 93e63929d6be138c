"""Feedback submission against DESIGN §12 budgets, on PostgreSQL, through the whole stack
(Flask, auth, tenancy, unit of work) in one process.

    .venv/bin/python -m bench.submission [--requests 300]

Prints:
- throughput of a bare endpoint inserting one row vs. a full staff-entry submission
  (validate, score, evaluate every alert rule, write response + alerts + outbox);
  budget: the submission keeps >= 50 % of the bare throughput;
- the cost of the 5th vs the 200th session's submission (time and SQL statements);
  budget: within 1.2x, the same number of statements.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from service import create_app
from service.db import audit
from service.http.extensions import require, transactional
from service.instruments.catalog import SAC8
from service.settings import Settings
from tests import database
from tests.fixtures import create_clinic
from tests.scenario import CoupleInCare
from tests.sql_counter import count_statements

EARLY = datetime(2019, 1, 7, 9, 0, tzinfo=UTC)
ANSWERS = {item["key"]: 8 for item in SAC8["items"]}


def bare_insert() -> tuple[str, int]:
    """The floor: authenticate, then insert one row through the same unit of work."""
    audit.record("bench", "bench")
    return "", 204


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    db = database.create_postgres(f"bench{os.getpid()}")
    try:
        run(db, args.requests)
    finally:
        database.drop_postgres(db)


def run(db: database.TestDatabase, requests: int) -> None:
    settings = Settings(
        env="test",
        database_url=db.app_url,
        migration_database_url=db.owner_url,
        log_level="WARNING",
        login_rate_limit="1000000 per minute",
        feedback_form_rate_limit="1000000 per minute",
    )
    app = create_app(settings)
    app.add_url_rule(
        "/bench/bare",
        "bench_bare",
        transactional(require("feedback.write")(bare_insert)),
        methods=["POST"],
    )
    client = app.test_client()
    clinic = create_clinic(settings.token_issuer)
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")

    _rate(20, lambda: client.post("/bench/bare", headers=admin.headers))  # warm-up
    bare = _rate(requests, lambda: client.post("/bench/bare", headers=admin.headers))
    sessions = [_completed_session(client, admin, therapist, week) for week in range(requests)]
    partner = {s: p for s, p in sessions}
    queue = iter(partner)

    def submit():
        session_id = next(queue)
        return client.post(
            f"/v1/sessions/{session_id}/feedback",
            headers=therapist.headers,
            json={"partner_id": partner[session_id], "answers": ANSWERS},
        )

    full = _rate(requests, submit)
    print(f"bare one-row insert:     {bare:8.1f} req/s")
    print(f"feedback submission:     {full:8.1f} req/s")
    print(f"ratio submission / bare: {full / bare:8.2f}   (budget >= 0.50)")

    early = _cost_at(client, clinic, 5)
    late = _cost_at(client, clinic, 200)
    print(f"5th session submission:   {early[0] * 1000:7.2f} ms, {early[1]} statements")
    print(f"200th session submission: {late[0] * 1000:7.2f} ms, {late[1]} statements")
    print(
        f"ratio 200th / 5th:        {late[0] / early[0]:7.2f}   (budget <= 1.20, "
        f"statements equal: {early[1] == late[1]})"
    )


def _rate(count: int, call) -> float:
    started = time.perf_counter()
    for _ in range(count):
        response = call()
        assert response.status_code in (201, 204), response.get_data(as_text=True)[:300]
    return count / (time.perf_counter() - started)


def _completed_session(client, admin, therapist, week: int) -> tuple[str, str]:
    couple = client.post(
        "/v1/couples",
        headers=admin.headers,
        json={
            "label": f"Bench {week}",
            "therapist_id": str(therapist.id),
            "partners": [
                {"display_name": "A", "feedback_channel": "none"},
                {"display_name": "B", "feedback_channel": "none"},
            ],
        },
    ).json
    booked = client.post(
        "/v1/sessions",
        headers=admin.headers,
        json={
            "couple_id": couple["id"],
            "starts_at": (EARLY - timedelta(hours=week + 1)).isoformat(),
        },
    ).json
    client.post(f"/v1/sessions/{booked['id']}/complete", json={}, headers=admin.headers)
    return booked["id"], couple["partners"][0]["id"]


def _cost_at(client, clinic, nth: int) -> tuple[float, int]:
    """Median time and statements of the `nth` session's submission for a fresh couple."""
    silent = [{"display_name": name, "feedback_channel": "none"} for name in ("A", "B")]
    couple = CoupleInCare(client, clinic, partners=silent, start=EARLY)
    couple.history(nth - 1)
    timings, statements = [], 0
    for _repeat in range(15):
        session_id = couple.complete()["id"]
        with count_statements() as seen:
            started = time.perf_counter()
            couple.enter(session_id, couple.ana, ANSWERS)
            timings.append(time.perf_counter() - started)
        statements = len(seen)
    return statistics.median(timings), statements
