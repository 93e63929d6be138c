"""Migration 0011 on a database that already holds plain secrets: signing keys, webhook secrets
and queued emails' links are encrypted in place (sent emails' words are purged), and the
downgrade gives the plain values back."""

from __future__ import annotations

import json
import os
import uuid

import psycopg
import pytest
from alembic import command
from alembic.config import Config

from service.core import crypto
from service.settings import ROOT, Settings
from tests import database

pytestmark = pytest.mark.postgres_only

JWK = {"kty": "EC", "crv": "P-256", "x": "x-coordinate", "y": "y-coordinate", "d": "PRIVATE-D"}
SECRET = "whsec_cGxhaW4tc2VjcmV0LWZyb20tYmVmb3JlLTAwMTE="
LINK = "https://alliance.example/f/plain-link-token-from-before-0011"


@pytest.fixture
def old_database():
    name = f"alliance_seal_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with psycopg.connect(database.ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}" OWNER "{database.OWNER_ROLE}"')
    except psycopg.OperationalError as exc:
        database.postgres_unavailable(str(exc).strip().splitlines()[0])
    owner = f"postgresql://{database.OWNER_ROLE}@{database.HOST}/{name}"
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = owner
    command.upgrade(config, "0010")
    yield config, database.ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(database.ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_existing_plain_secrets_are_encrypted_and_sent_emails_purged(old_database):
    config, superuser = old_database
    with psycopg.connect(superuser) as db:
        _plain_rows(db)

    command.upgrade(config, "0011")

    keys, data = crypto.Sealer("keys"), crypto.Sealer("data")
    keys.configure(Settings().key_encryption_keys)
    data.configure(Settings().data_keys)
    with psycopg.connect(superuser) as db:
        [(private,)] = db.execute("SELECT private_jwk FROM oauth_signing_keys").fetchall()
        [(secret,)] = db.execute("SELECT secret FROM webhook_endpoints").fetchall()
        emails = dict(db.execute("SELECT status, content FROM outbox_messages").fetchall())
        payloads = [row[0] for row in db.execute("SELECT payload::text FROM outbox_messages")]
    assert "PRIVATE-D" not in private and keys.open_json(private) == JWK
    assert SECRET not in secret and keys.open(secret) == SECRET
    assert data.open_json(emails["pending"]) == {"url": LINK} and emails["sent"] is None
    assert all(LINK not in payload and "template" in payload for payload in payloads)

    command.downgrade(config, "0010")
    with psycopg.connect(superuser) as db:
        assert db.execute("SELECT private_jwk::text FROM oauth_signing_keys").fetchone()[0]
        assert db.execute("SELECT secret FROM webhook_endpoints").fetchone()[0] == SECRET
        pending = db.execute("SELECT payload FROM outbox_messages WHERE status = 'pending'")
        assert pending.fetchone()[0]["values"] == {"url": LINK}


def _plain_rows(db: psycopg.Connection) -> None:
    clinic = uuid.uuid4()
    db.execute(
        "INSERT INTO clinics (id, created_at, updated_at, version, name, slug, timezone, locale,"
        " cors_origins, feedback_settings, email_policy)"
        " VALUES (%s, now(), now(), 1, 'Old', %s, 'UTC', 'en', '[]', '{}', '{}')",
        (clinic, f"old-{clinic.hex[:8]}"),
    )
    db.execute(
        "INSERT INTO oauth_signing_keys (id, created_at, kid, private_jwk, public_jwk, status)"
        " VALUES (%s, now(), 'old-kid', %s, '{}', 'current')",
        (uuid.uuid4(), json.dumps(JWK)),
    )
    db.execute(
        "INSERT INTO webhook_endpoints (id, clinic_id, created_at, updated_at, version, url,"
        " events, secret, enabled) VALUES (%s, %s, now(), now(), 1, 'https://x.example', '[]',"
        " %s, true)",
        (uuid.uuid4(), clinic, SECRET),
    )
    for status in ("pending", "sent"):
        db.execute(
            "INSERT INTO outbox_messages (id, clinic_id, created_at, channel, topic, recipient,"
            " payload, status, attempts, next_attempt_at) VALUES (%s, %s, now(), 'email', 't',"
            " 'a@x.example', %s, %s, 0, now())",
            (uuid.uuid4(), clinic, json.dumps({"template": "t", "values": {"url": LINK}}), status),
        )
