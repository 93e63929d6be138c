"""What `/metrics` serves and to whom, for the API (service.ops.api) and the worker (its own
small server on ALLIANCE_WORKER_METRICS_PORT: the worker runs apart, often on another machine,
so its deliveries and failures cannot reach the API's files)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http import HTTPStatus
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from service.core import context, metrics
from service.core.clock import utcnow
from service.core.metrics_gate import MetricsGate, Refusal
from service.db import uow
from service.notifications import service as notifications
from service.settings import Settings

log = logging.getLogger(__name__)


def gate(settings: Settings) -> MetricsGate:
    return MetricsGate.of(
        settings.metrics_token, settings.metrics_allow, relaxed=settings.is_relaxed
    )


def challenge(refused: Refusal) -> dict[str, str]:
    """The headers a refusal carries: 401 says how to authenticate."""
    return {"WWW-Authenticate": 'Bearer realm="metrics"'} if refused.status == 401 else {}


class OutboxBacklog:
    """Outbox depth and the age of its oldest undelivered message, read at scrape time, so
    every process reports the same figure whichever answers. With the database down the
    scrape still answers, without these two (readyz reports the outage)."""

    def collect(self) -> Iterator[Metric]:
        try:
            with context.system_context("metrics: outbox backlog"), uow.unit_of_work():
                found = notifications.backlog()
        except SQLAlchemyError:
            return
        depth = GaugeMetricFamily(
            "alliance_outbox_depth", "Undelivered outbox messages", labels=["channel"]
        )
        age = GaugeMetricFamily(
            "alliance_outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox message (0 when there is none)",
            labels=["channel"],
        )
        now = utcnow()
        for row in found:
            depth.add_metric([row.channel], row.depth)
            oldest = row.oldest_created_at
            age.add_metric([row.channel], (now - oldest).total_seconds() if oldest else 0.0)
        yield depth
        yield age


def api_exposition() -> bytes:
    return metrics.exposition([OutboxBacklog()])


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *_args: object) -> None:
        """Scrapes are not worth a log line each."""


def serve_worker_metrics(settings: Settings) -> WSGIServer:
    """The worker's counters on 0.0.0.0:`worker_metrics_port`, behind the same gate as the
    API's, answered from a daemon thread."""
    allowed = gate(settings)

    def app(environ: dict, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found: the worker serves /metrics only.\n"]
        refused = allowed.refusal(environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION"))
        if refused is not None:
            status = f"{refused.status} {HTTPStatus(refused.status).phrase}"
            start_response(status, [("Content-Type", "text/plain"), *challenge(refused).items()])
            return [refused.detail.encode() + b"\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [metrics.exposition()]

    every_interface = "0.0.0.0"  # noqa: S104 - a container's port; the gate decides who reads
    server = make_server(
        every_interface, settings.worker_metrics_port, app, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    log.info("worker metrics served", extra={"port": server.server_port})
    return server
