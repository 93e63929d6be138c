"""`/fhir/R4`: FHIR R4 for EHR integrators. Plain Flask views (not part of the /v1 OpenAPI
document), `application/fhir+json`, every error an OperationOutcome. The same bearer tokens
as /v1 (`authenticate`), SMART v2 system scopes checked per type, and the same unit of work
(`transactional`: reads commit their audit events)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request, send_file
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from service.core.context import Actor
from service.core.errors import DomainError, Forbidden, Malformed, NotFound
from service.db import audit
from service.fhir import capability, export, outcomes, params, transaction
from service.fhir import service as resources
from service.fhir.outcomes import Issue
from service.http import problems
from service.http.extensions import authenticate, transactional
from service.http.problems import STATUS_BY_ERROR
from service.staff.policy import covers

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
EXPORT_PARAMS = frozenset({"_since", "_type", "_outputFormat"})
RETRY_AFTER = "2"
RELEASED = datetime(2026, 12, 3, tzinfo=UTC)
log = logging.getLogger(__name__)

blp = Blueprint("fhir", __name__, url_prefix="/fhir/R4")


# -- responses and errors -----------------------------------------------------------------------


def fhir(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    response = Response(json.dumps(body), status=status, mimetype=FHIR_JSON)
    response.headers.update(headers or {})
    return response


def _outcome(status: int, diagnostics: str, *, issues: list[Issue] | None = None) -> Response:
    body = (
        outcomes.operation_outcome(issues)
        if issues
        else outcomes.outcome_for_status(status, diagnostics)
    )
    headers = {"WWW-Authenticate": 'Bearer realm="alliance"'} if status == 401 else {}
    return fhir(body, status, headers)


@blp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Response:
    audit.record_refusal(error)
    if isinstance(error, transaction.EntryErrors):
        status = STATUS_BY_ERROR.get(error.cause, 400)
        return _outcome(status, error.detail, issues=error.issues)
    return _outcome(STATUS_BY_ERROR.get(type(error), 400), error.detail)


@blp.errorhandler(params.SearchError)
def _search_error(error: params.SearchError) -> Response:
    code = "not-supported" if "not supported" in error.message else "invalid"
    return _outcome(400, "", issues=[Issue(error.message, code, (error.parameter,))])


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    response = _outcome(error.code or 500, error.description or "Request failed.")
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


@blp.errorhandler(IntegrityError)
@blp.errorhandler(StaleDataError)
def _conflict(_error: Exception) -> Response:
    return _outcome(409, "The request conflicts with existing data; read it again and retry.")


@blp.errorhandler(DBAPIError)
def _database_error(error: DBAPIError) -> Response:
    detail = problems.passing_database_trouble(error)
    if detail is None:
        return _unexpected(error)
    response = _outcome(503, detail)
    response.headers["Retry-After"] = problems.RETRY_AFTER_S
    return response


@blp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    log.exception("unhandled FHIR error", exc_info=error)
    return _outcome(500, "The server could not complete the request.")


# -- who may do what ------------------------------------------------------------------------------


def _require(*scopes: str) -> Actor:
    caller = authenticate()
    missing = [scope for scope in scopes if not covers(caller.scopes, scope)]
    if missing:
        raise Forbidden("Your token does not allow this: " + ", ".join(missing))
    return caller


def _source(kind: str) -> resources.Source:
    if kind not in resources.SOURCES:
        raise NotFound(f"This server has no resource type {kind[:64]}.")
    return resources.SOURCES[kind]


def _base() -> str:
    return export.fhir_base(current_app.config["SETTINGS"].base_url)


def _view(func: Callable) -> Callable:
    """Every FHIR view: in the request's unit of work, committed on success."""
    return transactional(func)


# -- capabilities, read and search -----------------------------------------------------------------


@blp.get("/metadata")
def metadata() -> Response:
    names = {kind: source.params for kind, source in resources.SOURCES.items()}
    token_url = current_app.config["SETTINGS"].base_url.rstrip("/") + "/oauth/token"
    return fhir(capability.capability_statement(_base(), token_url, RELEASED, names))


@blp.get("/<kind>")
@_view
def search_type(kind: str) -> Response:
    authenticate()
    source = _source(kind)
    _require(capability.read_scope(kind))
    query = params.parse(list(request.args.items(multi=True)), source.params)
    found, after = resources.search(kind, query, _base())
    return fhir(outcomes.searchset(found, _base(), request.url, _next_url(kind, after)))


def _next_url(kind: str, after: params.Cursor | None) -> str | None:
    if after is None:
        return None
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "_cursor"]
    return f"{_base()}/{kind}?{urlencode([*kept, ('_cursor', params.encode_cursor(after))])}"


@blp.get("/<kind>/<ident>")
@_view
def read(kind: str, ident: str) -> Response:
    authenticate()
    _source(kind)
    _require(capability.read_scope(kind))
    params.parse(list(request.args.items(multi=True)), frozenset())
    return fhir(resources.read(kind, ident, _base()))


# -- Bulk Data export ------------------------------------------------------------------------------


@blp.get("/$export")
@_view
def export_system() -> Response:
    return _kick_off(tuple(resources.SOURCES), None)


@blp.get("/Group/<ident>/$export")
@_view
def export_group(ident: str) -> Response:
    return _kick_off(resources.GROUP_TYPES, ident)


def _kick_off(offered: tuple[str, ...], group: str | None) -> Response:
    caller = authenticate()
    group_id = resources.mapping.as_uuid(group) if group is not None else None
    if group is not None and group_id is None:
        raise NotFound(f"Group/{group[:64]} is not known.")
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise Malformed("Bulk export needs the header Prefer: respond-async.")
    args = list(request.args.items(multi=True))
    unknown = sorted({name for name, _ in args} - EXPORT_PARAMS)
    if unknown:
        raise params.SearchError(unknown[0], "This export parameter is not supported.")
    if request.args.get("_outputFormat", NDJSON) not in OUTPUT_FORMATS:
        raise params.SearchError("_outputFormat", "Only application/fhir+ndjson is written.")
    types = _export_types(caller, offered, request.args.getlist("_type"))
    since = request.args.get("_since")
    when = params.parse_instant(since, "_since") if since is not None else None
    job = export.kick_off(types, when, group_id, request.url)
    return fhir(
        outcomes.operation_outcome(
            [Issue("Export accepted.", "informational", severity="information")]
        ),
        202,
        {"Content-Location": f"{_base()}/bulk-status/{job.id}"},
    )


def _export_types(caller: Actor, offered: tuple[str, ...], asked: list[str]) -> list[str]:
    named = [kind.strip() for value in asked for kind in value.split(",") if kind.strip()]
    for kind in named:
        if kind not in offered:
            raise params.SearchError("_type", f"{kind[:64]} cannot be exported here.")
    wanted = list(dict.fromkeys(named)) or list(offered)
    allowed = [kind for kind in wanted if covers(caller.scopes, capability.read_scope(kind))]
    if not allowed or (named and len(allowed) < len(wanted)):
        raise Forbidden("Your token does not allow reading every type asked for.")
    return allowed


@blp.get("/bulk-status/<uuid:job_id>")
@_view
def export_status(job_id: uuid.UUID) -> Response:
    authenticate()
    job = export.status(job_id)
    if job.status in ("queued", "running"):
        headers = {"X-Progress": job.progress, "Retry-After": RETRY_AFTER}
        return Response(status=202, headers=headers)
    if job.status == "failed":
        return _outcome(500, job.error or "The export failed.")
    return Response(json.dumps(_manifest(job)), status=200, mimetype="application/json")


def _manifest(job: Any) -> dict[str, Any]:
    files = f"{_base()}/bulk-files/{job.id}"
    return {
        "transactionTime": resources.mapping.instant(job.transaction_time),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": item["type"], "url": f"{files}/{item['file']}", "count": item["count"]}
            for item in job.output
        ],
        "error": [],
    }


@blp.delete("/bulk-status/<uuid:job_id>")
@_view
def export_cancel(job_id: uuid.UUID) -> Response:
    authenticate()
    export.cancel(job_id, current_app.config["SETTINGS"].export_dir)
    return fhir(
        outcomes.operation_outcome(
            [Issue("Export cancelled.", "informational", severity="information")]
        ),
        202,
    )


@blp.get("/bulk-files/<uuid:job_id>/<name>")
@_view
def export_file(job_id: uuid.UUID, name: str) -> Response:
    authenticate()
    path = export.output_file(job_id, name, current_app.config["SETTINGS"].export_dir)
    return send_file(path, mimetype=NDJSON, conditional=False, max_age=0)


# -- schedule import (transaction Bundle) ------------------------------------------------


@blp.post("")
@blp.post("/")
@_view
def transaction_bundle() -> Response:
    caller = authenticate()
    bundle = _json_body()
    link_base = current_app.config["SETTINGS"].base_url
    results = transaction.apply(bundle, lambda scope: covers(caller.scopes, scope), link_base)
    return fhir(outcomes.transaction_response(results))


def _json_body() -> Any:
    if not request.get_data(cache=True):
        raise Malformed("Send a transaction Bundle as the body.")
    if request.mimetype not in (FHIR_JSON, "application/json"):
        raise UnsupportedMediaType("Send the Bundle as application/fhir+json.")
    return request.get_json()  # bounded, and parsed before anything else (service.http.bodies)


WRITES = ["POST", "PUT", "PATCH", "DELETE"]


@blp.route("/<kind>/<ident>/<path:rest>", methods=["GET", *WRITES])
@blp.route("/<kind>/<ident>", methods=WRITES)
@blp.route("/<kind>", methods=WRITES)
def unsupported(**_path: str) -> Response:
    """Anything else under /fhir/R4 (history, vread, writes outside a transaction)."""
    if request.method == "GET":
        return _outcome(404, "No such FHIR endpoint.")
    return _outcome(405, "This interaction is not supported.")
