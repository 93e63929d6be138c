"""The OAuth 2 authorization server: authlib's flow logic over our models and use-cases.

- authorization_code with PKCE, S256 only and always required;
- refresh_token with rotation and reuse detection (see `service.rotate_refresh_token`);
- client_credentials with client_secret_basic or private_key_jwt (RFC 7523);
- revocation (RFC 7009) and introspection (RFC 7662).

Every token response is built here (`_bearer`): an RFC 9068 JWT from `tokens`, with the
lifetime from settings. authlib's own bearer generator (10-day default) is never registered.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    TokenMixin,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from service.auth import resource, tokens
from service.auth import service as auth_service
from service.auth.models import AuthorizationCode, OAuthClient, RefreshToken
from service.core.ids import new_secret
from service.core.outbound import RefusedPeer, check_url, outbound_session
from service.settings import Settings
from service.staff.policy import CLINIC_SCOPES, PLATFORM_SCOPE

PRIVATE_KEY_JWT = "private_key_jwt"
# Client assertion algorithms (SMART Backend Services asks for RS384 and ES384).
ASSERTION_ALGORITHMS = ["ES256", "ES384", "RS256", "RS384", "PS256", "PS384"]
TOKEN_AUTH_METHODS = ["none", "client_secret_basic", PRIVATE_KEY_JWT]
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", PRIVATE_KEY_JWT]
GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
SCOPES = [*CLINIC_SCOPES, PLATFORM_SCOPE]


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def endpoint(path: str) -> str:
    return settings().base_url.rstrip("/") + path


# --- model adapters ------------------------------------------------------------------------


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
        allowed = [s for s in scope_to_list(scope) if s in self.scopes]
        return " ".join(allowed) if allowed else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return auth_service.verify_client_secret(self.row, client_secret)

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
        now = datetime.now(UTC)
        return now >= self.row.idle_expires_at or now >= self.row.absolute_expires_at

    def is_revoked(self) -> bool:
        return not auth_service.refresh_token_active(self.row)

    def revoke(self) -> None:
        auth_service.revoke_refresh_family(self.row)

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
        return int(self.claims["exp"]) <= time.time()

    def is_revoked(self) -> bool:
        return not auth_service.access_token_active(self.claims)

    def revoke(self) -> None:
        expires = datetime.fromtimestamp(int(self.claims["exp"]), UTC)
        auth_service.revoke_access_token(str(self.claims["jti"]), expires)

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
        claims = resource.verify_access_token(value)
        return Access(claims) if claims else None
    row = auth_service.find_refresh_token(value)
    return Refresh(row) if row else None


# --- token responses -----------------------------------------------------------------------


def _bearer(grant: auth_service.Grant, client: Client, refresh_token: str | None = None) -> dict:
    ttl = settings().access_token_ttl
    claims = tokens.access_token_claims(
        issuer=settings().token_issuer,
        subject=grant.subject,
        client_id=client.client_id,
        scopes=grant.scopes,
        ttl=ttl,
        clinic_id=grant.clinic_id,
        roles=grant.roles,
    )
    token = {
        "access_token": tokens.sign(claims),
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": claims["scope"],
    }
    if refresh_token:
        token["refresh_token"] = refresh_token
    return token


# --- grants --------------------------------------------------------------------------------


class S256CodeChallenge(CodeChallenge):
    """PKCE that is always required and S256 only (authlib's allows `plain` and a missing
    challenge even with required=True)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: auth_service.StaffUser = request.user
        client: Client = request.client
        scopes = auth_service.staff_scopes(scope_to_list(request.scope), user.role, client.scopes)
        if not scopes:
            raise InvalidScopeError(
                "Your role does not allow the requested scopes.", redirect_uri=self.redirect_uri
            )
        auth_service.save_authorization_code(
            code,
            user=user,
            client_id=client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scopes=scopes,
            code_challenge=request.payload.data["code_challenge"],
            code_challenge_method=request.payload.data["code_challenge_method"],
            ttl=settings().authorization_code_ttl,
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        row = auth_service.find_authorization_code(code)
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            auth_service.revoke_code_family(row)
            return None
        if row.expires_at <= datetime.now(UTC):
            return None
        return Code(row)

    def create_token_response(self) -> tuple[int, dict, list]:
        client: Client = self.request.client
        refresh_token = new_secret()
        try:
            grant = auth_service.redeem_authorization_code(
                self.request.authorization_code.row,
                refresh_token=refresh_token,
                idle_ttl=settings().refresh_idle_ttl,
                absolute_ttl=settings().refresh_absolute_ttl,
            )
        except auth_service.GrantRefused as refused:
            raise InvalidGrantError(str(refused)) from refused
        return 200, _bearer(grant, client, refresh_token), self.TOKEN_RESPONSE_HEADER


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Refresh | None:
        row = auth_service.find_refresh_token(refresh_token)
        return Refresh(row) if row else None

    def create_token_response(self) -> tuple[int, dict, list]:
        client: Client = self.request.client
        old: Refresh = self.request.refresh_token
        new_token = new_secret()
        try:
            grant = auth_service.rotate_refresh_token(
                old.row,
                new_token=new_token,
                requested_scopes=scope_to_list(self.request.payload.scope) or [],
                client_scopes=client.scopes,
                idle_ttl=settings().refresh_idle_ttl,
            )
        except auth_service.GrantRefused as refused:
            raise InvalidGrantError(str(refused)) from refused
        return 200, _bearer(grant, client, new_token), self.TOKEN_RESPONSE_HEADER


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def create_token_response(self) -> tuple[int, dict, list]:
        client: Client = self.request.client
        if client.kind == "integrator" and client.clinic_id is None:
            raise UnauthorizedClientError("The client is not bound to a clinic.")
        requested = scope_to_list(self.request.payload.scope) or []
        scopes = auth_service.client_scopes(client.row, requested)
        if not scopes:
            raise InvalidScopeError("None of the requested scopes is allowed for this client.")
        grant = auth_service.Grant(
            subject=client.client_id,
            clinic_id=client.clinic_id if client.kind == "integrator" else None,
            scopes=frozenset(scopes),
        )
        return 200, _bearer(grant, client), self.TOKEN_RESPONSE_HEADER


# --- client authentication: private_key_jwt ------------------------------------------------


class PrivateKeyJWT(JWTBearerClientAssertion):
    """RFC 7523 client assertions signed with a key from the client's JWKS; `jti` single use,
    `exp` at most `client_assertion_max_ttl` ahead, `aud` = our token endpoint (or issuer)."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=30)

    def get_audiences(self) -> list[str]:
        return [endpoint("/oauth/token"), settings().token_issuer]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        keys = client.public_keys()
        if keys is None:
            raise InvalidClientError(description="The client has no usable public keys.")
        return keys

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError, TypeError) as error:
            raise InvalidClientError(description="The client assertion is invalid.") from error
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: dict) -> None:
        registry = jwt.JWTClaimsRegistry(
            leeway=self.leeway,
            iss={"essential": True},
            sub={"essential": True},
            aud={"essential": True, "values": self.get_audiences()},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except (JoseError, ValueError, TypeError) as error:
            raise InvalidClientError(description="The client assertion is invalid.") from error
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="Issuer and subject must be the client id.")
        exp, jti = claims["exp"], claims["jti"]
        if (
            isinstance(exp, bool)
            or not isinstance(exp, int | float)
            or not math.isfinite(exp)
            or exp > time.time() + self._max_ttl()
        ):
            raise InvalidClientError(
                description=f"The assertion must expire within {self._max_ttl()} seconds."
            )
        if not isinstance(jti, str) or not auth_service.plain_text(jti, 200):
            raise InvalidClientError(description="Invalid 'jti'.")
        if not self.validate_jti(claims, jti):
            raise InvalidClientError(description="The assertion 'jti' has been used before.")

    def validate_jti(self, claims: dict, jti: str) -> bool:
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        return auth_service.remember_assertion_jti(str(claims["sub"]), jti, expires)

    @staticmethod
    def _max_ttl() -> int:
        return settings().client_assertion_max_ttl


_jwks_cache: dict[str, tuple[float, dict]] = {}
_jwks_lock = threading.Lock()


def _fetch_jwks(uri: str) -> dict | None:
    """A client's published JWKS, cached five minutes."""
    with _jwks_lock:
        cached = _jwks_cache.get(uri)
        if cached and time.monotonic() - cached[0] < 300:
            return cached[1]
    try:  # a client-supplied URL: public HTTPS targets only (SSRF guard)
        check_url(uri, allow_private=False)
        response = outbound_session(allow_private=False).get(uri, timeout=5, allow_redirects=False)
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError, RefusedPeer):
        return None
    if not isinstance(data, dict):
        return None
    with _jwks_lock:
        _jwks_cache[uri] = (time.monotonic(), data)
    return data


# --- revocation and introspection ----------------------------------------------------------


class Revocation(RevocationEndpoint):
    """RFC 7009. A refresh token revokes its whole family; an access token is listed as
    revoked until it expires. Unknown tokens and tokens of other clients: 200, nothing done."""

    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def authenticate_token(self, request: Any, client: Client) -> Access | Refresh | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        return token if token is not None and token.check_client(client) else None

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return lookup_token(token_string, token_type_hint)

    def revoke_token(self, token: Access | Refresh, request: Any) -> None:
        token.revoke()


class Introspection(IntrospectionEndpoint):
    """RFC 7662, for confidential clients: platform clients see every token, integrators
    only tokens of their own clinic or their own."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return lookup_token(token_string, token_type_hint)

    def check_permission(self, token: Access | Refresh, client: Client, request: Any) -> bool:
        if client.kind == "platform":
            return True
        if token.client_id == client.client_id:
            return True
        return (
            client.kind == "integrator"
            and client.clinic_id is not None
            and str(token.clinic_id or "") == str(client.clinic_id)
        )

    def introspect_token(self, token: Access | Refresh) -> dict[str, Any]:
        return token.introspection()


# --- the server ----------------------------------------------------------------------------


class AuthorizationServer(FlaskAuthorizationServer):
    def load_config(self, config: Any) -> None:
        # No authlib bearer generator: every grant builds its response with `_bearer`.
        self.scopes_supported = None  # unknown scopes are dropped per client/role, not errors
        self._error_uris = None

    def query_client(self, client_id: str) -> Client | None:
        row = auth_service.find_client(client_id) if isinstance(client_id, str) else None
        return Client(row) if row is not None else None

    def save_token(self, token: dict, request: Any) -> None:  # pragma: no cover - unused
        raise RuntimeError("tokens are stored by the grants themselves")

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        return {
            "issuer": settings().token_issuer,
            "authorization_endpoint": endpoint("/oauth/authorize"),
            "token_endpoint": endpoint("/oauth/token"),
            "jwks_uri": endpoint("/oauth/jwks.json"),
            "revocation_endpoint": endpoint("/oauth/revoke"),
            "introspection_endpoint": endpoint("/oauth/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": GRANT_TYPES,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "revocation_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_AUTH_METHODS,
            "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "scopes_supported": SCOPES,
            "service_documentation": endpoint("/docs"),
        }

    def smart_configuration(self) -> dict[str, Any]:
        """SMART App Launch / Backend Services discovery document."""
        return {
            "issuer": settings().token_issuer,
            "jwks_uri": endpoint("/oauth/jwks.json"),
            "authorization_endpoint": endpoint("/oauth/authorize"),
            "token_endpoint": endpoint("/oauth/token"),
            "revocation_endpoint": endpoint("/oauth/revoke"),
            "introspection_endpoint": endpoint("/oauth/introspect"),
            "grant_types_supported": GRANT_TYPES,
            "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "capabilities": ["client-confidential-asymmetric", "client-public", "permission-v2"],
            "code_challenge_methods_supported": ["S256"],
        }


server = AuthorizationServer()


def init_app(app: Flask) -> None:
    """Wire the grants and endpoints once (idempotent per server)."""
    server.init_app(app)
    if getattr(server, "_alliance_ready", False):
        return
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_client_auth_method(PRIVATE_KEY_JWT, PrivateKeyJWT())
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server._alliance_ready = True
