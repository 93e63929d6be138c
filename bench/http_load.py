"""The service over HTTP against DESIGN §12's budgets, as production runs it: gunicorn (2 sync
workers, `deploy/gunicorn.conf.py`) and the outbox worker on PostgreSQL, a seeded dataset
(1,000 clinics of 50 couples, 5 answered sessions each: 50,000 couples, 500,000 responses),
and the load from separate processes (a new connection per request).

    .venv/bin/python -m bench.http_load [--requests 300] [--clinics 1000] [--export]

Measured, in one clinic of that dataset:
- a partner's submit (`POST /v1/feedback-forms/<link>`) against the floor of the same stack
  (`bench/app.py`: authenticated, tenant-scoped, one insert in the same unit of work), at
  concurrency 1, 2 and 4: throughput, p50/p95/p99, errors, statements and transactions;
- the submit at a couple's 5th and 200th session;
- the couples list (50 per page), the chart cached, answered 304, and drawn fresh;
- the statements of every paged list at `limit=2` and `limit=200`;
- with `--export`, `bench.export_memory` at 10k and 1M responses.
Every budget is printed with its measured value and PASS or FAIL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import psycopg

from bench import dataset
from service import create_app
from service.core.ids import digest, routed_secret
from service.settings import ROOT, Settings
from tests import database
from tests.fixtures import create_clinic
from tests.loopback import free_port

MEASURED_COUPLES = 50  # answered 5 sessions, then pending weeks for the submits
FIFTH = (51, 70)  # couples 51-70 answered 4 sessions: their next is the 5th
TWO_HUNDREDTH = (71, 90)  # couples 71-90 answered 199: their next is the 200th
UNLIMITED = "1000000 per minute"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class Run:
    """What one load run saw: per request its latency, status and cost."""

    name: str
    concurrency: int
    seconds: float
    latencies: list[float]
    statuses: list[int]
    statements: list[int]
    transactions: list[int]
    expected: int

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def errors(self) -> int:
        return sum(status != self.expected for status in self.statuses)

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per submit/bare run")
    parser.add_argument("--clinics", type=int, default=1000)
    parser.add_argument("--export", action="store_true", help="also run bench.export_memory")
    args = parser.parse_args()
    with throwaway_database("load") as (db, folder):
        run(db, args, folder)
    if args.export:
        command = [sys.executable, "-m", "bench.export_memory", "--sizes", "10000", "1000000"]
        subprocess.run(command, check=True)  # noqa: S603


@contextmanager
def throwaway_database(prefix: str) -> Iterator[tuple[database.TestDatabase, str]]:
    """A fresh PostgreSQL database and a scratch folder, both gone afterwards."""
    db = database.create_postgres(f"{prefix}{os.getpid()}")
    try:
        with tempfile.TemporaryDirectory() as folder:
            yield db, folder
    finally:
        database.drop_postgres(db)


def run(db: database.TestDatabase, args: argparse.Namespace, folder: str) -> None:
    settings = bench_settings(db, folder)
    create_app(settings)  # binds the database for the clinic's staff and their tokens
    clinic = replace(create_clinic(settings.token_issuer), ttl=6 * 3600)
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    started = time.perf_counter()
    links = seed(db, str(clinic.id), str(therapist.id), args.clinics, args.requests)
    print(f"seeded {args.clinics} clinics in {time.perf_counter() - started:.0f} s", flush=True)
    with serving(settings) as base:
        report(measure(base, links, admin.headers, therapist.headers, args.requests))


def bench_settings(db: database.TestDatabase, folder: str) -> Settings:
    """The app on `db`, writing mail and exports under `folder`, with no rate limits."""
    return Settings(
        env="test",
        database_url=db.app_url,
        system_database_url=db.system_url,
        migration_database_url=db.owner_url,
        log_level="WARNING",
        mail_dir=os.path.join(folder, "mail"),
        export_dir=os.path.join(folder, "exports"),
        login_rate_limit=UNLIMITED,
        feedback_form_rate_limit=UNLIMITED,
    )


# -- the dataset ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Links:
    """Unanswered links of the measured clinic, in the order they are used."""

    weekly: list[str]  # week by week, partner by partner, couple by couple
    fifth: list[str]
    two_hundredth: list[str]
    couples: dict[int, str]  # couple number → id


def seed(db: database.TestDatabase, clinic: str, therapist: str, clinics: int, each: int) -> Links:
    measured = dataset.Couples(clinic, therapist, 1, MEASURED_COUPLES)
    fifth = dataset.Couples(clinic, therapist, *FIFTH)
    two_hundredth = dataset.Couples(clinic, therapist, *TWO_HUNDREDTH)
    pending_weeks = -(-(3 * each + 20) // (2 * MEASURED_COUPLES))
    with psycopg.connect(database.superuser_url(db), autocommit=True) as conn:
        others = dataset.add_clinics(conn, clinics - 1)
        dataset.add_couples(
            conn, [dataset.Couples(c, t, 1, MEASURED_COUPLES) for c, t in others], sessions=5
        )
        dataset.add_couples(conn, [measured], sessions=5)
        dataset.add_couples(conn, [fifth], sessions=4)
        dataset.add_couples(conn, [two_hundredth], sessions=199)
        weekly = _pending(conn, measured, 5, pending_weeks)
        links = Links(
            weekly,
            _pending(conn, fifth, 4, 1),
            _pending(conn, two_hundredth, 199, 1),
            {n: measured.couple_id(n) for n in range(1, TWO_HUNDREDTH[1] + 1)},
        )
        conn.execute("ANALYZE")
    return links


def _pending(conn: psycopg.Connection, couples: dataset.Couples, week: int, weeks: int) -> list:
    """Completed, unanswered sessions in weeks week.. and a link for each partner of each."""
    dataset.add_sessions(conn, [couples], week, weeks, answered=False)
    links, rows = [], []
    for w in range(week, week + weeks):
        for position in (1, 2):
            for number in range(couples.first, couples.last + 1):
                token = routed_secret(uuid.UUID(couples.clinic))
                links.append(token)
                rows.append(
                    (
                        couples.clinic,
                        dataset.session_id(couples, number, w),
                        couples.partner_id(number, position),
                        dataset.SAC8_ID,
                        digest(token),
                    )
                )
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO feedback_requests (id, clinic_id, created_at, session_id, partner_id, "
            "instrument_id, channel, token_hash, expires_at, status) VALUES (gen_random_uuid(), "
            "%s, now(), %s, %s, %s, 'email', %s, now() + interval '30 days', 'open')",
            rows,
        )
    return links


# -- the server ----------------------------------------------------------------------------------


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """gunicorn serving bench.app with the production config, and the outbox worker."""
    port = free_port()
    env = {
        **environment(settings),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_LOG_LEVEL": "warning",
        "WEB_CONCURRENCY": "2",
    }
    gunicorn = [str(ROOT / ".venv/bin/gunicorn"), "-c", "deploy/gunicorn.conf.py", "bench.app:app"]
    processes = [
        subprocess.Popen(gunicorn, cwd=ROOT, env=env),  # noqa: S603
        subprocess.Popen([sys.executable, "-m", "service.worker"], cwd=ROOT, env=env),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base)
        yield base
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def environment(settings: Settings) -> dict[str, str]:
    """What `bench.app` reads `settings` from."""
    return {
        **os.environ,
        "ALLIANCE_ENV": settings.env,
        "ALLIANCE_DATABASE_URL": settings.database_url,
        "ALLIANCE_SYSTEM_DATABASE_URL": settings.system_database_url,
        "ALLIANCE_ISSUER": settings.token_issuer,
        "ALLIANCE_LOG_LEVEL": "WARNING",
        "ALLIANCE_MAIL_DIR": settings.mail_dir,
        "ALLIANCE_EXPORT_DIR": settings.export_dir,
        "ALLIANCE_LOGIN_RATE_LIMIT": UNLIMITED,
        "ALLIANCE_FEEDBACK_FORM_RATE_LIMIT": UNLIMITED,
    }


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not become ready")


# -- the load ------------------------------------------------------------------------------------


def load(base: str, name: str, calls: list[Call], concurrency: int, expected: int) -> Run:
    """`calls` spread over `concurrency` processes that start together."""
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(concurrency), spawn.Queue()
    workers = [
        spawn.Process(target=_drive, args=(base, calls[i::concurrency], barrier, results))
        for i in range(concurrency)
    ]
    for worker in workers:
        worker.start()
    parts = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    seconds = max(p["end"] for p in parts) - min(p["start"] for p in parts)
    merged = {key: [v for p in parts for v in p[key]] for key in ("latencies", "statuses")}
    costs = {key: [v for p in parts for v in p[key]] for key in ("statements", "transactions")}
    return Run(name, concurrency, seconds, **merged, **costs, expected=expected)


def _drive(base: str, calls: list[Call], barrier, results) -> None:
    host, port = base.removeprefix("http://").split(":")
    seen: dict[str, list] = {"latencies": [], "statuses": [], "statements": [], "transactions": []}
    barrier.wait()
    start = time.time()
    for call in calls:
        began = time.perf_counter()
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request(call.method, call.path, body=call.body, headers=call.headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        seen["latencies"].append(time.perf_counter() - began)
        seen["statuses"].append(response.status)
        seen["statements"].append(int(response.getheader("X-Statements", "-1")))
        seen["transactions"].append(int(response.getheader("X-Transactions", "-1")))
    results.put({**seen, "start": start, "end": time.time()})


def _submits(links: list[str]) -> list[Call]:
    body = json.dumps({"answers": dataset.ANSWERS}).encode()
    headers = {"Content-Type": "application/json"}
    return [Call("POST", f"/v1/feedback-forms/{link}", headers, body) for link in links]


def measure(
    base: str, links: Links, admin: dict[str, str], therapist: dict[str, str], each: int
) -> dict:
    bare = [Call("POST", "/bench/bare", admin)] * each
    weekly = iter(links.weekly)
    load(base, "warm-up", [Call("POST", "/bench/bare", admin)] * 20, 2, 204)
    load(base, "warm-up", _submits([next(weekly) for _ in range(20)]), 2, 201)
    pairs = []
    for concurrency in (1, 2, 4):
        floor = load(base, "bare", bare, concurrency, 204)
        submit = load(
            base, "submit", _submits([next(weekly) for _ in range(each)]), concurrency, 201
        )
        pairs.append((floor, submit))
    chart = f"/v1/couples/{links.couples[1]}/alliance.svg"
    held = _get(base, chart, therapist).getheader("ETag")
    reads = [
        ("couples list (50)", [Call("GET", "/v1/couples?limit=50", therapist)] * 200, 200),
        ("chart, cached", [Call("GET", chart, therapist)] * 200, 200),
        ("chart, 304", [Call("GET", chart, {**therapist, "If-None-Match": held})] * 200, 304),
        ("chart, fresh", _charts(links, range(2, MEASURED_COUPLES + 1), therapist), 200),
        (
            "chart, fresh, 200 sessions",
            _charts(links, range(TWO_HUNDREDTH[0], TWO_HUNDREDTH[1] + 1), therapist),
            200,
        ),
    ]
    history = [
        load(base, "5th session", _submits(links.fifth), 1, 201),
        load(base, "200th session", _submits(links.two_hundredth), 1, 201),
    ]
    return {
        "pairs": pairs,
        "reads": [load(base, name, calls, 1, expected) for name, calls, expected in reads],
        "history": history,
        "lists": _lists(base, admin),
    }


def _charts(links: Links, numbers: range, caller: dict[str, str]) -> list[Call]:
    return [Call("GET", f"/v1/couples/{links.couples[n]}/alliance.svg", caller) for n in numbers]


def _get(base: str, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def _lists(base: str, admin: dict[str, str]) -> list[tuple[str, int, int, int, int]]:
    """Every paged list without a path parameter: (path, items, statements) at 2 and 200."""
    spec = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    found = []
    for path, operations in spec["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        if "{" in path or not any(p.get("name") == "limit" for p in parameters):
            continue
        sizes = []
        for limit in (2, 200):
            # The fewest of four calls: each gunicorn worker warms its own caches once.
            calls = [_get(base, f"{path}?limit={limit}", admin) for _ in range(4)]
            response = calls[-1]
            items = len(json.loads(response.body).get("items", [])) if response.status == 200 else 0
            cost = min(int(call.getheader("X-Statements", "-1")) for call in calls)
            sizes.append((response.status, items, cost))
        found.append((path, *sizes))
    return found


# -- the report ----------------------------------------------------------------------------------


def report(figures: dict) -> None:
    print("\n| run | c | req/s | p50 ms | p95 ms | p99 ms | errors | statements | transactions |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    every = [r for pair in figures["pairs"] for r in pair] + figures["reads"] + figures["history"]
    for r in every:
        print(
            f"| {r.name} | {r.concurrency} | {r.throughput:.0f} | {r.percentile(50):.1f} | "
            f"{r.percentile(95):.1f} | {r.percentile(99):.1f} | {r.errors} | "
            f"{statistics.median(r.statements):.0f} (max {max(r.statements)}) | "
            f"{statistics.median(r.transactions):.0f} |"
        )
    print("\n| paged list | status | items at 2 | statements | items at 200 | statements |")
    print("|---|--:|--:|--:|--:|--:|")
    for path, (status, items_2, at_2), (_, items_200, at_200) in figures["lists"]:
        print(f"| {path} | {status} | {items_2} | {at_2} | {items_200} | {at_200} |")
    print("\n| budget (DESIGN §12) | measured | |")
    print("|---|--:|---|")
    for name, value, ok in budgets(figures):
        print(f"| {name} | {value} | {'PASS' if ok else 'FAIL'} |")


def budgets(figures: dict) -> Iterator[tuple[str, str, bool]]:
    for floor, submit in figures["pairs"]:
        ratio = submit.throughput / floor.throughput
        yield (
            f"submit / bare endpoint, concurrency {submit.concurrency}",
            f"{ratio:.2f} ({submit.throughput:.0f} / {floor.throughput:.0f} per s)",
            ratio >= 0.5,
        )
    every = [r for pair in figures["pairs"] for r in pair] + figures["history"]
    errors = sum(r.errors for r in every) + sum(r.errors for r in figures["reads"])
    yield "errors, every run", str(errors), errors == 0
    submits = [r for r in every if r.expected == 201]
    most = max(max(r.statements) for r in submits)
    yield "statements per submit (max)", str(most), most <= 12
    transactions = {t for r in submits for t in r.transactions}
    yield "transactions per submit", ", ".join(map(str, sorted(transactions))), transactions == {1}
    fifth, two_hundredth = figures["history"]
    costs = (statistics.median(fifth.statements), statistics.median(two_hundredth.statements))
    yield (
        "statements at the 5th vs the 200th session",
        f"{costs[0]:.0f} vs {costs[1]:.0f}",
        costs[0] == costs[1],
    )
    slower = two_hundredth.percentile(50) / fifth.percentile(50)
    yield "p50 at the 200th / the 5th session", f"{slower:.2f}", slower <= 1.2
    listed, cached, _, fresh, fresh_long = figures["reads"]
    for run_, budget in ((listed, 15), (cached, 15), (fresh, 25), (fresh_long, 25)):
        p50 = run_.percentile(50)
        yield f"{run_.name} p50 ≤ {budget} ms", f"{p50:.1f} ms", p50 <= budget
    constant = [path for path, small, large in figures["lists"] if small[2] != large[2]]
    yield "lists whose statements differ at 2 and 200", ", ".join(constant) or "none", not constant


if __name__ == "__main__":
    main()
