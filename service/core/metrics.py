"""Prometheus metrics, defined once. Labels carry routes, outcomes, rules and exception class
names, never personal data.

Under gunicorn every process counts on its own; with `PROMETHEUS_MULTIPROC_DIR` set
(deploy/gunicorn.conf.py sets it before any worker imports this) prometheus_client writes the
values to files there and `exposition` adds up every process's, so a scrape answered by any
worker reports the totals of all of them. Figures read from the database at scrape time (the
outbox backlog) come from collectors passed to `exposition`, never from files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

REQUESTS = Counter(
    "alliance_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "alliance_http_request_seconds", "HTTP request latency by route", ["method", "route"]
)
DELIVERIES = Counter(
    "alliance_outbox_deliveries_total",
    "Outbox delivery attempts by channel and result (sent, retry, dead)",
    ["channel", "result"],
)
WORKER_FAILURES = Counter(
    "alliance_worker_failures_total",
    "Failures the worker caught and will retry, by stage and exception class",
    ["stage", "error"],
)
ALERTS_RAISED = Counter(
    "alliance_alerts_raised_total", "New alerts by leading rule and severity", ["rule", "severity"]
)
SUBMISSIONS = Counter(
    "alliance_feedback_submissions_total",
    "Feedback responses recorded, by source (partner link, staff entry)",
    ["source"],
)


def failure(stage: str, exc: BaseException) -> dict[str, str]:
    """Count a caught failure; returns the log fields that describe it (no message text: an
    exception's text may quote an address or a bound SQL parameter)."""
    error = type(exc).__name__
    WORKER_FAILURES.labels(stage, error).inc()
    return {"stage": stage, "error": error}


def exposition(live: Iterable[Collector] = ()) -> bytes:
    """The text format of every counter (all processes' in multiprocess mode) and of the
    `live` collectors, which are asked now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    now = CollectorRegistry(auto_describe=False)
    for collector in live:
        now.register(collector)
    return generate_latest(counted) + generate_latest(now)
