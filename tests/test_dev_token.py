"""`flask --app wsgi dev-token`: a short-lived access token for a staff member from the command
line (the README's first call), issued by the real signing code, audited, never in production."""

from __future__ import annotations

import os
import subprocess

import sqlalchemy as sa

from service.auth import tokens
from service.cli import dev_token
from service.core import context
from service.db import uow
from service.db.audit import AuditEvent
from service.settings import ROOT
from service.staff.policy import scopes_for_role
from tests.demo_api import BIN


def run(app, *args: str):
    return app.test_cli_runner().invoke(dev_token, list(args))


def dev_token_events(staff_id) -> list[AuditEvent]:
    with context.system_context("test check"), uow.unit_of_work() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent).where(
                    AuditEvent.action == "dev_token", AuditEvent.resource_id == staff_id
                )
            )
        )


def test_it_prints_only_a_token_the_api_accepts_and_leaves_an_audit_event(
    app, client, clinic, settings
):
    therapist = clinic.staff("therapist")
    result = run(app, "--email", therapist.email.upper())
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1  # the token and its newline: TOKEN=$(...) works
    token = result.output.strip()

    claims = tokens.verify(token, settings.token_issuer)
    assert claims is not None  # signed with the current key, for this API, unexpired
    assert claims["sub"] == str(therapist.id)
    assert claims["clinic_id"] == str(clinic.id)
    assert claims["roles"] == ["therapist"]
    assert set(claims["scope"].split()) == scopes_for_role("therapist")
    assert claims["client_id"] == "dev-token"
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl <= 900

    listed = client.get("/v1/couples", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.json
    [event] = dev_token_events(therapist.id)
    assert (event.clinic_id, event.resource_type) == (clinic.id, "staff")
    assert (event.actor_kind, event.actor_id) == ("system", "cli dev-token")


def test_scopes_narrow_the_token_and_a_scope_the_role_lacks_is_refused(app, clinic, settings):
    therapist = clinic.staff("therapist")
    narrow = run(app, "--email", therapist.email, "--scope", "couples.read alerts.read")
    assert narrow.exit_code == 0, narrow.output
    claims = tokens.verify(narrow.output.strip(), settings.token_issuer)
    assert claims["scope"] == "alerts.read couples.read"

    refused = run(
        app, "--email", therapist.email, "--scope", "couples.read", "--scope", "audit.read"
    )
    assert refused.exit_code == 1
    assert "Not for a therapist: audit.read" in refused.output
    assert "eyJ" not in refused.output  # no token
    assert len(dev_token_events(therapist.id)) == 1  # only the token that was issued


def test_an_email_at_two_clinics_needs_the_clinic_and_an_unknown_email_is_refused(
    app, make_clinic, settings
):
    first, second = make_clinic(), make_clinic()
    first.staff("admin", email="sam@two-clinics.example")
    theirs = second.staff("supervisor", email="sam@two-clinics.example")

    ambiguous = run(app, "--email", "sam@two-clinics.example")
    assert ambiguous.exit_code == 1
    assert "accounts at several clinics" in ambiguous.output
    chosen = run(app, "--email", "sam@two-clinics.example", "--clinic", second.slug)
    assert chosen.exit_code == 0, chosen.output
    claims = tokens.verify(chosen.output.strip(), settings.token_issuer)
    assert (claims["sub"], claims["roles"]) == (str(theirs.id), ["supervisor"])

    unknown = run(app, "--email", "nobody@two-clinics.example")
    assert unknown.exit_code == 1
    assert "No active staff account has the email" in unknown.output


def test_it_refuses_to_run_in_production():
    """The real command in a production environment: a clear refusal, a non-zero exit, no
    token, before it reaches any database (this one does not exist)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALLIANCE_")},
        "ALLIANCE_ENV": "production",
        "ALLIANCE_SECRET_KEY": "a-production-secret-that-is-long-enough-0123456789",
        "ALLIANCE_DATA_KEY": "YXFBSJ9UNRqEUKifBTOZcTZtDLf8L3cd3iT20SToTTo=",
        "ALLIANCE_KEY_ENCRYPTION_KEY": "Yk2Cb7zVRLkUz6xv9Eu2QbIKsObcVfSfPz_Mo-228jc=",
        "ALLIANCE_DATABASE_URL": "postgresql://alliance_app@127.0.0.1:1/nowhere",
        "ALLIANCE_SYSTEM_DATABASE_URL": "postgresql://alliance_system@127.0.0.1:1/nowhere",
    }
    ran = subprocess.run(
        [BIN / "flask", "--app", "wsgi", "dev-token", "--email", "ana.reyes@harbor.example"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode != 0
    assert ran.stdout == ""
    assert "dev-token refuses to run with ALLIANCE_ENV=production" in ran.stderr
