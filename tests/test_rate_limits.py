"""Rate limits: the login form, the token endpoint and the public directory answer 429 with
Retry-After once their limit is used up."""

from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture
def strict_limits(app):
    relaxed = app.config["SETTINGS"]
    app.config["SETTINGS"] = dataclasses.replace(
        relaxed,
        login_rate_limit="3 per minute",
        token_rate_limit="3 per minute",
        directory_rate_limit="3 per minute",
    )
    yield
    app.config["SETTINGS"] = relaxed


def _exhaust(call) -> list:
    return [call() for _ in range(4)]


def _assert_limited(responses) -> None:
    assert [r.status_code for r in responses[:3]] != [429] * 3
    limited = responses[3]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.mimetype == "application/problem+json"


def test_public_directory_is_rate_limited(client, clinic, strict_limits):
    url = f"/v1/public/clinics/{clinic.slug}/therapists"
    responses = _exhaust(lambda: client.get(url, environ_base={"REMOTE_ADDR": "198.51.100.7"}))
    assert responses[0].status_code == 200
    _assert_limited(responses)


def test_token_endpoint_is_rate_limited(client, strict_limits):
    responses = _exhaust(
        lambda: client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            environ_base={"REMOTE_ADDR": "198.51.100.8"},
        )
    )
    _assert_limited(responses)


def test_login_form_is_rate_limited(client, strict_limits):
    responses = _exhaust(
        lambda: client.post(
            "/oauth/authorize",
            data={"email": "x@example.org", "password": "nope"},
            environ_base={"REMOTE_ADDR": "198.51.100.9"},
        )
    )
    _assert_limited(responses)
