"""What apispec leaves out of the OpenAPI document, added once so it says exactly what the
server accepts (schemathesis holds it to that) and what a reader or a client generator needs:

- fields: exclusive bounds, a `Dict`'s key type, a description for the names every resource
  shares;
- schemas (`DocumentPlugin.schema_helper`): the class docstring as the description, and for
  each property that gives no example one derived from its own JSON Schema (so it validates);
- operations (`DocumentPlugin.operation_helper`): who may call it, derived from the route's
  credential (`require`, `public`, `link_holder`, `public_clinic`), the errors its credential,
  path, body and headers can cause, and the response headers it sends (`Link` on a page,
  `Idempotency-Replayed` where `Idempotency-Key` is accepted; `ETag` and `Location` are
  declared on the response with `sends`).
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin

# -- fields -------------------------------------------------------------------------------------

# The names whose meaning is the same in every resource; any field may say more of its own.
SHARED_FIELDS = {
    "id": "The resource's id, assigned by the server.",
    "created_at": "When it was created (UTC).",
    "updated_at": "When it last changed (UTC).",
    "clinic_id": "The clinic it belongs to.",
    "couple_id": "The couple it is about.",
    "partner_id": "The partner it is about.",
    "therapist_id": "The therapist (a staff member) responsible.",
    "session_id": "The therapy session it belongs to.",
    "next_cursor": "Pass as `cursor` for the next page; null on the last page.",
}
# Examples by JSON Schema format, for fields that give none.
FORMAT_EXAMPLES = {
    "uuid": "7d1c5e2a-4b8f-4c3e-9a61-2f0b8d9e6c14",
    "date-time": "2026-11-02T15:30:00Z",
    "date": "2026-11-02",
    "email": "maria.lopez@clinic.example",
    "uri": "https://clinic.example/hooks/alliance",
}


def exclusive_bounds(self: Any, field: ma.fields.Field, ret: dict, **_kw: Any) -> dict:
    """`Range(min_inclusive=False)` is `exclusiveMinimum` (apispec writes `minimum`)."""
    extra: dict[str, Any] = {}
    for validator in field.validators:
        if not isinstance(validator, ma.validate.Range):
            continue
        if validator.min is not None and not validator.min_inclusive:
            ret.pop("minimum", None)
            extra["exclusiveMinimum"] = validator.min
        if validator.max is not None and not validator.max_inclusive:
            ret.pop("maximum", None)
            extra["exclusiveMaximum"] = validator.max
    return extra


def dict_keys(self: Any, field: ma.fields.Field, **_kw: Any) -> dict:
    """A `Dict`'s key field (a locale, a partner id...) as `propertyNames`."""
    if not isinstance(field, ma.fields.Dict) or field.key_field is None:
        return {}
    names = self.field2property(field.key_field)
    names.pop("type", None)  # property names are strings anyway
    for documentation in ("description", "example"):
        names.pop(documentation, None)
    return {"propertyNames": names} if names else {}


def shared_description(self: Any, field: ma.fields.Field, ret: dict, **_kw: Any) -> dict:
    if "description" in ret or field.name not in SHARED_FIELDS:
        return {}
    return {"description": SHARED_FIELDS[field.name]}


def example_of(node: dict, schemas: dict[str, dict] | None = None) -> Any:
    """A value that `node` accepts, made from its own schema (format, enum, bounds, items) or,
    for a `$ref`, from the examples of the referenced schema's properties (in `schemas`); None
    when only a person can write one (free text)."""
    if "example" in node:
        return node["example"]
    if "default" in node and node["default"] is not None:
        return node["default"]
    if node.get("enum"):
        return next((value for value in node["enum"] if value is not None), None)
    if "$ref" in node:
        properties = (schemas or {}).get(node["$ref"].rpartition("/")[2], {}).get("properties")
        return _object_of(properties or {}) if properties else None
    for alternatives in ("allOf", "anyOf", "oneOf"):
        if alternatives in node:
            return next(
                (example_of(n, schemas) for n in node[alternatives] if n.get("type") != "null"),
                None,
            )
    kinds = node.get("type", [])
    kind = next((k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null"), None)
    return _EXAMPLE_BY_TYPE.get(kind, lambda _node, _schemas: None)(node, schemas)


def _object_of(properties: dict[str, dict]) -> dict[str, Any]:
    return {name: node["example"] for name, node in properties.items() if "example" in node}


def _string_example(node: dict, _schemas: Any) -> Any:
    return FORMAT_EXAMPLES.get(node.get("format", ""))


def _number_example(node: dict, _schemas: Any) -> Any:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    if low is not None and high is not None:
        middle = (low + high) / 2
        return int(middle) if node.get("type") == "integer" or middle == int(middle) else middle
    if low is not None:
        return low + 1 if "exclusiveMinimum" in node else low
    return 1 if high is None or high >= 1 else high


def _array_example(node: dict, schemas: Any) -> Any:
    item = example_of(node.get("items", {}), schemas)
    return None if item is None else [item] * max(1, node.get("minItems", 1))


def _object_example(node: dict, schemas: Any) -> Any:
    value = example_of(node.get("additionalProperties") or {}, schemas)
    key = example_of({"type": "string", **node.get("propertyNames", {})})
    return None if value is None or key is None else {key: value}


_EXAMPLE_BY_TYPE = {
    "string": _string_example,
    "integer": _number_example,
    "number": _number_example,
    "boolean": lambda _node, _schemas: True,
    "array": _array_example,
    "object": _object_example,
}

# -- response headers ---------------------------------------------------------------------------

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "The version you hold: send it back as `If-Match` to change it safely.",
        "schema": {"type": "string", "example": '"3"'},
        "required": True,
    },
    "Location": {
        "description": "The URL of what was created.",
        "schema": {"type": "string", "example": "/v1/couples/7d1c5e2a-4b8f-4c3e-9a61-2f0b8d9e6c14"},
        "required": True,
    },
    "Link": {
        "description": 'The next page as `<url>; rel="next"`; absent on the last page.',
        "schema": {"type": "string"},
    },
    "Idempotency-Replayed": {
        "description": "`true` when this is the stored response to an earlier request with the "
        "same `Idempotency-Key` (nothing was done again).",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Idempotent-Replayed": {
        "description": "The former name of `Idempotency-Replayed`, still sent.",
        "schema": {"type": "string", "enum": ["true"]},
        "deprecated": True,
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "string", "pattern": "^[0-9]+$", "example": "30"},
        "required": True,
    },
}


def sends(*names: str) -> dict[str, dict[str, Any]]:
    """The documentation of response headers a view sets itself, for `blp.response(headers=)`."""
    return {name: copy.deepcopy(HEADERS[name]) for name in names}  # apispec edits in place


# -- servers ------------------------------------------------------------------------------------

RELATIVE_SERVER = {"url": "/", "description": "The host that served this document."}


def configured_server(base_url: str) -> dict[str, str]:
    return {"url": base_url.rstrip("/") + "/", "description": "This deployment's base URL."}


# -- operations ---------------------------------------------------------------------------------

# What each error means wherever it is documented; an operation's docstring adds its own cases.
ERRORS = {
    "400": "a query parameter or header is malformed or unknown (`errors` names it)",
    "401": "no bearer token, or it is invalid, expired or revoked",
    "403": "the token lacks a scope named above, or your role does not allow this",
    "404": "nothing with that id or token in your clinic (or outside your caseload)",
    "409": "the change conflicts with the resource's state or other data (see above)",
    "410": "the link has expired",
    "412": "`If-Match` names an older version: read it again",
    "415": "the body is not `application/json`",
    "422": "the body is invalid (`errors` names each field)",
    "429": "too many requests: wait `Retry-After` seconds",
    "503": "the database is briefly out of reach (a restart, a failover) or took too long: "
    "retry after `Retry-After` seconds",
}
# What `Idempotency-Key` adds to an error's meaning, where it is accepted.
IDEMPOTENCY_ERRORS = {
    "409": "; or a request with this `Idempotency-Key` is still in progress",
    "422": "; or this `Idempotency-Key` was used before with another body",
}
ERROR_RESPONSES = {
    status: response
    for status, response in (
        ("400", "BAD_REQUEST"),
        ("401", "UNAUTHORIZED"),
        ("403", "FORBIDDEN"),
        ("404", "NOT_FOUND"),
        ("409", "CONFLICT"),
        ("410", "GONE"),
        ("412", "PRECONDITION_FAILED"),
        ("415", "UNSUPPORTED_MEDIA_TYPE"),
        ("422", "UNPROCESSABLE_ENTITY"),
        ("429", "TOO_MANY_REQUESTS"),
        ("503", "SERVICE_UNAVAILABLE"),
    )
}
CREDENTIALS = {
    "personal-link": "anyone holding the partner's personal link: the `token` in the path is "
    "the credential (no bearer token)",
    "clinic-slug": "anyone, without a token; only what the clinic named by `slug` publishes",
    "oauth-client": "an OAuth client, authenticated as it registered (`client_secret_basic`, "
    "`private_key_jwt`, or a public client's `client_id`); no bearer token",
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "description": "The `ETag` you hold: 304, without a body, when it is still current.",
    "schema": {"type": "string"},
}


class DocumentPlugin(BasePlugin):
    """Schema descriptions from docstrings, and each operation's caller, errors and headers."""

    def init_spec(self, spec: Any) -> None:
        self.spec = spec

    def schema_helper(self, name: str, definition: dict, **kwargs: Any) -> dict | None:
        """The docstring as description; an example for each property that gives none. Only
        for schemas: a query parameter's example would be filled in by Swagger UI's "Try it
        out" and filter the list."""
        for node in definition.get("properties", {}).values():
            example = example_of(node, self.spec.components.schemas)
            if example is not None:
                node["example"] = example
        schema = kwargs.get("schema")
        schema_class = type(schema) if isinstance(schema, ma.Schema) else schema
        doc = schema_class.__dict__.get("__doc__") if schema_class else None
        if not doc or "description" in definition:
            return None
        return {"description": inspect.cleandoc(doc)}

    def operation_helper(
        self, path: str | None = None, operations: dict | None = None, **_kw: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            if method in {"get", "put", "post", "patch", "delete"}:
                self._document(path or "", operation)

    def _document(self, path: str, operation: dict) -> None:
        responses = {str(status): r for status, r in operation.get("responses", {}).items()}
        operation["responses"] = responses
        problem_errors = "x-errors" not in operation  # else it documents its own (OAuth)
        for status in _error_statuses(path, operation) if problem_errors else ():
            responses.setdefault(status, ERROR_RESPONSES[status])
        idempotent = any(
            p.get("name") == "Idempotency-Key" for p in operation.get("parameters", [])
        )
        self._document_headers(operation, idempotent)
        paragraphs = [operation.get("description", ""), who_may_call(operation)]
        paragraphs.append(errors_paragraph(responses, idempotent) if problem_errors else "")
        operation["description"] = "\n\n".join(p for p in paragraphs if p)

    def _document_headers(self, operation: dict, idempotent: bool) -> None:
        responses = operation["responses"]
        for status in (status for status in responses if status.startswith("2")):
            if idempotent:
                _add_headers(responses[status], "Idempotency-Replayed", "Idempotent-Replayed")
            if self._is_page(responses[status]):
                _add_headers(responses[status], "Link")
        if "304" in responses:  # `etags.conditional`: the tag goes with the 304 too
            operation.setdefault("parameters", []).append(copy.deepcopy(IF_NONE_MATCH))
            _add_headers(responses["304"], "ETag")

    def _is_page(self, response: dict) -> bool:
        reference = response.get("content", {}).get("application/json", {}).get("schema", {})
        name = str(reference.get("$ref", "")).rpartition("/")[2]
        return "next_cursor" in self.spec.components.schemas.get(name, {}).get("properties", {})


def _add_headers(response: dict, *names: str) -> None:
    response.setdefault("headers", {}).update(sends(*names))


def _error_statuses(path: str, operation: dict) -> list[str]:
    statuses = []
    if operation.get("security"):
        statuses += ["401", "403"]
    if "{" in path:
        statuses.append("404")
    if operation.get("x-credential") == "personal-link":
        statuses += ["409", "410"]
    headers = {p.get("name") for p in operation.get("parameters", [])}
    if "If-Match" in headers:
        statuses += ["400", "412"]
    if "Idempotency-Key" in headers:
        statuses += ["409", "422"]
    if operation.get("requestBody", {}).get("required"):
        statuses.append("415")
    if path.startswith("/v1/"):  # each reads or writes the clinic's database
        statuses.append("503")
    return statuses


def who_may_call(operation: dict) -> str:
    """The caller the route's credential admits, in words (from `require` and friends)."""
    security = operation.get("security")
    if security is None:
        return ""
    if not security:
        credential = operation.get("x-credential")
        return "**Who may call:** " + CREDENTIALS.get(credential, "anyone, without a token") + "."
    scopes = ", ".join(f"`{scope}`" for scope in security[0].get("oauth2", []))
    text = f"**Who may call:** a bearer token with the scope {scopes}"
    roles = operation.get("x-roles")
    if roles is not None:
        named = " or ".join(f"`{role}`" for role in roles)
        text += f", issued to a staff member whose role is {named} (integrator clients are refused)"
    return text + "."


def errors_paragraph(responses: dict, idempotent: bool) -> str:
    extra = IDEMPOTENCY_ERRORS if idempotent else {}
    lines = [
        f"- `{status}`: {ERRORS[status]}{extra.get(status, '')}"
        for status in sorted(responses)
        if status in ERRORS
    ]
    return "**Errors:**\n" + "\n".join(lines) if lines else ""


def install(plugin: MarshmallowPlugin) -> None:
    plugin.converter.map_to_openapi_type(ma.fields.Url, "string", "uri")
    for function in (exclusive_bounds, dict_keys, shared_description):
        plugin.converter.add_attribute_function(function)
