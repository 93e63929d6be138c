"""The database roles the service runs as: the system context sees every clinic because it logs
in as the system role (never because of a setting the app role can make), and production
refuses to start on an app role that row-level security does not bind."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from alembic import command
from alembic.config import Config

from service.core import crypto
from service.settings import ROOT, Settings, SettingsError
from tests import database

pytestmark = [pytest.mark.postgres_only, pytest.mark.committed]  # own databases and processes


@pytest.fixture
def migrated_database():
    name = f"alliance_roles_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with psycopg.connect(database.ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}" OWNER "{database.OWNER_ROLE}"')
    except psycopg.OperationalError as exc:
        database.postgres_unavailable(str(exc).strip().splitlines()[0])
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = f"postgresql://{database.OWNER_ROLE}@{database.HOST}/{name}"
    command.upgrade(config, "0012")
    yield config, name
    with psycopg.connect(database.ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _policies(name: str) -> dict[str, str]:
    with psycopg.connect(f"{database.ADMIN_URL.rsplit('/', 1)[0]}/{name}") as db:
        rows = db.execute("SELECT policyname, qual FROM pg_policies WHERE schemaname = 'public'")
        return dict(rows.fetchall())


def _other_clinic_seen_with_the_system_setting(name: str) -> bool:
    """As the app role, scoped to no clinic, with `app.system` on: is a clinic's row seen?"""
    clinic = uuid.uuid4()
    with psycopg.connect(f"{database.ADMIN_URL.rsplit('/', 1)[0]}/{name}") as db:
        db.execute(
            "INSERT INTO clinics (id, created_at, updated_at, version, name, slug, timezone,"
            " locale, cors_origins, feedback_settings, email_policy) VALUES (%s, now(), now(),"
            " 1, 'Roles', %s, 'UTC', 'en', '[]', '{}', '{}')",
            (clinic, f"roles-{clinic.hex[:8]}"),
        )
    app_url = f"postgresql://{database.APP_ROLE}@{database.HOST}/{name}"
    with psycopg.connect(app_url) as db:
        db.execute("SELECT set_config('app.system', 'on', true)")
        return db.execute("SELECT 1 FROM clinics WHERE id = %s", (clinic,)).fetchone() is not None


def test_migration_0012_rewrites_every_policy_and_its_downgrade_restores_them(migrated_database):
    """Downgraded to 0011, the policies are those databases had before (the setting-based
    bypass works); 0012 rewrites them all and the bypass is gone."""
    config, name = migrated_database
    current = _policies(name)
    tables = {policy.removesuffix("_isolation") for policy in current if "_isolation" in policy}
    assert set(current) == {f"{t}_isolation" for t in tables} | {f"{t}_system" for t in tables}
    assert not any("app.system" in qual for qual in current.values())

    command.downgrade(config, "0011")
    before = _policies(name)
    assert set(before) == {f"{t}_isolation" for t in tables}
    assert all("app.system" in qual for qual in before.values())
    assert _other_clinic_seen_with_the_system_setting(name)  # the hole 0012 closes

    command.upgrade(config, "0012")
    assert _policies(name) == current
    assert not _other_clinic_seen_with_the_system_setting(name)


def _start(database_url: str, system_url: str) -> subprocess.CompletedProcess:
    """The service's app factory, started the way gunicorn starts it, in production."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALLIANCE_")},
        "ALLIANCE_ENV": "production",
        "ALLIANCE_SECRET_KEY": "a-production-secret-that-is-long-enough-0123456789",
        "ALLIANCE_DATA_KEY": crypto.new_key(),
        "ALLIANCE_KEY_ENCRYPTION_KEY": crypto.new_key(),
        "ALLIANCE_DATABASE_URL": database_url,
        "ALLIANCE_SYSTEM_DATABASE_URL": system_url,
        "ALLIANCE_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("role", "reason"),
    [("superuser", "is a superuser, has BYPASSRLS"), ("owner", "owns the tables")],
)
def test_production_refuses_to_start_as_a_role_rls_does_not_bind(test_db, role, reason):
    url = database.superuser_url(test_db) if role == "superuser" else test_db.owner_url
    started = _start(url, test_db.system_url)
    assert started.returncode != 0
    assert "UnsafeDatabaseRole" in started.stderr and reason in started.stderr


def test_production_starts_as_the_app_role(test_db):
    started = _start(test_db.app_url, test_db.system_url)
    assert started.returncode == 0, started.stderr[-2000:]


def test_production_refuses_to_start_without_the_system_roles_url():
    production = dict(
        env="production",
        secret_key="a-production-secret-that-is-long-enough-0123456789",
        data_key=crypto.new_key(),
        key_encryption_key=crypto.new_key(),
        database_url="postgresql://alliance_app@db.example/alliance",
    )
    with pytest.raises(SettingsError, match="ALLIANCE_SYSTEM_DATABASE_URL"):
        Settings(**production).check()
