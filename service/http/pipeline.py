"""Per-request plumbing installed once on the app: request ids, context, errors, CORS,
security headers, and closing the unit of work."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from service.core import context, metrics
from service.core.errors import DomainError
from service.db import uow
from service.http import problems

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger("service.request")


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_teardown)
    app.register_error_handler(DomainError, problems.from_domain_error)
    app.register_error_handler(StaleDataError, problems.from_stale_row)
    app.register_error_handler(IntegrityError, problems.from_integrity_error)
    app.register_error_handler(HTTPException, problems.from_http_exception)
    app.register_error_handler(Exception, problems.from_unexpected)


def _start() -> None:
    offered = request.headers.get("X-Request-ID", "")
    request_id = offered if REQUEST_ID.match(offered) else uuid.uuid4().hex
    context.set_context(context.RequestContext(request_id=request_id, ip=request.remote_addr))
    g.request_id = request_id
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
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


def _teardown(_error: BaseException | None) -> None:
    uow.close()
    context.set_context(context.RequestContext())


def _cors(response: Response) -> None:
    """Allow-listed origins only (deployment setting); never a wildcard with credentials."""
    origin = request.headers.get("Origin")
    if not origin:
        return
    allowed = current_app.config["SETTINGS"].cors_origins
    if origin not in allowed:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Expose-Headers"] = (
        "ETag, Link, Location, X-Request-ID, Retry-After"
    )
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
        response.headers["Access-Control-Allow-Headers"] = (
            "Authorization, Content-Type, If-Match, Idempotency-Key, X-Request-ID"
        )
        response.headers["Access-Control-Max-Age"] = "600"
