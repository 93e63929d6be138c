"""RFC 9068 JWT access tokens: one claim set, signed with the current key (ES256), verified,
checked against revocation and the holder's state, and revoked (RFC 7009). Client assertion
`jti`s (private_key_jwt) are remembered here too."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from sqlalchemy.exc import IntegrityError

from service.auth import keys
from service.auth.models import ClientAssertionJti, RevokedAccessToken
from service.clients import service as clients
from service.core import context
from service.core.clock import utcnow
from service.core.context import Actor
from service.core.ids import new_secret
from service.db import audit, uow
from service.staff import service as staff
from service.staff.policy import JWT_RESOLUTION, issued_in_time


def access_token_claims(
    *,
    issuer: str,
    subject: str,
    client_id: str,
    scopes: Iterable[str],
    ttl: int,
    clinic_id: uuid.UUID | None = None,
    roles: Iterable[str] = (),
) -> dict[str, object]:
    now = int(utcnow().timestamp())
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": issuer,
        "sub": subject,
        "client_id": client_id,
        "scope": " ".join(sorted(set(scopes))),
        "iat": now,
        "exp": now + ttl,
        "jti": new_secret()[:32],
    }
    if clinic_id is not None:
        claims["clinic_id"] = str(clinic_id)
    if roles:
        claims["roles"] = sorted(roles)
    return claims


def sign(claims: dict[str, object]) -> str:
    key = keys.signing_key()
    header = {"alg": keys.ALGORITHM, "typ": "at+jwt", "kid": key.kid}
    return jwt.encode(header, claims, key)


def verify(token: str, issuer: str) -> dict[str, Any] | None:
    """Claims of a well-signed, unexpired token issued by us for this API, else None."""
    try:
        kid = extract_compact(token.encode()).protected.get("kid")
        decoded = jwt.decode(token, keys.cache.public_keys(kid=kid), algorithms=[keys.ALGORITHM])
        registry = jwt.JWTClaimsRegistry(
            now=_now,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": issuer},
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


def _now() -> int:
    return int(utcnow().timestamp())


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


def still_valid(caller: Actor, claims: dict[str, Any]) -> bool:
    """One query: the token is not revoked, and its staff member (active, not signed out
    everywhere after `iat`) or its client (not revoked) is still allowed."""
    not_revoked = ~sa.exists().where(RevokedAccessToken.jti == str(claims["jti"]))
    if caller.kind == "staff":
        row = uow.session().execute(staff.active_query(caller.staff_id).add_columns(not_revoked))
        found = row.first()
        if found is None:
            return False
        active, valid_after, fresh = found
        issued_at = datetime.fromtimestamp(int(claims.get("iat", 0)), UTC)
        in_time = issued_in_time(issued_at, valid_after, resolution=JWT_RESOLUTION)
        return bool(active and fresh and in_time)
    found = (
        uow.session()
        .execute(clients.active_query(str(caller.client_id)).add_columns(not_revoked))
        .first()
    )
    return bool(found and found[0] and found[1])


def revoke(jti: str, expires_at: datetime, holder: Actor) -> None:
    """Refuse this JWT from now on (kept until it would have expired anyway); audited in the
    holder's clinic, as the holder's (a platform token has no clinic's trail)."""
    clinic = holder.clinic_id
    scope = context.tenant_context(clinic, holder) if clinic else contextlib.nullcontext()
    with scope, uow.unit_of_work() as session:
        if session.get(RevokedAccessToken, jti) is not None:
            return
        session.add(RevokedAccessToken(jti=jti, expires_at=expires_at))
        if clinic:
            audit.record("token_revoked", holder.kind, holder.staff_id, reason="access token")


def remember_assertion_jti(client_id: str, jti: str, expires_at: datetime) -> bool:
    """Record a client assertion's `jti`; False when this client used it before."""
    try:
        with uow.unit_of_work() as session:
            session.execute(
                sa.delete(ClientAssertionJti).where(
                    ClientAssertionJti.client_id == client_id,
                    ClientAssertionJti.expires_at < utcnow(),
                )
            )
            session.add(ClientAssertionJti(client_id=client_id, jti=jti, expires_at=expires_at))
            session.flush()
    except IntegrityError:
        return False
    return True
