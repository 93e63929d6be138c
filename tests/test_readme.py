"""The README's "A first call in minutes", run exactly as written: its fenced shell blocks,
found by their `<!-- test: ... -->` markers, go to bash unchanged, from the repository root,
against the API served as `make run` serves it (gunicorn, the seeded demo clinic) on the port
the README names, 8000, with a PostgreSQL database of its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess

import pytest

from service.settings import ROOT
from tests import database, demo_api

README_PORT = 8000
IN_CI = os.environ.get("CI") == "true"

pytestmark = pytest.mark.skipif(
    database.backend() == "sqlite", reason="runs once per suite, in the PostgreSQL pass"
)


def readme_block(marker: str) -> str:
    """The fenced block right after `<!-- test: marker -->`, as written."""
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- test: {re.escape(marker)} -->\n```sh\n(.*?)```", text, re.DOTALL)
    assert found, f"README.md has no shell block marked {marker!r}"
    return found.group(1)


def json_values(text: str) -> list:
    """Every JSON value printed one after another (curl bodies, jq output)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(text, at)) < len(text):
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


def _skip_space(text: str, at: int) -> int:
    return len(text) - len(text[at:].lstrip())


def _port_free(port: int) -> bool:
    """Nothing listens there (connections of an earlier server in TIME_WAIT do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def readme_api(tmp_path):
    if not _port_free(README_PORT):
        message = f"port {README_PORT} is in use (a `make run`?): the README's commands use it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    assert shutil.which("jq"), "the README's walkthrough needs jq"
    with demo_api.running(README_PORT, tmp_path, "readme") as api:
        yield api


def test_the_readme_token_recipe_first_curl_and_walkthrough_run_as_written(readme_api):
    script = readme_block("first-call") + readme_block("walkthrough")  # one shell, in order
    ran = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=ROOT,
        env=readme_api.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr

    # The first curl (`-i`): 200 and the demo therapist's couples as JSON.
    head, _, body = ran.stdout.partition("\n\n")  # text mode reads CRLF as \n
    assert head.startswith("HTTP/1.1 200 "), head
    assert "Content-Type: application/json" in head
    couples, received, *alerts = json_values(body)
    assert {couple["label"] for couple in couples["items"]} == {"Jordan & Riley", "Priya & Tom"}

    # The walkthrough: the partner's answers were received, and the alert they raised is shown.
    assert received["status"] == "received"
    assert len(alerts) == 1
    [alert] = alerts
    assert alert["severity"] in {"warning", "critical"}
    assert alert["summary"].startswith("Priya ")
    assert "Priya" in alert["explanation"]
