"""Hostile or broken input gets a problem+json 4xx naming the problem, and changes nothing."""

from __future__ import annotations

import pytest


def _clinic(client, admin):
    return client.get("/v1/clinic", headers=admin.headers).json


def _assert_problem(response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["title"] and body["instance"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    if field is not None:
        assert field in body["errors"], body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": ""}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"bogus": 1}, "bogus"),
        ({"id": "00000000-0000-0000-0000-000000000000"}, "id"),
        ({"cors_origins": "https://x.example"}, "cors_origins"),
        ([1, 2], "body"),
    ],
)
def test_invalid_body_is_422_naming_the_field_and_changes_nothing(client, admin, body, field):
    before = _clinic(client, admin)
    response = client.patch("/v1/clinic", json=body, headers=admin.headers)
    _assert_problem(response, 422, field)
    assert _clinic(client, admin) == before


def test_malformed_json_is_400(client, admin):
    response = client.patch(
        "/v1/clinic", data='{"name": ', content_type="application/json", headers=admin.headers
    )
    _assert_problem(response, 400, "body")


def test_huge_body_is_413(client, admin, settings):
    payload = '{"name": "' + "x" * (settings.max_content_length + 10) + '"}'
    response = client.patch(
        "/v1/clinic", data=payload, content_type="application/json", headers=admin.headers
    )
    _assert_problem(response, 413)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=WyIyMDI2LTAxLTAxIiwgIngiXQ", "cursor"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=99999999999999999999999999", "limit"),
        ("limit=ten", "limit"),
        ("resource_id=123", "resource_id"),
        ("action=%00", "action"),
        ("colour=blue", "colour"),
    ],
)
def test_bad_query_is_400_naming_the_parameter(client, admin, query, field):
    response = client.get(f"/v1/audit-events?{query}", headers=admin.headers)
    _assert_problem(response, 400, field)


def test_unknown_query_parameter_on_an_endpoint_without_filters_is_400(client, admin):
    response = client.get("/v1/clinic?expand=all", headers=admin.headers)
    _assert_problem(response, 400, "expand")


def test_garbage_bearer_token_is_401(client):
    response = client.get("/v1/clinic", headers={"Authorization": "Bearer not.a.jwt"})
    _assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_malformed_if_match_is_400_and_never_passes(client, admin):
    response = client.patch(
        "/v1/clinic", json={"name": "X"}, headers={**admin.headers, "If-Match": "garbage"}
    )
    _assert_problem(response, 400, "If-Match")


def test_unknown_path_and_method_are_problems(client, admin):
    _assert_problem(client.get("/v1/nowhere", headers=admin.headers), 404)
    response = client.delete("/v1/clinic", headers=admin.headers)
    _assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_request_id_is_echoed_only_when_sane(client):
    assert (
        client.get("/healthz", headers={"X-Request-ID": "ok-id_1"}).headers["X-Request-ID"]
        == "ok-id_1"
    )
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id; drop"}).headers[
        "X-Request-ID"
    ]
    assert generated != "bad id; drop" and len(generated) == 32


def test_missing_body_is_422_and_non_json_body_is_415(client, admin):
    _assert_problem(client.patch("/v1/clinic", headers=admin.headers), 422, "body")
    response = client.patch(
        "/v1/clinic", data="name=x", content_type="text/plain", headers=admin.headers
    )
    _assert_problem(response, 415)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "0" * 300])
def test_a_malformed_id_in_the_path_is_a_404_problem_naming_it(client, admin, bad_id):
    response = client.get(f"/v1/staff/{bad_id}", headers=admin.headers)
    _assert_problem(response, 404)
    assert "not a valid id" in response.json["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "post",
            "/v1/instruments",
            {
                "key": "x-scale",
                "kind": "outcome",
                "title": {"en": "X"},
                "items": [{"key": "a", "text": {"en": "A"}, "min": 0, "max": 4, "watch": 0}],
            },
            "items.0.watch",
        ),
        (
            "post",
            "/v1/instruments",
            {
                "key": "x-scale",
                "kind": "outcome",
                "title": {"en": "X"},
                "items": [{"key": "a", "text": {"en": "A"}, "min": "0", "max": 4}],
            },
            "items.0.min",
        ),
        ("patch", "/v1/webhook-endpoints/{id}", {"enabled": 1}, "enabled"),
        ("post", "/v1/sessions/{id}/feedback", {"safety_concern": 1}, "safety_concern"),
    ],
)
def test_a_value_of_another_json_type_than_the_spec_says_is_422(
    client, admin, method, path, body, field
):
    # marshmallow's Boolean takes 0, 1, "yes"... and its Integer "0"; schemathesis sent
    # `"watch": 0` and a string `min` and got a 201.
    url = path.format(id="00000000-0000-4000-8000-000000000000")
    response = getattr(client, method)(url, json=body, headers=admin.headers)
    _assert_problem(response, 422, field)
