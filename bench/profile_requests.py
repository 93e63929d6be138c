"""CPU per request, in process: the requests `bench.http_load` measures over HTTP, sent with
Flask's test client to `bench.app` on a small seeded PostgreSQL database (the load bench's
dataset at `--clinics`, 20 by default), timed with the process's CPU clock, so the figures
hold on a busy machine where wall-clock latency does not.

    .venv/bin/python -m bench.profile_requests [--requests 100] [--clinics 20]
    .venv/bin/python -m bench.profile_requests --profile submit   # and cProfile's top entries

For each request kind: median and mean ms of this process's CPU (PostgreSQL's own work is not
in it), median wall ms, the Python function calls of one request (the same on a busy machine,
where CPU ms are not: compare these across changes) and its statements. The first requests of
every kind warm the process's caches and are not counted, as a long-running gunicorn worker's
are.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from bench import dataset, http_load
from tests import database
from tests.fixtures import create_clinic

WARM = 10
KINDS = (
    "bare",
    "submit",
    "couples list (50)",
    "chart, cached",
    "chart, 304",
    "chart, fresh",
    "chart, fresh, 200 sessions",
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None
    expected: int = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="measured per kind")
    parser.add_argument("--clinics", type=int, default=20)
    parser.add_argument("--profile", choices=KINDS, action="append", default=[])
    parser.add_argument("--top", type=int, default=30, help="cProfile entries to print")
    args = parser.parse_args()
    with http_load.throwaway_database("profile") as (db, folder):
        run(db, args, folder)


def run(db: database.TestDatabase, args: argparse.Namespace, folder: str) -> None:
    settings = http_load.bench_settings(db, folder)
    os.environ.update(http_load.environment(settings))
    bench_app = importlib.import_module("bench.app")
    clinic = replace(create_clinic(settings.token_issuer), ttl=6 * 3600)
    admin, therapist = clinic.staff("admin"), clinic.staff("therapist")
    links = http_load.seed(db, str(clinic.id), str(therapist.id), args.clinics, args.requests)
    client = bench_app.app.test_client()
    print("| request | CPU ms median | CPU ms mean | wall ms median | calls | statements |")
    print("|---|--:|--:|--:|--:|--:|")
    profiles = []
    kinds = requests(client, links, admin.headers, therapist.headers, args.requests)
    for kind, (warm, measured) in kinds:
        for request in warm:
            send(client, request)
        # CPU time, like the table; a profiled kind's figures include the profiler's cost.
        profiler = cProfile.Profile(time.process_time) if kind in args.profile else None
        cpu, wall = measure(client, measured[:-1], profiler)
        calls = count_calls(client, measured[-1])
        name = f"{kind} (profiled)" if profiler else kind
        print(
            f"| {name} | {statistics.median(cpu):.2f} | {statistics.mean(cpu):.2f} | "
            f"{statistics.median(wall):.2f} | {calls} | {bench_app.spent['statements']} |",
            flush=True,
        )
        if profiler is not None:
            profiles.append((kind, profiler))
    for kind, profiler in profiles:
        print_profile(kind, profiler, args.top)


def requests(
    client: Any, links: http_load.Links, admin: dict, therapist: dict, each: int
) -> Iterator[tuple[str, tuple[list[Request], list[Request]]]]:
    """Per kind: the warm-up requests and the measured ones."""
    weekly = iter(links.weekly)
    yield "bare", _repeat(Request("POST", "/bench/bare", admin, expected=204), each)
    submits = [_submit(next(weekly)) for _ in range(WARM + each)]
    yield "submit", (submits[:WARM], submits[WARM:])
    yield "couples list (50)", _repeat(Request("GET", "/v1/couples?limit=50", therapist), each)
    chart = _chart(links, 1, therapist)
    yield "chart, cached", _repeat(chart, each)
    held = client.get(chart.path, headers=therapist).headers["ETag"]
    not_modified = Request("GET", chart.path, {**therapist, "If-None-Match": held}, expected=304)
    yield "chart, 304", _repeat(not_modified, each)
    fresh = [_chart(links, n, therapist) for n in range(2, http_load.MEASURED_COUPLES + 1)]
    yield "chart, fresh", (fresh[:WARM], fresh[WARM:])
    long = [_chart(links, n, therapist) for n in range(*http_load.TWO_HUNDREDTH)]
    yield "chart, fresh, 200 sessions", (long[:3], long[3:])


def _repeat(request: Request, each: int) -> tuple[list[Request], list[Request]]:
    return [request] * WARM, [request] * each


def _submit(link: str) -> Request:
    body = json.dumps({"answers": dataset.ANSWERS}).encode()
    return Request(
        "POST", f"/v1/feedback-forms/{link}", {"Content-Type": "application/json"}, body, 201
    )


def _chart(links: http_load.Links, number: int, caller: dict) -> Request:
    return Request("GET", f"/v1/couples/{links.couples[number]}/alliance.svg", caller)


def send(client: Any, request: Request) -> None:
    response = client.open(
        request.path, method=request.method, headers=request.headers, data=request.body
    )
    if response.status_code != request.expected:
        raise SystemExit(f"{request.method} {request.path}: {response.status_code}")


def measure(
    client: Any, measured: list[Request], profiler: cProfile.Profile | None
) -> tuple[list[float], list[float]]:
    """CPU and wall ms of each request."""
    cpu, wall = [], []
    for request in measured:
        started_cpu, started = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.runcall(send, client, request)
        else:
            send(client, request)
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return cpu, wall


def count_calls(client: Any, request: Request) -> int:
    """The Python and C function calls one request makes."""
    calls = 0

    def count(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(count)
    try:
        send(client, request)
    finally:
        sys.setprofile(None)
    return calls


def print_profile(kind: str, profiler: cProfile.Profile, top: int) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        print(f"\n## {kind}, by {order}\n{out.getvalue()}")


if __name__ == "__main__":
    main()
