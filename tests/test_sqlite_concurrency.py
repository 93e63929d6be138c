"""The embedded SQLite default under the load `make run` meets: two gunicorn workers and the
worker (delivering emails, running a bulk export that reads for a while) writing the same file
at once never answer 500 ("database is locked"), and the exports complete."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from tests import database, demo_api
from tests.loopback import free_port
from tests.practice import PAST

pytestmark = pytest.mark.skipif(
    database.backend() == "sqlite", reason="runs once per suite, in the PostgreSQL pass"
)
THREADS, ROUNDS = 4, 10


def one_round(api: demo_api.DemoApi, headers: dict, therapist_id: str, at) -> list[int]:
    """A couple created, a session booked and completed (feedback links: emails the worker
    delivers meanwhile), and the caseload read: what a busy clinic does."""
    base, statuses = api.base_url, []
    couple = requests.post(
        f"{base}/v1/couples",
        json={
            "label": "Load test",
            "therapist_id": therapist_id,
            "partners": [
                {"display_name": "Ana", "email": "ana@example.org"},
                {"display_name": "Ben", "email": "ben@example.org"},
            ],
        },
        headers=headers,
        timeout=60,
    )
    statuses.append(couple.status_code)
    if couple.status_code == 201:
        booked = requests.post(
            f"{base}/v1/sessions",
            json={"couple_id": couple.json()["id"], "starts_at": at.isoformat()},
            headers=headers,
            timeout=60,
        )
        statuses.append(booked.status_code)
        if booked.status_code == 201:
            completed = requests.post(
                f"{base}/v1/sessions/{booked.json()['id']}/complete",
                json={},
                headers=headers,
                timeout=60,
            )
            statuses.append(completed.status_code)
    statuses.append(requests.get(f"{base}/v1/couples", headers=headers, timeout=60).status_code)
    return statuses


def export_until(api: demo_api.DemoApi, admin: dict, done: threading.Event) -> list[int]:
    """An integrator exporting everything again and again; the status each export ended in."""
    base = api.base_url
    registered = requests.post(
        f"{base}/v1/clients",
        json={"name": "Exporter", "scopes": ["system/*.rs"]},
        headers=admin,
        timeout=60,
    ).json()
    token = requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.rs"},
        auth=(registered["client_id"], registered["client_secret"]),
        timeout=60,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    ended = []
    while not done.is_set():
        kicked = requests.get(
            f"{base}/fhir/R4/$export",
            headers={**headers, "Prefer": "respond-async"},
            timeout=60,
        )
        if kicked.status_code != 202:
            ended.append(kicked.status_code)
            continue
        status, deadline = 202, time.monotonic() + 120
        while status == 202 and time.monotonic() < deadline:
            time.sleep(0.2)
            status = requests.get(
                kicked.headers["Content-Location"], headers=headers, timeout=60
            ).status_code
        ended.append(status)  # 202: still not done after two minutes (stuck)
    return ended


def test_make_runs_sqlite_stack_answers_concurrent_writes_without_500(tmp_path):
    db = database.TestDatabase(*[f"sqlite:///{tmp_path / 'demo.db'}"] * 2, "sqlite")
    database.migrate(db.owner_url)
    port = free_port()
    with demo_api.serving(
        db,
        port,
        tmp_path,
        "sqlite-load",
        worker=True,
        WEB_CONCURRENCY="2",
        # A few rows per fetch: an export keeps its cursor open while the others write.
        ALLIANCE_EXPORT_BATCH_SIZE="5",
    ) as api:
        headers = {"Authorization": f"Bearer {demo_api.dev_token(api, 'admin@harbor.example')}"}
        staff = requests.get(f"{api.base_url}/v1/staff", headers=headers, timeout=30).json()
        therapist_id = next(s["id"] for s in staff["items"] if s["role"] == "therapist")

        def rounds(thread: int) -> list[int]:
            return [
                status
                for n in range(ROUNDS)
                for status in one_round(
                    api, headers, therapist_id, PAST - timedelta(hours=thread * ROUNDS + n)
                )
            ]

        done = threading.Event()
        with ThreadPoolExecutor(THREADS + 1) as pool:
            exports = pool.submit(export_until, api, headers, done)
            try:
                answers = Counter(s for found in pool.map(rounds, range(THREADS)) for s in found)
            finally:
                done.set()
            exported = Counter(exports.result())
        mail = list((tmp_path / "mail").glob("*.eml"))
    assert answers == Counter({201: 2 * THREADS * ROUNDS, 200: 2 * THREADS * ROUNDS}), answers
    assert set(exported) == {200}, exported  # each export completed (202: stuck running)
    assert mail  # the worker wrote its emails meanwhile
    assert "database is locked" not in (tmp_path / "sqlite-load.log").read_text()
