"""Rate limits: the login form, the token endpoint and the public directory answer 429 with
Retry-After once their limit is used up, counted once for every process that shares the store."""

from __future__ import annotations

import dataclasses
import os

import pytest
import requests

from tests import demo_api
from tests.loopback import free_port


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


# --- shared across processes ----------------------------------------------------------------

REDIS_URL = os.environ.get("ALLIANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
SHARED_LOGIN_LIMIT = 4


@pytest.fixture
def shared_store() -> str:
    """A Redis database of this test's own, emptied first (earlier runs' counts are gone)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).flushdb()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is needed at {REDIS_URL} (ALLIANCE_TEST_REDIS_URL): {exc}")
    return REDIS_URL


@pytest.mark.postgres_only
def test_the_login_limit_holds_across_two_gunicorn_workers_sharing_redis(tmp_path, shared_store):
    settings = {
        "WEB_CONCURRENCY": "2",
        "ALLIANCE_RATELIMIT_STORAGE_URI": shared_store,
        "ALLIANCE_LOGIN_RATE_LIMIT": f"{SHARED_LOGIN_LIMIT} per minute",
    }
    with demo_api.running(free_port(), tmp_path, "shared_limits", **settings) as api:
        answers = [
            # a new connection each time, so either worker may answer; a new email each
            # time, so the per-account lockout plays no part
            requests.post(
                f"{api.base_url}/oauth/authorize",
                data={"email": f"nobody{n}@example.org", "password": "wrong"},
                headers={"Connection": "close"},
                timeout=10,
            )
            for n in range(SHARED_LOGIN_LIMIT + 2)
        ]
    statuses = [answer.status_code for answer in answers]
    assert 429 not in statuses[:SHARED_LOGIN_LIMIT], statuses
    assert statuses[SHARED_LOGIN_LIMIT:] == [429, 429], statuses
    assert int(answers[-1].headers["Retry-After"]) > 0
