"""`make run` as a newcomer runs it: the API answers /readyz within 90 s, and the demo admin
signs in through the real authorization-code + PKCE flow (the one Swagger UI uses)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from service.demo import STAFF
from service.settings import ROOT, Settings
from tests import database
from tests.demo_api import wait_ready
from tests.loopback import free_port
from tests.test_oauth_flows import login

pytestmark = pytest.mark.skipif(
    database.backend() == "sqlite", reason="runs once per suite, in the PostgreSQL pass"
)


def test_make_run_serves_the_api_and_the_demo_admin_signs_in(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALLIANCE_")},
        "ALLIANCE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "ALLIANCE_BASE_URL": base,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }
    log = (tmp_path / "make-run.log").open("w")
    process = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_ready(base, process, 90)
        admin = next(member for member in STAFF if member.role == "admin")
        oauth = OAuth2Session(
            Settings().docs_client_id,
            redirect_uri=f"{base}/docs/oauth2-redirect.html",
            scope="clinic.read staff.read",
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        )
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(
            f"{base}/oauth/authorize", code_verifier=verifier
        )
        signed_in = login(url, admin.email, admin.password)
        assert signed_in.status_code == 302, signed_in.text
        oauth.fetch_token(
            f"{base}/oauth/token",
            state=state,
            code_verifier=verifier,
            authorization_response=signed_in.headers["Location"],
        )
        clinic = oauth.get(f"{base}/v1/clinic", timeout=10)
        assert clinic.status_code == 200
        assert clinic.json()["name"] == "Harbor Couples Clinic"
        assert requests.get(f"{base}/docs", timeout=10).status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
    printed = (tmp_path / "make-run.log").read_text()
    assert f"{base}/docs" in printed and f"{base}/readyz" in printed  # the URLs it prints
    assert f"feedback form, open it on a phone:  {base}/f/" in printed
