"""Resource protection: what `service.http.extensions.require` asks of the authorization server.

`verify` checks a JWT access token's signature and claims (no database); `still_valid` checks,
in the caller's clinic, that it is not revoked and its staff member or client is still active.
The HTTP layer binds the caller between the two.
"""

from __future__ import annotations

from typing import Any

from service.auth import tokens
from service.core.context import Actor


class BearerAuthenticator:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def verify(self, token: str) -> tuple[Actor, dict[str, Any]] | None:
        claims = tokens.verify(token, self.issuer)
        return (tokens.actor_from_claims(claims), claims) if claims is not None else None

    def still_valid(self, caller: Actor, claims: dict[str, Any]) -> bool:
        return tokens.still_valid(caller, claims)
