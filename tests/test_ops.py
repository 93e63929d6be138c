"""Operations endpoints: health, readiness (with the database down), metrics, docs."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from service.db import uow
from service.db.session import Database
from service.staff.policy import STAFF_SCOPES


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


@pytest.fixture
def database_down():
    working = uow.database()
    unreachable = Database("postgresql://alliance_app@127.0.0.1:1/nowhere")
    uow.init(unreachable)
    yield
    uow.init(working)
    unreachable.dispose()


def test_readyz_is_503_when_the_database_is_down(client, database_down):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert client.get("/healthz").status_code == 200


def test_metrics_count_requests_by_route(client):
    client.get("/healthz")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'alliance_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "alliance_http_request_seconds_bucket" in text


def test_docs_page_serves_swagger_ui_with_pkce_login(client, settings):
    """The page, every asset it and the sign-in popup's redirect page load, under one CSP
    (tests/test_docs_browser.py signs in through it in Chromium)."""
    docs = client.get("/docs")
    page = docs.get_data(as_text=True)
    assert f'data-client-id="{settings.docs_client_id}"' in page
    assert f'data-scopes="{" ".join(STAFF_SCOPES)}"' in page
    assert "usePkceWithAuthorizationCodeGrant: true" in client.get("/docs/static/docs.js").text
    assert "<script>" not in page  # nothing inline: the CSP allows scripts from this site only
    assert "script-src 'self';" in docs.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]
    for asset in re.findall(r'(?:src|href)="(/docs/[^"]+)"', page):
        assert client.get(asset).status_code == 200, asset
    redirect = client.get("/docs/oauth2-redirect.html")
    assert redirect.status_code == 200
    assert '<script src="oauth2-redirect.js">' in redirect.text
    script = client.get("/docs/oauth2-redirect.js")  # loaded from beside the redirect page
    assert script.status_code == 200 and "swaggerUIRedirectOauth2" in script.text
    assert client.get("/openapi.json").json["openapi"] == "3.1.0"


def test_behind_a_tls_proxy_the_forwarded_scheme_is_trusted(client, settings):
    import dataclasses

    from service import create_app

    def token_error(app_client, **headers: str) -> str:
        response = app_client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            base_url="http://api.clinic.example",
            headers=headers,
        )
        return response.json["error"]

    assert token_error(client, **{"X-Forwarded-Proto": "https"}) == "insecure_transport"
    working = uow.database()
    try:
        proxied = create_app(dataclasses.replace(settings, proxy_hops=1)).test_client()
        assert token_error(proxied, **{"X-Forwarded-Proto": "https"}) == "invalid_client"
    finally:
        uow.database().dispose()
        uow.init(working)


def test_a_failing_statement_never_shows_its_bound_values(test_db):
    # Error messages are logged; a partner's name or answer must not travel with them.
    database = Database(test_db.app_url)
    try:
        with database.engine.connect() as connection, pytest.raises(sa.exc.DBAPIError) as failure:
            connection.execute(sa.text("SELECT :value FROM no_such_table"), {"value": "Ana Lopez"})
        assert "no_such_table" in str(failure.value)
        assert "Ana Lopez" not in str(failure.value)
    finally:
        database.dispose()
