"""Nothing that grants access is stored readable (DESIGN §5, issue 12): after invites, partner
links, webhooks and key rotations, every text and JSON column of every table, read as the
superuser, holds no usable link, invite token, signing key or webhook secret; emails still
reach a real SMTP server (aiosmtpd) with the right link; rotated keys still decrypt."""

from __future__ import annotations

import base64
import email.policy
import re
import uuid
from urllib.parse import urlsplit

import psycopg
import pyotp
import pytest
import sqlalchemy as sa
from joserfc.jwk import ECKey
from psycopg import sql

from service.auth import keys
from service.auth.models import SigningKey
from service.cli import reseal_secrets
from service.core import context, crypto
from service.db import uow
from service.notifications import email as mail
from service.notifications import webhooks
from service.notifications.models import OutboxMessage, WebhookEndpoint
from service.settings import Settings, SettingsError
from service.worker import outbox
from tests import database
from tests.practice import new_couple, new_session

PARTNERS = [
    {"display_name": "Ines Varga", "email": "ines.varga@partners.example"},
    {"display_name": "Tomas Varga", "feedback_channel": "in_clinic"},
]
TEXT_TYPES = ("text", "character varying", "json", "jsonb", "bytea")
PRODUCTION = {
    "ALLIANCE_ENV": "production",
    "ALLIANCE_SECRET_KEY": "a-production-secret-that-is-long-enough-0123456789",
    "ALLIANCE_DATABASE_URL": "postgresql://alliance_app@db.example/alliance",
    "ALLIANCE_SYSTEM_DATABASE_URL": "postgresql://alliance_system@db.example/alliance",
    "ALLIANCE_DATA_KEY": crypto.new_key(),
    "ALLIANCE_KEY_ENCRYPTION_KEY": crypto.new_key(),
}


@pytest.fixture
def encryption_keys(settings):
    """Reconfigure the process's keys for one test; whatever a test sealed under keys of its
    own is re-sealed under the suite's keys afterwards (committed rows outlive the test)."""
    used: list[str] = []

    def use(*, data: tuple[str, ...] = (), kek: tuple[str, ...] = ()) -> None:
        used.extend([*data, *kek])
        crypto.configure(data or settings.data_keys, kek or settings.key_encryption_keys)

    yield use
    crypto.configure((*settings.data_keys, *used), (*settings.key_encryption_keys, *used))
    reseal()
    crypto.configure(settings.data_keys, settings.key_encryption_keys)


def reseal() -> dict[str, int]:
    from service.db import sealed
    from service.models import metadata

    with context.system_context("test reseal"), uow.unit_of_work():
        return sealed.reseal_all(metadata)


def deliver_emails(clinic_id: uuid.UUID, settings: Settings, to: str | None = None) -> None:
    """Every due email of the clinic (or only those to `to`), through the worker's own path."""
    with context.system_context("test drain"), uow.unit_of_work() as session:
        stmt = sa.select(OutboxMessage.id).where(
            OutboxMessage.clinic_id == clinic_id,
            OutboxMessage.channel == "email",
            OutboxMessage.status == "pending",
        )
        due = session.scalars(stmt.where(OutboxMessage.recipient == to) if to else stmt).all()
    for message_id in due:
        assert outbox.deliver(message_id, clinic_id, {"email": mail.send}, settings) == "sent"


def links_in(received: list[tuple[list[str], bytes]], to: str) -> list[str]:
    texts = [
        email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",))
        for rcpt, raw in received
        if to in rcpt
    ]
    return [url for text in texts for url in re.findall(r"https?://\S+", text.get_content())]


def token_of(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[1]


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["ALLIANCE_DATA_KEY", "ALLIANCE_KEY_ENCRYPTION_KEY"])
def test_production_refuses_to_start_without_an_encryption_key(missing):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(environ)


def test_production_refuses_a_key_that_is_not_a_fernet_key():
    with pytest.raises(SettingsError, match="ALLIANCE_KEY_ENCRYPTION_KEY is not a Fernet key"):
        Settings.from_env({**PRODUCTION, "ALLIANCE_KEY_ENCRYPTION_KEY": "hunter2"})
    with pytest.raises(SettingsError, match="ALLIANCE_DATA_OLD_KEYS"):
        Settings.from_env({**PRODUCTION, "ALLIANCE_DATA_OLD_KEYS": f"{crypto.new_key()},nope"})


def test_production_starts_with_both_keys_and_old_ones_decrypt():
    old = crypto.new_key()
    settings = Settings.from_env({**PRODUCTION, "ALLIANCE_KEY_ENCRYPTION_OLD_KEYS": old})
    assert settings.key_encryption_keys == (PRODUCTION["ALLIANCE_KEY_ENCRYPTION_KEY"], old)
    assert settings.data_keys == (PRODUCTION["ALLIANCE_DATA_KEY"],)


# -- rotation -----------------------------------------------------------------------------------


def test_a_rotated_key_encryption_key_still_decrypts_and_reseal_moves_to_the_new_one(
    app, client, clinic, settings, encryption_keys
):
    admin = clinic.staff("admin")
    created = client.post(
        "/v1/webhook-endpoints",
        headers=admin.headers,
        json={"url": "https://93.184.216.34/hook", "events": ["alert.created"]},
    ).json
    kid = keys.signing_key().kid
    new = crypto.new_key()

    encryption_keys(kek=(new, *settings.key_encryption_keys))  # new current, old still decrypts
    assert endpoint_secrets(created["id"]) == [created["secret"]]
    assert keys.signing_key().kid == kid
    counts = app.test_cli_runner().invoke(reseal_secrets)
    assert counts.exit_code == 0, counts.output
    assert '"webhook_endpoints.secret"' in counts.output

    encryption_keys(kek=(new,))  # the old key dropped: everything was re-sealed
    assert endpoint_secrets(created["id"]) == [created["secret"]]
    assert keys.signing_key().kid == kid
    assert client.get("/v1/clinic", headers=clinic.staff("admin").headers).status_code == 200

    encryption_keys(kek=(crypto.new_key(),))  # an unrelated key opens nothing
    with pytest.raises(crypto.InvalidToken):
        endpoint_secrets(created["id"])


def endpoint_secrets(endpoint_id: str) -> list[str]:
    with context.system_context("test read"), uow.unit_of_work() as session:
        endpoint = session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
        return webhooks.signing_secrets(endpoint, endpoint.updated_at)


# -- delivery -----------------------------------------------------------------------------------


def test_the_delivered_email_carries_the_working_link_and_its_words_are_then_purged(
    client, clinic, smtp
):
    recorder, smtp_settings = smtp
    admin = clinic.staff("admin")
    couple = new_couple(client, admin, clinic.staff("therapist").id, partners=PARTNERS)
    booked = new_session(client, admin, couple)
    client.post(f"/v1/sessions/{booked['id']}/complete", json={}, headers=admin.headers)

    deliver_emails(clinic.id, smtp_settings)

    [link] = [u for u in links_in(recorder.received, PARTNERS[0]["email"]) if "/f/" in u]
    form = client.get(f"/v1/feedback-forms/{token_of(link)}")
    assert form.status_code == 200, form.json  # the link the partner got opens their form
    with context.tenant_context(clinic.id), uow.unit_of_work() as session:
        [row] = session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.recipient == PARTNERS[0]["email"])
            .options(sa.orm.undefer(OutboxMessage.content))
        ).all()
        kept = (row.status, row.topic, row.sent_at is not None, row.attempts, row.content)
    assert kept == ("sent", "feedback.invitation", True, 1, None)  # the record, not the words


# -- the acceptance scan ------------------------------------------------------------------------


@pytest.mark.postgres_only
def test_no_usable_secret_is_readable_in_any_column_after_a_full_scenario(
    app, client, test_db, platform, clinic, smtp, encryption_keys
):
    recorder, smtp_settings = smtp
    secrets = _scenario(client, platform, clinic, recorder, smtp_settings, encryption_keys)
    assert len(secrets) >= 10, secrets

    found = _columns_holding(test_db, secrets)
    assert found == {}
    # The scan itself works: it finds what is meant to be readable (an address).
    assert _columns_holding(test_db, {"address": PARTNERS[0]["email"]})


def _scenario(client, platform, clinic, recorder, smtp_settings, encryption_keys):
    owner = f"owner-{uuid.uuid4().hex[:6]}@lakeside.example"
    onboarded = client.post(
        "/v1/clinics",
        headers={**platform.headers, "Idempotency-Key": f"onboard-{uuid.uuid4()}"},
        json={
            "name": "Lakeside Practice",
            "slug": f"lakeside-{uuid.uuid4().hex[:10]}",
            "timezone": "Europe/Vienna",
            "admin_email": owner,
            "admin_name": "Lena Owner",
        },
    ).json
    admin = clinic.staff("admin")
    invited = client.post(
        "/v1/staff",
        headers={**admin.headers, "Idempotency-Key": f"invite-{uuid.uuid4()}"},
        json={"email": "new.colleague@clinic.example", "role": "therapist", "display_name": "N C"},
    ).json
    couple = new_couple(client, admin, clinic.staff("therapist").id, partners=PARTNERS)
    booked = new_session(client, admin, couple)
    done = client.post(f"/v1/sessions/{booked['id']}/complete", json={}, headers=admin.headers)
    in_clinic = [link["url"] for link in done.json["feedback_links"] if link.get("url")]
    hook = client.post(
        "/v1/webhook-endpoints",
        headers={**admin.headers, "Idempotency-Key": f"hook-{uuid.uuid4()}"},
        json={"url": "https://93.184.216.34/hook", "events": ["alert.created"]},
    ).json
    rotated = client.post(
        f"/v1/webhook-endpoints/{hook['id']}/rotate-secret", headers=admin.headers
    )
    keys.rotate()  # the signing key rotates: the previous one stays (published) too
    totp_secret = _enrol_second_factor(client, clinic.staff("therapist"))
    deliver_emails(clinic.id, smtp_settings, to=PARTNERS[0]["email"])  # the staff invite waits
    deliver_emails(uuid.UUID(onboarded["id"]), smtp_settings)
    encryption_keys(kek=(crypto.new_key(), *smtp_settings.key_encryption_keys))
    reseal()  # and the key-encryption key rotates

    emailed = links_in(recorder.received, PARTNERS[0]["email"])
    emailed += links_in(recorder.received, owner)
    assert onboarded["admin_invite_url"] in emailed  # delivered with the right link
    tokens = [token_of(url) for url in (*emailed, *in_clinic, invited["invite_url"])]
    tokens = [token for token in tokens if len(token) >= 20]  # one-time tokens, not page paths
    webhook_secrets = [hook["secret"], rotated.json["secret"]]
    return {
        **{f"token {i}": token for i, token in enumerate(tokens)},
        **{f"webhook secret {i}": s for i, s in enumerate(webhook_secrets)},
        **{f"webhook key {i}": s.removeprefix("whsec_") for i, s in enumerate(webhook_secrets)},
        **_private_key_material(),
        "platform client secret": platform.secret,
        "totp secret": totp_secret,
        "totp secret (bytes)": _b64(base64.b32decode(totp_secret)),
    }


def _enrol_second_factor(client, member) -> str:
    """A staff member switches TOTP on; the secret their app holds is returned."""
    enrolled = client.post(f"/v1/staff/{member.id}/totp/enrol", headers=member.headers).json
    code = pyotp.TOTP(enrolled["secret"]).now()
    confirmed = client.post(
        f"/v1/staff/{member.id}/totp/confirm", headers=member.headers, json={"code": code}
    )
    assert confirmed.status_code == 200 and confirmed.json["totp_enabled"], confirmed.json
    return enrolled["secret"]


def _private_key_material() -> dict[str, str]:
    """Each signing key's private scalar (JWK `d`, and as PEM body), read through the app."""
    with context.system_context("test read"), uow.unit_of_work() as session:
        jwks = [row.private_jwk for row in session.scalars(sa.select(SigningKey))]
    material = {}
    for i, jwk in enumerate(jwks[-2:]):  # the current and the previous key
        pem = ECKey.import_key(jwk).as_pem(private=True).decode()
        body = "".join(pem.strip().splitlines()[1:-1])
        material[f"signing key {i} d"] = jwk["d"]
        material[f"signing key {i} d (bytes)"] = _b64(base64.urlsafe_b64decode(jwk["d"] + "=="))
        material[f"signing key {i} pem"] = body[len(body) // 3 : len(body) // 3 + 40]
    return material


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _columns_holding(test_db, needles: dict[str, str]) -> dict[str, list[str]]:
    """{what: [table.column, ...]} for every needle found in any text, JSON or bytea column of
    any table (information_schema: tables the models do not know are read too)."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(database.superuser_url(test_db)) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = ANY(%s)",
            (list(TEXT_TYPES),),
        ).fetchall()
        for table, column in columns:
            for what, needle in needles.items():
                query = sql.SQL("SELECT 1 FROM {} WHERE strpos({}::text, %s) > 0 LIMIT 1").format(
                    sql.Identifier(table), sql.Identifier(column)
                )
                hit = connection.execute(query, (needle,)).fetchone()
                if hit:
                    found.setdefault(what, []).append(f"{table}.{column}")
    return found
