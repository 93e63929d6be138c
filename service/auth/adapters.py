"""Our rows as authlib sees them: clients, codes, refresh and access tokens, and the settings
and links the flows need. No flow logic here (that is `flows` and `server`)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import scope_to_list
from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from service.auth import grants, tokens
from service.clients import service as clients
from service.core import context, outbound
from service.core.clock import monotonic, utcnow
from service.core.outbound import RefusedPeer, check_url
from service.db import uow
from service.settings import Settings
from service.staff.policy import CLINIC_SCOPES, PLATFORM_SCOPE, SYSTEM_SCOPES, covers

if TYPE_CHECKING:
    from service.auth.models import AuthorizationCode, RefreshToken
    from service.clients.models import OAuthClient

PRIVATE_KEY_JWT = "private_key_jwt"
# Client assertion algorithms (SMART Backend Services asks for RS384 and ES384).
ASSERTION_ALGORITHMS = ["ES256", "ES384", "RS256", "RS384", "PS256", "PS384"]
TOKEN_AUTH_METHODS = ["none", "client_secret_basic", PRIVATE_KEY_JWT]
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", PRIVATE_KEY_JWT]
GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
SCOPES = [*CLINIC_SCOPES, PLATFORM_SCOPE, *SYSTEM_SCOPES]


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def endpoint(path: str) -> str:
    return settings().base_url.rstrip("/") + path


class Client(ClientMixin):
    """An `OAuthClient` row as authlib sees it."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row
        self.client_id = row.client_id
        self.kind = row.kind
        self.clinic_id = row.clinic_id
        self.scopes = list(row.scopes or [])
        self.redirect_uris = list(row.redirect_uris or [])
        self.auth_method = row.token_endpoint_auth_method

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """Requested scopes this client may ask for; "" = none asked (role decides later);
        None (invalid_scope) when every requested scope is foreign to the client."""
        if not scope:
            return ""
        allowed = [s for s in scope_to_list(scope) if covers(set(self.scopes), s)]
        return " ".join(allowed) if allowed else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return clients.verify_client_secret(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "introspection" and method == "none":
            return False
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.kind == "frontend"

    def check_grant_type(self, grant_type: str) -> bool:
        if self.kind == "frontend":
            return grant_type in ("authorization_code", "refresh_token")
        return grant_type == "client_credentials"

    def public_keys(self) -> KeySet | None:
        data = self.row.jwks or (_fetch_jwks(self.row.jwks_uri) if self.row.jwks_uri else None)
        if not data:
            return None
        try:
            return KeySet.import_key_set(data)
        except (JoseError, ValueError, TypeError, KeyError):
            return None


class Code(AuthorizationCodeMixin):
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str | None:
        return self.row.redirect_uri or None

    def get_scope(self) -> str:
        return self.row.scope


class Refresh(TokenMixin):
    """A refresh token as revocation/introspection see it."""

    token_type = "refresh_token"  # noqa: S105 - a type name

    def __init__(self, row: RefreshToken) -> None:
        self.row = row
        self.client_id = row.client_id

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.row.scope

    @property
    def clinic_id(self) -> Any:
        return self.row.clinic_id

    def is_expired(self) -> bool:
        now = utcnow()
        return now >= self.row.idle_expires_at or now >= self.row.absolute_expires_at

    def is_revoked(self) -> bool:
        return not grants.refresh_token_active(self.row)

    def revoke(self) -> None:
        grants.revoke_refresh_family(self.row)

    def introspection(self) -> dict[str, Any]:
        return {
            "active": True,
            "token_type": self.token_type,
            "scope": self.row.scope,
            "client_id": self.client_id,
            "sub": str(self.row.staff_id),
            "clinic_id": str(self.row.clinic_id),
            "iat": int(self.row.created_at.timestamp()),
            "exp": int(min(self.row.idle_expires_at, self.row.absolute_expires_at).timestamp()),
            "iss": settings().token_issuer,
        }


class Access(TokenMixin):
    """A verified JWT access token as revocation/introspection see it."""

    token_type = "Bearer"  # noqa: S105 - a type name

    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims
        self.client_id = claims.get("client_id")
        self.clinic_id_text = claims.get("clinic_id")

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    @property
    def clinic_id(self) -> Any:
        return self.clinic_id_text

    def is_expired(self) -> bool:
        return int(self.claims["exp"]) <= utcnow().timestamp()

    def is_revoked(self) -> bool:
        with context.system_context("oauth token introspection"), uow.unit_of_work():
            return not tokens.still_valid(tokens.actor_from_claims(self.claims), self.claims)

    def revoke(self) -> None:
        expires = datetime.fromtimestamp(int(self.claims["exp"]), UTC)
        tokens.revoke(str(self.claims["jti"]), expires, tokens.actor_from_claims(self.claims))

    def introspection(self) -> dict[str, Any]:
        payload = {
            "active": True,
            "token_type": self.token_type,
            "scope": self.get_scope(),
            "client_id": self.client_id,
            "sub": self.claims["sub"],
            "exp": self.claims["exp"],
            "iat": self.claims.get("iat"),
            "iss": self.claims["iss"],
            "aud": self.claims["aud"],
            "jti": self.claims["jti"],
        }
        if self.clinic_id_text:
            payload["clinic_id"] = self.clinic_id_text
        if self.claims.get("roles"):
            payload["roles"] = self.claims["roles"]
        return payload


def lookup_token(value: str, _hint: str | None) -> Access | Refresh | None:
    """Either kind, whatever the hint says (RFC 7009 §2.1: the hint only speeds the search)."""
    if value.count(".") == 2:
        claims = tokens.verify(value, settings().token_issuer)
        return Access(claims) if claims else None
    row = grants.find_refresh_token(value)
    return Refresh(row) if row else None


# A client's key set is a few kilobytes; a fetch must not hold a token request for long.
JWKS_DEADLINE_SECONDS = 5
JWKS_MAX_BYTES = 64 * 1024
_jwks_cache: dict[str, tuple[float, dict]] = {}
_jwks_lock = threading.Lock()


def _fetch_jwks(uri: str) -> dict | None:
    """A client's published JWKS, cached five minutes."""
    with _jwks_lock:
        cached = _jwks_cache.get(uri)
        if cached and monotonic() - cached[0] < 300:
            return cached[1]
    try:  # a client-supplied URL: public HTTPS targets only (SSRF guard)
        check_url(uri, allow_private=False)
        reply = outbound.call(
            "GET", uri, allow_private=False, deadline=JWKS_DEADLINE_SECONDS, max_body=JWKS_MAX_BYTES
        )
        data = json.loads(reply.body) if reply.status == 200 else None
    except (requests.RequestException, ValueError, RefusedPeer):
        return None
    if not isinstance(data, dict):
        return None
    with _jwks_lock:
        _jwks_cache[uri] = (monotonic(), data)
    return data
