"""Per-request plumbing installed once on the app: request ids, context, bounded JSON bodies,
errors, CORS, security headers, and closing the unit of work."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from service.core import context, metrics
from service.core.clock import monotonic
from service.core.errors import DomainError
from service.db import audit, uow
from service.http import bodies, limits, problems

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger("service.request")


class OriginAllowList:
    """The deployment's origins plus every clinic's own, loaded by `load` and cached.

    A miss reloads (at most once a second), so a clinic's new frontend works within a second
    on this process, and an unknown origin cannot make every request query the database.
    """

    def __init__(self, fixed: tuple[str, ...], load: Callable[[], frozenset[str]]) -> None:
        self._fixed = frozenset(fixed)
        self._load = load
        self._lock = threading.Lock()
        self._loaded: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")

    def __contains__(self, origin: str) -> bool:
        if origin in self._fixed or origin in self._loaded:
            return True
        with self._lock:
            if monotonic() - self._loaded_at >= 1.0:
                self._loaded = self._load()
                self._loaded_at = monotonic()
        return origin in self._loaded


def install(app: Flask, clinic_origins: Callable[[], frozenset[str]]) -> None:
    app.extensions["alliance.cors"] = OriginAllowList(
        app.config["SETTINGS"].cors_origins, clinic_origins
    )
    app.before_request(_start)
    bodies.install(app)
    app.after_request(_finish)
    app.teardown_request(_teardown)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(StaleDataError, problems.from_stale_row)
    app.register_error_handler(IntegrityError, problems.from_integrity_error)
    app.register_error_handler(DBAPIError, problems.from_database_error)
    app.register_error_handler(HTTPException, problems.from_http_exception)
    app.register_error_handler(Exception, problems.from_unexpected)


def _start() -> None:
    offered = request.headers.get("X-Request-ID", "")
    request_id = offered if REQUEST_ID.match(offered) else uuid.uuid4().hex
    route = request.url_rule.rule if request.url_rule else None
    context.set_context(
        context.RequestContext(request_id=request_id, ip=request.remote_addr, route=route)
    )
    g.request_id = request_id
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    # Installed before the limiter (service.create_app), so Flask runs this after it.
    limits.keep_own_retry_after(response)
    response.headers["X-Request-ID"] = context.current().request_id or ""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith(("/v1/", "/oauth/", "/fhir/")):
        response.headers.setdefault("Cache-Control", "no-store")
    _cors(response)
    route = request.url_rule.rule if request.url_rule else "unmatched"
    metrics.REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    metrics.LATENCY.labels(request.method, route).observe(time.perf_counter() - g.started)
    log.info(
        "request",
        extra={"method": request.method, "route": route, "status": response.status_code},
    )
    return response


def _domain_error(error: DomainError) -> Response:
    audit.record_refusal(error)
    return problems.from_domain_error(error)


def _teardown(_error: BaseException | None) -> None:
    uow.close()
    context.set_context(context.RequestContext())


def _cors(response: Response) -> None:
    """Allow-listed origins only; never a wildcard, so credentials are never shared widely."""
    origin = request.headers.get("Origin")
    if not origin or origin not in current_app.extensions["alliance.cors"]:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Expose-Headers"] = (
        "ETag, Link, Location, X-Request-ID, Retry-After, Idempotency-Replayed, Idempotent-Replayed"
    )
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
        response.headers["Access-Control-Allow-Headers"] = (
            "Authorization, Content-Type, If-Match, Idempotency-Key, X-Request-ID"
        )
        response.headers["Access-Control-Max-Age"] = "600"
