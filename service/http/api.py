"""flask-smorest, extended once for the whole API.

- `Api` renders every error as RFC 9457 problem+json and documents it that way.
- `Blueprint` makes query strings strict (unknown parameter → 400), bodies strict (unknown
  field → 422), and wraps every view so the request's unit of work commits only on success.
"""

from __future__ import annotations

import functools
import http
from collections.abc import Callable
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from service.db import uow
from service.http import etags, idempotency, problems

IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "description": "The `ETag` you read; a stale one gets 412.",
    "schema": {"type": "string", "pattern": etags.IF_MATCH.pattern},
}
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Retry safely: the same key and body replay the stored response (24 h).",
    "schema": {"type": "string", "pattern": idempotency.KEY_PATTERN.pattern},
}


class Api(flask_smorest.Api):
    ERROR_SCHEMA = problems.ProblemSchema

    def __init__(self, app: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("spec_kwargs", {})
        super().__init__(app, **kwargs)

    def handle_http_exception(self, error: HTTPException) -> Any:
        return problems.from_http_exception(error)

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, problems.PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Problem details (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, problems.PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class Blueprint(flask_smorest.Blueprint):
    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable:
        instance = schema() if isinstance(schema, type) else schema
        if location == "query":
            kwargs.setdefault("error_status_code", 400)
        kwargs.setdefault("unknown", ma.RAISE)
        names = (
            {field.data_key or name for name, field in instance.fields.items()}
            if location == "query"
            else set()
        )
        decorate = super().arguments(instance, location=location, **kwargs)
        needs_body = location == "json" and kwargs.get("required", True)

        def decorator(func: Callable) -> Callable:
            wrapped = decorate(func)
            if needs_body:
                wrapped = _requires_json_body(wrapped)
            wrapped._query_params = getattr(func, "_query_params", frozenset()) | names
            return wrapped

        return decorator

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Any = None,
        provide_automatic_options: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(view_func, type) and issubclass(view_func, MethodView):
            view_func.decorators = [*view_func.decorators, api_view]
        elif view_func is not None:
            view_func = api_view(view_func)
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **kwargs)

    @staticmethod
    def if_match(func: Callable) -> Callable:
        """Document the optional `If-Match` header (checked by `etags.check`)."""
        return _add_parameter(func, IF_MATCH)

    @staticmethod
    def documents_idempotency(func: Callable) -> Callable:
        return _add_parameter(func, IDEMPOTENCY_KEY)


def _requires_json_body(view: Callable) -> Callable:
    """webargs reads a missing or non-JSON body as `{}`; a required body must be present."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not request.get_data(cache=True):
            flask_smorest.abort(422, messages={"json": {"body": ["A JSON body is required."]}})
        if not request.is_json:
            flask_smorest.abort(415, message="Send the body as application/json.")
        return view(*args, **kwargs)

    return wrapper


def _add_parameter(func: Callable, parameter: dict[str, Any]) -> Callable:
    doc = func.__dict__.setdefault("_apidoc", {})
    doc.setdefault("manual_doc", {}).setdefault("parameters", []).append(parameter)
    return func


def transactional(view: Callable) -> Callable:
    """Commit the request's unit of work after the view, only if the response is a success."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code < 400:
            uow.commit()
        return response

    return wrapper


def api_view(view: Callable) -> Callable:
    """Every API view: a strict query string, then the view in a transaction."""
    committed = transactional(view)

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _reject_unknown_query_parameters(view)
        return committed(*args, **kwargs)

    return wrapper


def _reject_unknown_query_parameters(view: Callable) -> None:
    if request.method == "OPTIONS" or not request.args:
        return
    # A MethodView's decorators wrap its inner view before Flask sets `view_class` on the
    # outer one, so look the class up from the registered endpoint.
    registered = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None) or getattr(registered, "view_class", None)
    method = request.method.lower() if request.method != "HEAD" else "get"
    handler = getattr(view_class, method, None) if view_class else view
    allowed = getattr(handler, "_query_params", frozenset())
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        flask_smorest.abort(
            400, messages={"query": {name: ["Unknown query parameter."] for name in unknown}}
        )
