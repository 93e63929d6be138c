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
    try:
        with serving(db, port, tmp_path, name, **env_overrides) as api:
            yield api
    finally:
        database.drop_postgres(db)


@contextmanager
def serving(
    db: database.TestDatabase,
    port: int,
    tmp_path: Path,
    name: str,
    *,
    worker: bool = False,
    **env_overrides: str,
) -> Iterator[DemoApi]:
    """Seed `db` (already migrated) and serve it with gunicorn on 127.0.0.1:`port`, and with
    `worker` the outbox worker beside it, as `make run` does; both stopped afterwards."""
    base_url = f"http://127.0.0.1:{port}"
    env = {**demo_env(db, base_url, port, tmp_path), **env_overrides}
    with (tmp_path / f"{name}.log").open("w") as log:
        subprocess.run(
            [BIN / "flask", "--app", "wsgi", "seed-demo"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        commands = [[BIN / "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"]]
        if worker:
            commands.append([BIN / "python", "-m", "service.worker"])
        processes = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            for command in commands
        ]
        try:
            wait_ready(base_url, processes[0], 60)
            yield DemoApi(base_url, env)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


def dev_token(api: DemoApi, email: str) -> str:
    """A staff member's access token, from `flask --app wsgi dev-token` on the API's database."""
    return subprocess.run(
        [BIN / "flask", "--app", "wsgi", "dev-token", "--email", email],
        cwd=ROOT,
        env=api.env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
