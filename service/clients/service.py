"""Integrator clients of the caller's clinic: register (secret shown once, stored as an argon2
hash, or private_key_jwt with a JWKS), list, read, revoke.

`oauth_clients` is a shared reference table (platform and first-party frontend clients have no
clinic), so the tenant guard does not filter it: every query here goes through `_mine()`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from service.audit import service as audit
from service.auth.models import OAuthClient
from service.core import context
from service.core.clock import utcnow
from service.core.errors import NotFound
from service.core.ids import new_secret
from service.core.paging import Page, PageRequest
from service.core.passwords import hash_secret
from service.db import uow
from service.db.keyset import keyset_page

KIND = "integrator"
SECRET_METHODS = frozenset({"client_secret_basic"})


@dataclass(frozen=True)
class Registered:
    """A new client and, for a secret client, its secret: in this response only."""

    client: OAuthClient
    client_secret: str | None

    def __getattr__(self, name: str) -> Any:  # the response shows the client's fields too
        return getattr(self.client, name)


def register(data: dict[str, Any]) -> Registered:
    uses_secret = data["token_endpoint_auth_method"] in SECRET_METHODS
    secret = new_secret() if uses_secret else None
    client = OAuthClient(
        client_id=new_secret("int_")[:40],
        clinic_id=_clinic_id(),
        kind=KIND,
        name=data["name"],
        scopes=data["scopes"],
        token_endpoint_auth_method=data["token_endpoint_auth_method"],
        secret_hash=hash_secret(secret) if secret else None,
        jwks=data.get("jwks"),
        jwks_uri=data.get("jwks_uri"),
    )
    session = uow.session()
    session.add(client)
    session.flush()
    audit.record("create", "client", client.id)
    return Registered(client, secret)


def list_clients(page: PageRequest) -> Page[OAuthClient]:
    result = keyset_page(_mine(), OAuthClient, page)
    audit.record_many("read", "client", [client.id for client in result.items])
    return result


def get(client_pk: uuid.UUID) -> OAuthClient:
    client = _get(client_pk)
    audit.record("read", "client", client.id)
    return client


def revoke(client_pk: uuid.UUID) -> OAuthClient:
    """Its access tokens are refused from now on (resource checks `revoked_at`), and the
    token endpoint issues no more. Revoking twice keeps the first time."""
    client = _get(client_pk)
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        uow.session().flush()
    audit.record("revoke", "client", client.id)
    return client


def _clinic_id() -> uuid.UUID:
    clinic_id = context.clinic_id()
    if clinic_id is None:  # `== None` would match the platform's clients: never that
        raise NotFound("No clinic in this request.")
    return clinic_id


def _mine() -> sa.Select[tuple[OAuthClient]]:
    """The one query every read starts from: this clinic's integrator clients."""
    return sa.select(OAuthClient).where(
        OAuthClient.clinic_id == _clinic_id(), OAuthClient.kind == KIND
    )


def _get(client_pk: uuid.UUID) -> OAuthClient:
    client = uow.session().scalar(_mine().where(OAuthClient.id == client_pk))
    if client is None:
        raise NotFound("Client not found.")
    return client
