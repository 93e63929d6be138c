"""The OpenAPI document is one a reader and a client generator can live on (issue 11, item 6):
every operation says what it does, who may call it and its errors; every schema and property
has a description and an example that validates; the headers the server sends are documented.
The committed document and the one the app serves are the same (`make openapi`)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from service.http.apidoc import configured_server
from service.ops.openapi import render
from service.settings import ROOT

METHODS = ("get", "put", "post", "patch", "delete")
COMMITTED = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
# A feedback response has no URL of its own (the partner cannot read it back; staff read it in
# the session's list): the target URI stands for it (RFC 9110 §15.3.2), so no `Location`.
CREATED_WITHOUT_LOCATION = {
    ("post", "/v1/feedback-forms/{token}"),
    ("post", "/v1/sessions/{session_id}/feedback"),
}


def operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def operation_gaps(document: dict) -> list[str]:
    gaps = []
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        for key in ("summary", "description"):
            if not operation.get(key, "").strip():
                gaps.append(f"{where}: no {key} (write the view's docstring)")
        if "security" in operation and "**Who may call:**" not in operation["description"]:
            gaps.append(f"{where}: the description does not say who may call it")
        gaps += header_gaps(document, where, method, path, operation)
    return gaps


def header_gaps(document: dict, where: str, method: str, path: str, operation: dict) -> list:
    gaps = []
    responses = operation["responses"]
    created = responses.get("201")
    exempt = (method, path) in CREATED_WITHOUT_LOCATION
    if created and not exempt and "Location" not in created.get("headers", {}):
        gaps.append(f"{where}: 201 without a documented Location header")
    for status, response in responses.items():
        headers = response.get("headers", {})
        if status.startswith("2") and is_page(document, response) and "Link" not in headers:
            gaps.append(f"{where}: a page without a documented Link header")
        if status == "429" and "Retry-After" not in resolve(document, response).get("headers", {}):
            gaps.append(f"{where}: 429 without a documented Retry-After header")
    names = {parameter["name"] for parameter in operation.get("parameters", [])}
    if (
        method != "delete"
        and "If-Match" in names
        and not any("ETag" in r.get("headers", {}) for r in responses.values())
    ):
        gaps.append(f"{where}: takes If-Match but documents no ETag to send back")
    if "Idempotency-Key" in names:
        for status in (s for s in responses if s.startswith("2")):
            if "Idempotency-Replayed" not in responses[status].get("headers", {}):
                gaps.append(f"{where}: {status} without Idempotency-Replayed")
    return gaps


def resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        _, kind, name = node["$ref"].removeprefix("#/").split("/")
        node = document["components"][kind][name]
    return node


def is_page(document: dict, response: dict) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return "next_cursor" in resolve(document, schema).get("properties", {})


def schema_gaps(document: dict) -> list[str]:
    gaps = []
    for name, schema in document["components"]["schemas"].items():
        if not schema.get("description", "").strip():
            gaps.append(f"schema {name}: no description (write its docstring)")
        for prop, node in schema.get("properties", {}).items():
            gaps += property_gaps(document, f"{name}.{prop}", node)
    return gaps


def property_gaps(document: dict, where: str, node: dict) -> list[str]:
    if not node.get("description", "").strip():
        return [f"{where}: no description"]
    if "example" not in node:
        return [f"{where}: no example"]
    return [f"{where}: {error}" for error in example_errors(document, node)]


def example_errors(document: dict, node: dict) -> list[str]:
    """The example checked against the property's own schema (formats included), with the
    document's `$ref`s resolvable from the root."""
    schema = {"components": document["components"], **node}
    try:
        validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    except jsonschema_rs.ValidationError as error:  # e.g. a type listed twice
        return [f"not a valid JSON Schema: {error.message}"]
    return [f"example {error.message}" for error in validator.iter_errors(node["example"])]


def test_committed_document_is_the_one_the_app_makes_and_serves(app, client, settings):
    served = client.get("/openapi.json").json
    assert served["servers"][-1] == configured_server(settings.base_url)
    served["servers"].pop()
    assert served == COMMITTED
    # Serving it adds the deployment's URL to that response only (it once leaked into the
    # app's document, and so into the next `make openapi`).
    assert render(app) == (ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"), (
        "openapi/openapi.json is stale: run `make openapi`"
    )


def test_the_document_names_a_relative_server():
    assert COMMITTED["servers"][0]["url"] == "/"


def test_every_operation_says_what_it_does_who_may_call_it_and_its_headers():
    gaps = operation_gaps(COMMITTED)
    assert not gaps, "\n".join(gaps)


def test_every_schema_and_property_has_a_description_and_a_valid_example():
    gaps = schema_gaps(COMMITTED)
    assert not gaps, "\n".join(gaps)


def test_who_may_call_comes_from_the_routes_credential():
    erase = COMMITTED["paths"]["/v1/partners/{partner_id}/erase"]["post"]["description"]
    assert "`couples.write`" in erase and "`admin`" in erase and "integrator" in erase
    form = COMMITTED["paths"]["/v1/feedback-forms/{token}"]["get"]["description"]
    assert "personal link" in form
    directory = COMMITTED["paths"]["/v1/public/clinics/{slug}/therapists"]["get"]
    assert "without a token" in directory["description"]
    assert "429" in directory["responses"] and "`429`" in directory["description"]


def test_the_oauth_endpoints_are_described():
    for path in ("/oauth/authorize", "/oauth/token", "/oauth/revoke", "/oauth/jwks.json"):
        assert path in COMMITTED["paths"], path
    assert any(path.startswith("/.well-known/") for path in COMMITTED["paths"])


# -- the walker catches what it is for ----------------------------------------------------------


def doctored(change: Any) -> dict:
    document = copy.deepcopy(COMMITTED)
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["paths"]["/v1/couples"]["get"].pop("summary"),
            "GET /v1/couples: no summary",
        ),
        (
            lambda d: d["paths"]["/v1/couples"]["post"]["responses"]["201"]["headers"].pop(
                "Location"
            ),
            "POST /v1/couples: 201 without a documented Location header",
        ),
        (
            lambda d: d["paths"]["/v1/couples"]["get"]["responses"]["200"].pop("headers"),
            "GET /v1/couples: a page without a documented Link header",
        ),
        (
            lambda d: d["paths"]["/v1/couples/{couple_id}"]["patch"]["responses"]["200"].pop(
                "headers"
            ),
            "PATCH /v1/couples/{couple_id}: takes If-Match but documents no ETag",
        ),
    ],
)
def test_the_walker_catches_a_gap_in_an_operation(change, expected):
    assert operation_gaps(COMMITTED) == []
    assert any(gap.startswith(expected) for gap in operation_gaps(doctored(change)))


def test_the_walker_catches_a_missing_description_or_a_wrong_example():
    def undescribed(document: dict) -> None:
        document["components"]["schemas"]["Couple"]["properties"]["label"].pop("description")

    def wrong_example(document: dict) -> None:
        document["components"]["schemas"]["Couple"]["properties"]["id"]["example"] = "c-1"

    def type_twice(document: dict) -> None:
        document["components"]["schemas"]["Couple"]["properties"]["archived_at"]["type"] = [
            "string",
            "null",
            "null",
        ]

    assert "Couple.label: no description" in schema_gaps(doctored(undescribed))
    assert any("not a valid JSON Schema" in gap for gap in schema_gaps(doctored(type_twice)))
    assert any(gap.startswith("Couple.id: example") for gap in schema_gaps(doctored(wrong_example)))


def test_a_view_without_a_docstring_has_no_summary(app):
    from flask import Flask

    from service.http.extensions import Api, Blueprint, require

    blp = Blueprint("undocumented", __name__, url_prefix="/v1/undocumented")

    @blp.route("")
    @require("couples.read")
    @blp.response(204)
    def nothing_said():
        return None

    scratch = Flask(__name__)
    scratch.config.update(
        API_TITLE="scratch",
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        SETTINGS=app.config["SETTINGS"],
    )
    api = Api(scratch)
    api.register_blueprint(blp)
    gaps = operation_gaps(api.spec.to_dict())
    assert "GET /v1/undocumented: no summary (write the view's docstring)" in gaps


def test_every_api_operation_documents_the_503_of_a_database_away():
    """A database restart or a statement past its timeout answers 503 with `Retry-After`
    (tests/test_postgres_faults.py): every /v1 operation says so, so a client knows to retry."""
    unavailable = COMMITTED["components"]["responses"]["SERVICE_UNAVAILABLE"]
    assert "Retry-After" in unavailable["headers"]
    assert "application/problem+json" in unavailable["content"]
    missing = [
        f"{method.upper()} {path}"
        for path, operations in COMMITTED["paths"].items()
        if path.startswith("/v1/")
        for method, operation in operations.items()
        if method != "parameters"
        and operation["responses"].get("503", {}).get("$ref")
        != "#/components/responses/SERVICE_UNAVAILABLE"
    ]
    assert missing == []
