"""Operator commands: `flask --app wsgi <command>`; each prints JSON on stdout (`dev-token`,
for a developer's shell, prints only the token)."""

import contextlib
import json
import uuid
from collections.abc import Iterator

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from service.core import context
from service.db import uow


def register(app: Flask) -> None:
    app.cli.add_command(seed_demo)
    app.cli.add_command(dev_token)
    for command in (
        create_platform_client,
        create_client,
        rotate_keys,
        reseal_secrets,
        outbox_redrive,
    ):
        app.cli.add_command(command)


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create the demo clinic, staff and docs client (development only; idempotent)."""
    from service import demo

    try:
        result = demo.seed(current_app.config["SETTINGS"])
    except demo.DemoRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result, indent=2))


@click.command("dev-token")
@click.option("--email", required=True, help="The staff member's email.")
@click.option("--clinic", "slug", help="The clinic's slug, when the email has several accounts.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="A scope (repeat, or space-separated); default: every scope the role has.",
)
@with_appcontext
def dev_token(email: str, slug: str | None, scopes: tuple[str, ...]) -> None:
    """A short-lived access token for a staff member, for curl (development only; prints
    only the token). Issued like a sign-in's (same claims, key and lifetime), and audited."""
    from service.auth import flows, grants, login

    if current_app.config["SETTINGS"].is_production:
        raise click.ClickException(
            "dev-token refuses to run with ALLIANCE_ENV=production: "
            "sign in through /oauth/authorize instead."
        )
    requested = [scope for value in scopes for scope in value.split()]
    actor = context.Actor(kind="system", subject="cli dev-token")
    with _cli_errors():
        user = login.account(email, slug)
        with as_clinic(user.clinic_id, actor):
            grant = grants.developer_grant(user, requested)
    click.echo(flows.bearer(grant, grants.DEVELOPER_CLIENT_ID)["access_token"])


@click.command("create-platform-client")
@click.option("--name", required=True, help="What the client is for.")
@with_appcontext
def create_platform_client(name: str) -> None:
    """A confidential operator client (scope `platform`); prints its id and secret once."""
    from service.clients import service as clients

    reason = "cli: create platform client"
    with _cli_errors(), context.system_context(reason), uow.unit_of_work():
        client_id, secret = clients.create_platform_client(name)
    click.echo(json.dumps({"client_id": client_id, "client_secret": secret}))


@click.command("create-client")
@click.option("--name", required=True, help="What the client is for.")
@click.option("--public", is_flag=True, help="A public first-party frontend (PKCE, no secret).")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@with_appcontext
def create_client(name: str, public: bool, redirect_uris: tuple[str, ...]) -> None:
    """A first-party frontend client (authorization code + PKCE), not bound to a clinic."""
    from service.clients import service as clients

    if not public:
        raise click.UsageError("Only public first-party clients can be created here: --public.")
    reason = "cli: create frontend client"
    with _cli_errors(), context.system_context(reason), uow.unit_of_work():
        client_id = clients.create_frontend_client(name, list(redirect_uris))
    click.echo(json.dumps({"client_id": client_id}))


@click.command("rotate-keys")
@with_appcontext
def rotate_keys() -> None:
    """A new signing key; the previous one stays published until its tokens expire."""
    from service.auth import keys

    click.echo(json.dumps(keys.rotate()))


@click.command("reseal-secrets")
@with_appcontext
def reseal_secrets() -> None:
    """Re-encrypt signing keys, webhook secrets and queued emails under the current
    ALLIANCE_KEY_ENCRYPTION_KEY and ALLIANCE_DATA_KEY; afterwards the *_OLD_KEYS can go."""
    from service.db import sealed
    from service.models import metadata

    with context.system_context("cli reseal-secrets"), uow.unit_of_work():
        click.echo(json.dumps(sealed.reseal_all(metadata)))


@click.command("outbox-redrive")
@click.option("--clinic", "slug", required=True, help="The clinic's slug.")
@click.option("--id", "message_id", type=click.UUID, help="One message; default: every dead one.")
@with_appcontext
def outbox_redrive(slug: str, message_id) -> None:
    """Put dead outbox messages back in the queue (after fixing what made them fail)."""
    from service.clinics import service as clinics
    from service.notifications import service as notifications

    with context.system_context("cli outbox-redrive"), uow.unit_of_work():
        clinic = clinics.by_slug(slug)
    if clinic is None:
        raise click.ClickException(f"No clinic with slug {slug!r}.")
    with as_clinic(clinic.id):
        count = notifications.redrive(message_id)
    click.echo(json.dumps({"clinic": slug, "requeued": count}))


@contextlib.contextmanager
def as_clinic(clinic_id: uuid.UUID, actor: context.Actor | None = None) -> Iterator[None]:
    """Operator work inside one clinic (row-level security applies), in one transaction.
    The only place outside request auth and the worker that sets a tenant."""
    with context.tenant_context(clinic_id, actor), uow.unit_of_work():
        yield


@contextlib.contextmanager
def _cli_errors() -> Iterator[None]:
    from service.core.errors import DomainError

    try:
        yield
    except DomainError as exc:
        detail = exc.detail + (f" {json.dumps(exc.errors)}" if exc.errors else "")
        raise click.ClickException(detail) from exc
