"""Resource protection: verify the bearer JWT, bind the caller and clinic, check scope/role.

`require()` is the one decorator every protected endpoint uses. It also documents the
endpoint's security (scopes, and roles where only staff may call) in the OpenAPI spec.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from service.auth import keys
from service.auth.models import OAuthClient, RevokedAccessToken
from service.core import context
from service.core.context import Actor
from service.core.errors import Forbidden, Unauthenticated
from service.db import uow
from service.staff.models import StaffMember

SECURITY_SCHEME = "oauth2"


def require(*scopes: str, roles: tuple[str, ...] | None = None) -> Callable:
    """Allow callers whose token carries every scope in `scopes` (and, when `roles` is given,
    only staff with one of those roles; integrator clients are then refused)."""

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = authenticate()
            missing = set(scopes) - caller.scopes
            if missing or (roles is not None and not caller.has_role(*roles)):
                raise Forbidden(
                    "Your token does not allow this: " + ", ".join(sorted(missing))
                    if missing
                    else "Your role does not allow this."
                )
            return func(*args, **kwargs)

        doc = wrapper.__dict__.setdefault("_apidoc", {}).setdefault("manual_doc", {})
        doc["security"] = [{SECURITY_SCHEME: list(scopes)}]
        if roles is not None:
            doc["x-roles"] = list(roles)
        return wrapper

    return decorator


def public(func: Callable) -> Callable:
    """Mark an endpoint as needing no token (documented with an empty security list)."""
    func.__dict__.setdefault("_apidoc", {}).setdefault("manual_doc", {})["security"] = []
    return func


def bind_partner(clinic_id: uuid.UUID, partner_id: uuid.UUID) -> None:
    """A partner's link is their credential: act as that partner, in that clinic."""
    context.bind(
        actor=Actor(kind="partner", subject=str(partner_id), clinic_id=clinic_id),
        clinic_id=clinic_id,
    )


def authenticate() -> Actor:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("A bearer access token is required.")
    claims = verify_access_token(token.strip())
    if claims is None:
        raise Unauthenticated("The access token is invalid or expired.")
    caller = actor_from_claims(claims)
    context.bind(actor=caller, clinic_id=caller.clinic_id)
    if not _still_valid(caller, claims):
        raise Unauthenticated("The access token has been revoked.")
    return caller


def verify_access_token(token: str) -> dict[str, Any] | None:
    """Claims of a well-signed, unexpired token issued by us for this API, else None."""
    settings = current_app.config["SETTINGS"]
    try:
        kid = extract_compact(token.encode()).protected.get("kid")
        decoded = jwt.decode(token, keys.cache.public_keys(kid=kid), algorithms=[keys.ALGORITHM])
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": settings.token_issuer},
            aud={"essential": True, "value": settings.token_issuer},
            exp={"essential": True},
            jti={"essential": True},
            sub={"essential": True},
        )
        registry.validate(decoded.claims)
    except (JoseError, ValueError, TypeError):
        return None
    if decoded.header.get("typ") != "at+jwt":
        return None
    return decoded.claims


def actor_from_claims(claims: dict[str, Any]) -> Actor:
    clinic = claims.get("clinic_id")
    roles = claims.get("roles") or []
    return Actor(
        kind="staff" if roles else "client",
        subject=str(claims["sub"]),
        clinic_id=uuid.UUID(clinic) if clinic else None,
        roles=frozenset(roles),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        client_id=claims.get("client_id"),
    )


def _still_valid(caller: Actor, claims: dict[str, Any]) -> bool:
    """One query: the token is not revoked, and its staff member or client is still active."""
    revoked = sa.exists().where(RevokedAccessToken.jti == str(claims["jti"]))
    issued_at = datetime.fromtimestamp(int(claims.get("iat", 0)), UTC)
    if caller.kind == "staff":
        query = sa.select(StaffMember.active, StaffMember.tokens_valid_after, ~revoked).where(
            StaffMember.id == caller.staff_id
        )
        row = uow.session().execute(query).first()
        return bool(row and row[0] and row[2] and (row[1] is None or issued_at >= row[1]))
    query = sa.select(OAuthClient.revoked_at.is_(None), ~revoked).where(
        OAuthClient.client_id == caller.client_id
    )
    row = uow.session().execute(query).first()
    return bool(row and row[0] and row[1])
