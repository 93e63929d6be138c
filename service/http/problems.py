"""RFC 9457 problem details: the one shape every error response takes."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

import marshmallow as ma
from flask import Response, request
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from service.core import context
from service.core import errors as domain

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)
QUERY_CANCELED = "57014"  # SQLSTATE of a statement ended by statement_timeout
RETRY_AFTER_S = "5"
UNREACHABLE = "The database is not reachable; try again shortly."

STATUS_BY_ERROR: dict[type[domain.DomainError], int] = {
    domain.Malformed: 400,
    domain.Invalid: 422,
    domain.Unauthenticated: 401,
    domain.Forbidden: 403,
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.Gone: 410,
    domain.PreconditionFailed: 412,
}


class ProblemSchema(ma.Schema):
    """An error, as RFC 9457 problem details."""

    type = ma.fields.String(
        required=True,
        metadata={"example": "about:blank", "description": "A URI naming the kind of problem."},
    )
    title = ma.fields.String(
        required=True,
        metadata={
            "description": "A short summary of the kind of problem.",
            "example": "Unprocessable Entity",
        },
    )
    status = ma.fields.Integer(
        required=True, metadata={"description": "The HTTP status code.", "example": 422}
    )
    detail = ma.fields.String(
        metadata={"description": "What went wrong with this request.", "example": "Invalid label."}
    )
    instance = ma.fields.String(
        metadata={"description": "The path of the request.", "example": "/v1/couples"}
    )
    request_id = ma.fields.String(
        metadata={
            "description": "The request's `X-Request-ID`: quote it to support.",
            "example": "4f1c0b7e2a9d4c38",
        }
    )
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={
            "description": "Validation messages by field name (422, 400).",
            "example": {"label": ["Missing data for required field."]},
        },
    )


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    kind: str | None = None,
) -> Response:
    body: dict[str, object] = {
        "type": f"urn:alliance:problem:{kind}" if kind else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "instance": request.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    request_id = context.current().request_id
    if request_id:
        body["request_id"] = request_id
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_domain_error(error: domain.DomainError) -> Response:
    status = STATUS_BY_ERROR.get(type(error), 400)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="alliance", error="invalid_token"'
    kind = type(error).__name__.lower()
    return problem(
        status, error.detail, title=error.title, errors=error.errors, headers=headers, kind=kind
    )


def from_http_exception(error: HTTPException) -> Response:
    """Werkzeug and webargs errors. Keeps the exception's headers (Allow, Retry-After, ...)."""
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    data = getattr(error, "data", None) or {}
    errors = _flatten(data.get("messages")) if "messages" in data else None
    detail = data.get("message") or error.description
    if errors:
        detail = "Invalid " + ", ".join(sorted(errors)) + "."
    if status >= 500:
        detail = "The server could not complete the request."
    return problem(status, detail, errors=errors, headers=headers)


def from_stale_row(_error: StaleDataError) -> Response:
    return problem(
        412, "The resource changed since you read it; fetch it again.", kind="preconditionfailed"
    )


def from_integrity_error(error: IntegrityError) -> Response:
    log.info("integrity error turned into 409: %s", type(error.orig).__name__)
    return problem(409, "The request conflicts with existing data.", kind="conflict")


def database_unavailable(detail: str = UNREACHABLE) -> Response:
    return problem(503, detail, headers={"Retry-After": RETRY_AFTER_S}, kind="unavailable")


def passing_database_trouble(error: DBAPIError) -> str | None:
    """What to tell the caller when the database went away (a restart, a failover, a
    connection it ended), was locked, or cancelled a statement past its timeout: all pass, so
    a 503 to retry. None for anything else the driver raises: a bug, a 500."""
    if not (isinstance(error, OperationalError) or error.connection_invalidated):
        return None
    log.warning("database unavailable: %s", type(error.orig).__name__)
    if getattr(error.orig, "sqlstate", None) == QUERY_CANCELED:
        return "The database took too long to answer; try again."
    return UNREACHABLE


def from_database_error(error: DBAPIError) -> Response:
    detail = passing_database_trouble(error)
    return database_unavailable(detail) if detail else from_unexpected(error)


def from_unexpected(error: Exception) -> Response:
    log.exception("unhandled error", exc_info=error)
    return problem(500, "The server could not complete the request.")


def _flatten(messages: object, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests messages by location, then field: `{"json": {"a": {"b": [..]}}}` → `a.b`."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if not prefix and key in {"json", "query", "headers", "form", "path", "files"}:
                flat.update(_flatten(value, ""))
                continue
            key = "body" if key == "_schema" else key  # marshmallow's name for the whole body
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flatten(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "body"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "body"] = [str(messages)]
    return flat
