"""OAuth clients: every kind is created through one path (`_create`).

- integrator clients of the caller's clinic (`/v1/clients`): a secret shown once and stored
  as an argon2 hash, or private_key_jwt with a JWKS; list, read, revoke;
- first-party frontends (authorization code + PKCE, no secret, no clinic) and platform
  operators (client credentials, scope `platform`, no clinic), from the CLI.

`oauth_clients` is a shared reference table, so the tenant guard does not filter it: every
read of a clinic's clients starts from `INTEGRATORS`, which names the clinic itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from service.clients.models import OAuthClient
from service.core import context
from service.core.clock import utcnow
from service.core.errors import Invalid
from service.core.ids import new_secret
from service.core.paging import Page, PageRequest
from service.core.passwords import hash_secret, verify_secret
from service.core.text import plain_text
from service.db import audit, uow
from service.db.lookup import Lookup
from service.staff.policy import CLINIC_SCOPES, PLATFORM_SCOPE

MAX_CLIENT_ID = 64
MAX_REDIRECT_URI = 500


def _of_this_clinic(stmt: sa.Select[Any]) -> sa.Select[Any]:
    # `clinic_id == None` would match the platform's clients: no clinic sees nothing.
    clinic_id = context.clinic_id() or uuid.UUID(int=0)
    return stmt.where(OAuthClient.clinic_id == clinic_id, OAuthClient.kind == "integrator")


INTEGRATORS = Lookup(OAuthClient, "client", "Client not found.", visible=_of_this_clinic)


@dataclass(frozen=True)
class Registered:
    """A new client and, for a secret client, its secret: in this result only."""

    resource: OAuthClient
    client_secret: str | None


# -- integrator clients of the caller's clinic ------------------------------------------------


def register(data: dict[str, Any]) -> Registered:
    """An integrator client of the caller's clinic (the admin's `/v1/clients`)."""
    clinic_id = context.clinic_id()
    if clinic_id is None:
        raise Invalid("Integrator clients belong to a clinic.")
    registered = _create(
        "integrator",
        data["name"],
        scopes=data["scopes"],
        clinic_id=clinic_id,
        auth_method=data["token_endpoint_auth_method"],
        jwks=data.get("jwks"),
        jwks_uri=data.get("jwks_uri"),
    )
    audit.record("create", "client", registered.resource.id)
    return registered


def list_clients(page: PageRequest) -> Page[OAuthClient]:
    return INTEGRATORS.page(INTEGRATORS.query(), page)


def get(client_pk: uuid.UUID) -> OAuthClient:
    return INTEGRATORS.get(client_pk)


def revoke(client_pk: uuid.UUID) -> OAuthClient:
    """Its access tokens are refused from now on (resource checks `revoked_at`), and the
    token endpoint issues no more. Revoking twice keeps the first time."""
    client = INTEGRATORS.get(client_pk, audited=False)
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        uow.session().flush()
    audit.record("revoke", "client", client.id)
    return client


# -- operator clients (CLI, demo) -------------------------------------------------------------


def create_platform_client(name: str) -> tuple[str, str]:
    """A confidential operator client (scope `platform`, no clinic); returns (id, secret)."""
    registered = _create(
        "platform", name, scopes=[PLATFORM_SCOPE], auth_method="client_secret_basic"
    )
    assert registered.client_secret is not None
    return registered.resource.client_id, registered.client_secret


def create_frontend_client(
    name: str, redirect_uris: Iterable[str], client_id: str | None = None
) -> str:
    """A first-party public client (authorization code + PKCE, no secret, no clinic)."""
    registered = _create(
        "frontend",
        name,
        scopes=CLINIC_SCOPES,
        auth_method="none",
        client_id=client_id,
        redirect_uris=_redirect_uris(redirect_uris),
    )
    return registered.resource.client_id


def ensure_frontend_client(client_id: str, name: str, redirect_uris: Iterable[str]) -> OAuthClient:
    """Create the first-party client if missing, else make sure it has these redirect URIs
    (idempotent; used to register the docs client)."""
    uris = _redirect_uris(redirect_uris)
    client = _by_client_id(client_id)
    if client is None:
        create_frontend_client(name, uris, client_id=client_id)
        return _by_client_id(client_id)
    if client.kind != "frontend":
        raise Invalid("This client id belongs to another kind of client.")
    missing = [uri for uri in uris if uri not in client.redirect_uris]
    if missing:
        client.redirect_uris = [*client.redirect_uris, *missing]
    client.revoked_at = None
    uow.session().flush()
    return client


# -- for the authorization server ---------------------------------------------------------------


def find_active(client_id: str) -> OAuthClient | None:
    """An active client by `client_id` (clinic or not: the caller is not yet known)."""
    if not plain_text(client_id, MAX_CLIENT_ID):
        return None
    with context.system_context("oauth client lookup"), uow.unit_of_work():
        client = _by_client_id(client_id)
    return client if client is not None and client.revoked_at is None else None


def verify_client_secret(client: OAuthClient, secret: str) -> bool:
    """argon2 check against the stored hash (clients without a secret always fail)."""
    return verify_secret(client.secret_hash, secret or "")


def active_query(client_id: str) -> sa.Select[Any]:
    """One row, `(active,)`, for the client behind a token; callers may add columns."""
    return sa.select(OAuthClient.revoked_at.is_(None)).where(OAuthClient.client_id == client_id)


# -- one way to create a client -----------------------------------------------------------------


def _create(
    kind: str,
    name: str,
    *,
    scopes: Iterable[str],
    auth_method: str,
    clinic_id: uuid.UUID | None = None,
    client_id: str | None = None,
    redirect_uris: list[str] | None = None,
    jwks: dict | None = None,
    jwks_uri: str | None = None,
) -> Registered:
    secret = new_secret() if auth_method == "client_secret_basic" else None
    client = OAuthClient(
        client_id=_free_client_id(client_id, kind),
        clinic_id=clinic_id,
        name=_name(name),
        kind=kind,
        token_endpoint_auth_method=auth_method,
        secret_hash=hash_secret(secret) if secret else None,
        jwks=jwks,
        jwks_uri=jwks_uri,
        redirect_uris=redirect_uris or [],
        scopes=sorted(set(scopes)),
    )
    uow.session().add(client)
    uow.session().flush()
    return Registered(client, secret)


def _by_client_id(client_id: str) -> OAuthClient | None:
    return uow.session().scalar(sa.select(OAuthClient).where(OAuthClient.client_id == client_id))


def _free_client_id(requested: str | None, kind: str) -> str:
    if requested is None:
        return f"{kind}-{new_secret()[:24]}"
    if not plain_text(requested, MAX_CLIENT_ID):
        raise Invalid("Invalid client id.", errors={"client_id": ["1-64 printable characters."]})
    if _by_client_id(requested) is not None:
        raise Invalid("This client id is taken.", errors={"client_id": ["Already taken."]})
    return requested


def _name(name: str) -> str:
    name = (name or "").strip()
    if not plain_text(name, 120):
        raise Invalid("A name of 1-120 printable characters is required.")
    return name


def _redirect_uris(uris: Iterable[str]) -> list[str]:
    result = []
    for uri in uris:
        if (
            not plain_text(uri, MAX_REDIRECT_URI)
            or not uri.startswith(("https://", "http://"))
            or "#" in uri
        ):
            raise Invalid("Invalid redirect URI.", errors={"redirect_uris": [uri[:100]]})
        result.append(uri)
    if not result:
        raise Invalid("At least one redirect URI is required.")
    return result
