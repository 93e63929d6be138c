"""End to end over real HTTP: an EHR gets a token by client credentials, reads FHIR, and a
Bulk Data export is run by a real worker process (`python -m service.worker`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from service.settings import ROOT
from tests import fhir_checks
from tests.fixtures import register_integrator
from tests.practice import seed_couples

pytestmark = [pytest.mark.postgres_only, pytest.mark.committed]  # a server and a worker


def _worker(test_db, settings, tmp_path) -> subprocess.Popen:
    env = {
        **os.environ,
        "ALLIANCE_ENV": "test",
        "ALLIANCE_DATABASE_URL": test_db.app_url,
        "ALLIANCE_SYSTEM_DATABASE_URL": test_db.system_url,
        "ALLIANCE_BASE_URL": settings.base_url,
        "ALLIANCE_EXPORT_DIR": settings.export_dir,
        "ALLIANCE_MAIL_DIR": str(tmp_path / "mail"),
        "ALLIANCE_WORKER_IDLE_SECONDS": "0.1",
        "ALLIANCE_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "service.worker"], cwd=ROOT, env=env)


def test_an_ehr_exports_through_the_worker_over_http(
    live_server, test_db, settings, clinic, tmp_path
):
    therapist = clinic.staff("therapist")
    seed_couples(clinic.id, therapist.id, 3)
    client_id, secret = register_integrator(clinic.id, "EHR", ["system/*.rs"])
    token = requests.post(
        f"{live_server}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.rs"},
        auth=(client_id, secret),
        timeout=10,
    ).json()["access_token"]
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    patients = http.get(f"{live_server}/fhir/R4/Patient", timeout=10)
    assert (
        patients.status_code == 200 and patients.headers["Content-Type"] == "application/fhir+json"
    )
    assert len(patients.json()["entry"]) == 6

    kicked = http.get(
        f"{live_server}/fhir/R4/$export",
        params={"_type": "Patient,Group"},
        headers={"Prefer": "respond-async", "Accept": "application/fhir+json"},
        timeout=10,
    )
    assert kicked.status_code == 202, kicked.text
    status_url = kicked.headers["Content-Location"]
    worker = _worker(test_db, settings, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while (polled := http.get(status_url, timeout=10)).status_code == 202:
            assert "X-Progress" in polled.headers and time.monotonic() < deadline
            time.sleep(min(float(polled.headers["Retry-After"]), 0.5))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert polled.status_code == 200, polled.text
    manifest = polled.json()
    counts = {item["type"]: item["count"] for item in manifest["output"]}
    assert counts == {"Patient": 6, "Group": 3}
    for item in manifest["output"]:
        assert requests.get(item["url"], timeout=10).status_code == 401
        lines = http.get(item["url"], timeout=10).text.splitlines()
        fhir_checks.check_all(json.loads(line) for line in lines)
    assert http.delete(status_url, timeout=10).status_code == 202
    assert http.get(status_url, timeout=10).status_code == 404
