"""RFC 9068 JWT access tokens: one claim set, signed with the current key (ES256)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from joserfc import jwt

from service.auth import keys
from service.core.ids import new_secret


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
    now = int(time.time())
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
