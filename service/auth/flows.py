"""The grants authlib runs, over our use-cases: authorization code with PKCE (S256 only,
always required), refresh-token rotation, client credentials, and private_key_jwt client
authentication (RFC 7523). Every token response is built here (`bearer`): an RFC 9068 JWT
from `tokens`, with the lifetime from settings; authlib's own bearer generator (10-day
default) is never registered."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749 import grants as oauth2_grants
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from service.auth import grants, login, tokens
from service.auth.adapters import (
    ASSERTION_ALGORITHMS,
    CONFIDENTIAL_AUTH_METHODS,
    PRIVATE_KEY_JWT,
    TOKEN_AUTH_METHODS,
    Client,
    Code,
    Refresh,
    endpoint,
    settings,
)
from service.core.clock import utcnow
from service.core.ids import new_secret
from service.core.text import plain_text


def bearer(grant: grants.Grant, client_id: str, refresh_token: str | None = None) -> dict:
    """The token response for a grant: a signed access token with the configured lifetime."""
    ttl = settings().access_token_ttl
    claims = tokens.access_token_claims(
        issuer=settings().token_issuer,
        subject=grant.subject,
        client_id=client_id,
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


class AuthorizationCodeGrant(oauth2_grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: login.StaffUser = request.user
        client: Client = request.client
        scopes = grants.staff_scopes(scope_to_list(request.scope), user.role, client.scopes)
        if not scopes:
            raise InvalidScopeError(
                "Your role does not allow the requested scopes.", redirect_uri=self.redirect_uri
            )
        grants.save_authorization_code(
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
        row = grants.find_authorization_code(code)
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            grants.revoke_code_family(row)
            return None
        if row.expires_at <= utcnow():
            return None
        return Code(row)

    def create_token_response(self) -> tuple[int, dict, list]:
        client: Client = self.request.client
        refresh_token = new_secret()
        try:
            grant = grants.redeem_authorization_code(
                self.request.authorization_code.row,
                refresh_token=refresh_token,
                idle_ttl=settings().refresh_idle_ttl,
                absolute_ttl=settings().refresh_absolute_ttl,
            )
        except grants.GrantRefused as refused:
            raise InvalidGrantError(str(refused)) from refused
        return 200, bearer(grant, client.client_id, refresh_token), self.TOKEN_RESPONSE_HEADER


class RefreshTokenGrant(oauth2_grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Refresh | None:
        row = grants.find_refresh_token(refresh_token)
        return Refresh(row) if row else None

    def create_token_response(self) -> tuple[int, dict, list]:
        client: Client = self.request.client
        old: Refresh = self.request.refresh_token
        new_token = new_secret()
        try:
            grant = grants.rotate_refresh_token(
                old.row,
                new_token=new_token,
                requested_scopes=scope_to_list(self.request.payload.scope) or [],
                client_scopes=client.scopes,
                idle_ttl=settings().refresh_idle_ttl,
            )
        except grants.GrantRefused as refused:
            raise InvalidGrantError(str(refused)) from refused
        return 200, bearer(grant, client.client_id, new_token), self.TOKEN_RESPONSE_HEADER


class ClientCredentialsGrant(oauth2_grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def create_token_response(self) -> tuple[int, dict, list]:
        client: Client = self.request.client
        if client.kind == "integrator" and client.clinic_id is None:
            raise UnauthorizedClientError("The client is not bound to a clinic.")
        requested = scope_to_list(self.request.payload.scope) or []
        scopes = grants.client_scopes(client.row, requested)
        if not scopes:
            raise InvalidScopeError("None of the requested scopes is allowed for this client.")
        grant = grants.Grant(
            subject=client.client_id,
            clinic_id=client.clinic_id if client.kind == "integrator" else None,
            scopes=frozenset(scopes),
        )
        return 200, bearer(grant, client.client_id), self.TOKEN_RESPONSE_HEADER


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
            now=lambda: int(utcnow().timestamp()),
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
            or exp > utcnow().timestamp() + self._max_ttl()
        ):
            raise InvalidClientError(
                description=f"The assertion must expire within {self._max_ttl()} seconds."
            )
        if not isinstance(jti, str) or not plain_text(jti, 200):
            raise InvalidClientError(description="Invalid 'jti'.")
        if not self.validate_jti(claims, jti):
            raise InvalidClientError(description="The assertion 'jti' has been used before.")

    def validate_jti(self, claims: dict, jti: str) -> bool:
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        return tokens.remember_assertion_jti(str(claims["sub"]), jti, expires)

    @staticmethod
    def _max_ttl() -> int:
        return settings().client_assertion_max_ttl
