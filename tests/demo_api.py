"""The API as `make run` serves it, for tests that drive it from outside (a browser, the
README's shell commands): gunicorn with `deploy/gunicorn.conf.py`, on a PostgreSQL database of
its own built by the real migrations and seeded by the real `flask --app wsgi seed-demo`.

A database of its own, because the seed commits the demo clinic: the suite's per-worker
database stays free of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from service.settings import ROOT
from tests import database

BIN = Path(sys.executable).parent  # the virtual environment the suite runs in


@dataclass(frozen=True)
class DemoApi:
    base_url: str
    env: dict[str, str]  # the environment the server runs with (point commands at it)


def wait_ready(base: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited early"
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not up yet, or busy starting
            pass
        time.sleep(0.2)
    pytest.fail(f"/readyz did not answer 200 within {seconds:g} s")


def demo_env(db: database.TestDatabase, base_url: str, port: int, tmp_path: Path) -> dict:
    """A newcomer's environment (no ALLIANCE_* of the caller's) on this database and port."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALLIANCE_")},
        "ALLIANCE_DATABASE_URL": db.app_url,
        "ALLIANCE_SYSTEM_DATABASE_URL": db.system_url,
        "ALLIANCE_MIGRATION_DATABASE_URL": db.owner_url,
        "ALLIANCE_BASE_URL": base_url,
        "ALLIANCE_MAIL_DIR": str(tmp_path / "mail"),
        "ALLIANCE_LOG_LEVEL": "WARNING",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }


@contextmanager
def running(port: int, tmp_path: Path, name: str, **env_overrides: str) -> Iterator[DemoApi]:
    """Seed a fresh database, serve it on 127.0.0.1:`port` (with `env_overrides`, e.g.
    `WEB_CONCURRENCY="2"`); stop and drop it afterwards."""
    db = database.create_postgres(name)
    base_url = f"http://127.0.0.1:{port}"
    env = {**demo_env(db, base_url, port, tmp_path), **env_overrides}
    log = (tmp_path / f"{name}.log").open("w")
    try:
        subprocess.run(
            [BIN / "flask", "--app", "wsgi", "seed-demo"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        server = subprocess.Popen(
            [BIN / "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(base_url, server, 60)
            yield DemoApi(base_url, env)
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        log.close()
        database.drop_postgres(db)
