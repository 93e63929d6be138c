"""flask-smorest, extended once for the whole API: every route extension lives here.

- `Api` renders every error as RFC 9457 problem+json and documents it that way.
- `Blueprint` makes query strings strict (unknown parameter → 400), bodies strict (unknown
  field → 422), and wraps every view so the request's unit of work commits only on success.
- Route extensions, each documenting itself in the OpenAPI document: `require` (bearer token
  with scopes, optionally roles), `public` (no credential), `link_holder` (a personal link is
  the credential), `public_clinic` (anonymous, scoped to the clinic a URL names), `idempotent`
  (`Idempotency-Key`), `if_match` (`If-Match`).

Binding the caller and clinic for a request happens only here (`_bind`). The checks of a
credential come from the app: `create_app` registers an `Authenticator` (service.auth), so this
module depends on no feature.
"""

from __future__ import annotations

import functools
import http
import json
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import flask_smorest
import marshmallow as ma
from flask import Flask, current_app, request
from flask.views import MethodView
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from service.core import context
from service.core.context import Actor
from service.core.errors import Forbidden, Unauthenticated
from service.db import uow
from service.http import apidoc, bodies, etags, idempotency, problems

SECURITY_SCHEME = "oauth2"
AUTHENTICATOR = "alliance.authenticator"
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


class Authenticator(Protocol):
    """What the authorization server provides to check a bearer token."""

    def verify(self, token: str) -> tuple[Actor, dict[str, Any]] | None:
        """The caller of a well-signed, unexpired token (no database), else None."""

    def still_valid(self, caller: Actor, claims: dict[str, Any]) -> bool:
        """Not revoked, and its staff member or client still active (in the caller's clinic)."""


class LinkGrant(Protocol):
    """What a personal link opens: one partner, in one clinic."""

    clinic_id: uuid.UUID
    partner_id: uuid.UUID


def install_authenticator(app: Flask, authenticator: Authenticator) -> None:
    app.extensions[AUTHENTICATOR] = authenticator


class Api(flask_smorest.Api):
    ERROR_SCHEMA = problems.ProblemSchema

    def __init__(self, app: Any = None, **kwargs: Any) -> None:
        spec_kwargs = kwargs.setdefault("spec_kwargs", {})
        spec_kwargs.setdefault("extra_plugins", [apidoc.DocumentPlugin()])
        spec_kwargs.setdefault("servers", [apidoc.RELATIVE_SERVER])
        super().__init__(app, **kwargs)

    def _init_spec(self, **kwargs: Any) -> None:
        super()._init_spec(**kwargs)
        apidoc.install(self.ma_plugin)

    def handle_http_exception(self, error: HTTPException) -> Any:
        return problems.from_http_exception(error)

    def _openapi_json(self) -> Any:
        """The served document also names this deployment's configured base URL (the
        committed one only the relative server, so it does not depend on where it was made)."""
        document = self.spec.to_dict()  # apispec hands back its own options dict: do not edit
        base_url = current_app.config["SETTINGS"].base_url
        servers = [*document["servers"], apidoc.configured_server(base_url)]
        # Unsorted, as flask-smorest serves it: Swagger UI offers the scopes in this order.
        body = json.dumps({**document, "servers": servers}, indent=2)
        return current_app.response_class(body, mimetype="application/json")

    def _register_pagination_header(self) -> None:
        """Lists page by cursor (`Link`); flask-smorest's page-number header is never sent."""

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            if status in (429, 503):
                response["headers"] = apidoc.sends("Retry-After")
            prepare_response(response, self.spec, problems.PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Problem details (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, problems.PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = bodies.BoundedParser()

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


# -- credentials --------------------------------------------------------------------------------


def require(*scopes: str, roles: tuple[str, ...] | None = None) -> Callable:
    """Allow callers whose token carries every scope in `scopes` (and, when `roles` is given,
    only staff with one of those roles; integrator clients are then refused)."""

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = authenticate()
            missing = set(scopes) - caller.scopes
            if missing or (roles is not None and not caller.has_role(*roles)):
                raise Forbidden(
                    "Your token does not allow this: " + ", ".join(sorted(missing))
                    if missing
                    else "Your role does not allow this."
                )
            return func(*args, **kwargs)

        doc = _manual_doc(wrapper)
        doc["security"] = [{SECURITY_SCHEME: list(scopes)}]
        if roles is not None:
            doc["x-roles"] = list(roles)
        return wrapper

    return decorator


def public(func: Callable, credential: str | None = None) -> Callable:
    """Mark an endpoint as needing no token (documented with an empty security list), or
    only the `credential` its URL holds (see `apidoc.CREDENTIALS`)."""
    doc = _manual_doc(func)
    doc["security"] = []
    if credential is not None:
        doc["x-credential"] = credential
    return func


def rate_limited(func: Callable) -> Callable:
    """Document the 429 (with `Retry-After`) that the route's `limiter.limit` sends."""
    _manual_doc(func).setdefault("responses", {})["429"] = "TOO_MANY_REQUESTS"
    return func


def link_holder(
    resolve: Callable[[str], LinkGrant], locate: Callable[[str], uuid.UUID | None]
) -> Callable:
    """The view's `token` (a personal link) is the credential: `locate` names its clinic,
    `resolve` checks it there, and the view runs as that partner with `grant` for `token`."""

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, token: str, **kwargs: Any) -> Any:
            return func(*args, grant=open_link(token, resolve, locate), **kwargs)

        return public(wrapper, "personal-link")

    return decorator


def public_clinic(resolve: Callable[[str], uuid.UUID]) -> Callable:
    """Anonymous, but scoped to the clinic that the view's `slug` names (row-level security
    applies as for any caller); an unknown slug is 404 (raised by `resolve`)."""

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, slug: str, **kwargs: Any) -> Any:
            clinic_id = resolve(slug)
            _bind(Actor(kind="anonymous", subject="-", clinic_id=clinic_id))
            return func(*args, **kwargs)

        return public(wrapper, "clinic-slug")

    return decorator


def authenticate() -> Actor:
    """The bearer token's caller, bound to the request; 401 when it is missing or unusable."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("A bearer access token is required.")
    authenticator: Authenticator = current_app.extensions[AUTHENTICATOR]
    verified = authenticator.verify(token.strip())
    if verified is None:
        raise Unauthenticated("The access token is invalid or expired.")
    caller, claims = verified
    _bind(caller)  # before the check: its query runs in the caller's clinic
    if not authenticator.still_valid(caller, claims):
        raise Unauthenticated("The access token has been revoked.")
    return caller


def open_link(
    token: str,
    resolve: Callable[[str], LinkGrant],
    locate: Callable[[str], uuid.UUID | None],
) -> Any:
    """Resolve a personal link and act as its partner for the rest of the request: `resolve`
    runs in the clinic `locate` names, in the request's transaction (an unknown link finds
    no clinic, so no row)."""
    _bind(Actor(kind="partner", subject="-", clinic_id=locate(token)))
    grant = resolve(token)
    _bind(Actor(kind="partner", subject=str(grant.partner_id), clinic_id=grant.clinic_id))
    return grant


def act_as(caller: Actor) -> None:
    """A page whose own credential was checked (an invite link) acts as its holder."""
    _bind(caller)


def _bind(caller: Actor) -> None:
    context.bind(actor=caller, clinic_id=caller.clinic_id)


# -- idempotency and preconditions --------------------------------------------------------------


def idempotent(view: Callable | None = None, *, redact: tuple[str, ...] = ()) -> Callable:
    """`Idempotency-Key` on a creating POST, documented. `redact` names response fields holding
    one-time secrets: they are stored (and so replayed) as null."""
    if view is None:
        return functools.partial(idempotent, redact=redact)
    return _add_parameter(idempotency.protect(view, redact=redact), IDEMPOTENCY_KEY)


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


def _manual_doc(func: Callable) -> dict[str, Any]:
    return func.__dict__.setdefault("_apidoc", {}).setdefault("manual_doc", {})


def if_match(func: Callable) -> Callable:
    """Document the optional `If-Match` header (checked by `etags.check`)."""
    return _add_parameter(func, IF_MATCH)


def _add_parameter(func: Callable, parameter: dict[str, Any]) -> Callable:
    _manual_doc(func).setdefault("parameters", []).append(parameter)
    return func


# -- transactions and strict query strings ------------------------------------------------------


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
