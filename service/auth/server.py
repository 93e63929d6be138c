"""The OAuth 2 authorization server: authlib's flow logic over our models and use-cases.

- authorization_code with PKCE, S256 only and always required;
- refresh_token with rotation and reuse detection (service.auth.grants);
- client_credentials with client_secret_basic or private_key_jwt (RFC 7523);
- revocation (RFC 7009) and introspection (RFC 7662).

The grants are in `flows`, our rows as authlib sees them in `adapters`.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask

from service.auth import flows
from service.auth.adapters import (
    ASSERTION_ALGORITHMS,
    CONFIDENTIAL_AUTH_METHODS,
    GRANT_TYPES,
    PRIVATE_KEY_JWT,
    SCOPES,
    TOKEN_AUTH_METHODS,
    Access,
    Client,
    Refresh,
    endpoint,
    lookup_token,
    settings,
)
from service.clients import service as clients

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
        # No authlib bearer generator: every grant builds its response with `flows.bearer`.
        self.scopes_supported = None  # unknown scopes are dropped per client/role, not errors
        self._error_uris = None

    def query_client(self, client_id: str) -> Client | None:
        row = clients.find_active(client_id) if isinstance(client_id, str) else None
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
        """SMART App Launch / Backend Services discovery document; `scopes_supported` holds
        the SMART v2 system scopes of /fhir/R4 (`system/*.rs`, ...)."""
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
            "capabilities": [
                "client-confidential-asymmetric",
                "client-confidential-symmetric",
                "client-public",
                "permission-v2",
            ],
            "code_challenge_methods_supported": ["S256"],
        }


server = AuthorizationServer()


def init_app(app: Flask) -> None:
    """Wire the grants and endpoints once (idempotent per server)."""
    server.init_app(app)
    if getattr(server, "_alliance_ready", False):
        return
    server.register_grant(flows.AuthorizationCodeGrant, [flows.S256CodeChallenge(required=True)])
    server.register_grant(flows.RefreshTokenGrant)
    server.register_grant(flows.ClientCredentialsGrant)
    server.register_client_auth_method(PRIVATE_KEY_JWT, flows.PrivateKeyJWT())
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server._alliance_ready = True
