"""The OAuth endpoints in the OpenAPI document. They are plain Flask views (RFC 6749 errors,
forms, redirects), so flask-smorest does not document them: `describe` adds them, at the rules
the `oauth` blueprint registered. Their behaviour is tested in tests/test_oauth_flows.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apispec import APISpec
    from flask import Flask

OAUTH_ERROR = {
    "description": "An RFC 6749 error.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {"type": "string", "example": "invalid_grant"},
                    "error_description": {"type": "string"},
                },
                "required": ["error"],
            }
        }
    },
}
JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}
CLIENT = "oauth-client"
# Errors are RFC 6749 JSON (`error`, `error_description`), not problem details.
RFC_6749 = {"x-errors": "RFC 6749"}


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


TOKEN_FORM = _form(
    {
        "grant_type": _text(
            "What is exchanged.",
            enum=["authorization_code", "refresh_token", "client_credentials"],
        ),
        "code": _text("authorization_code: the code from the redirect."),
        "redirect_uri": _text("authorization_code: the redirect URI of the authorization."),
        "code_verifier": _text("authorization_code: the PKCE verifier (S256 challenge)."),
        "refresh_token": _text("refresh_token: the refresh token; it is rotated."),
        "scope": _text("Space-separated scopes to ask for.", example="couples.read"),
        "client_id": _text("The client id, for a public client (no secret)."),
    },
    ["grant_type"],
)
TOKEN_RESPONSE = {
    "type": "object",
    "properties": {
        "access_token": _text("A JWT (RFC 9068) to send as `Authorization: Bearer ...`."),
        "token_type": _text("Always `Bearer`.", example="Bearer"),
        "expires_in": {"type": "integer", "description": "Lifetime in seconds.", "example": 900},
        "refresh_token": _text("For authorization_code grants: exchange it for a new token."),
        "scope": _text("The scopes granted.", example="couples.read sessions.read"),
    },
    "required": ["access_token", "token_type", "expires_in"],
}


def _operations() -> dict[str, dict[str, Any]]:
    return {
        "oauth.authorization_server_metadata": {
            "get": _discovery("Authorization server metadata (RFC 8414).")
        },
        "oauth.smart_configuration": {
            "get": _discovery("SMART App Launch / Backend Services configuration.")
        },
        "oauth.jwks": {"get": _jwks()},
        "oauth.authorize": {"get": _authorize_page(), "post": _sign_in()},
        "oauth.token": {"post": _token()},
        "oauth.revoke": {"post": _revoke()},
        "oauth.introspect": {"post": _introspect()},
    }


def _discovery(summary: str) -> dict[str, Any]:
    return {
        "tags": ["oauth"],
        "summary": summary,
        "description": "The endpoints, grants, client authentication methods and scopes this "
        "server supports. Cacheable for an hour. Changes nothing.",
        "security": [],
        "responses": {"200": {"description": "The document.", "content": JSON_OBJECT}},
    }


def _jwks() -> dict[str, Any]:
    return {
        "tags": ["oauth"],
        "summary": "The public keys that sign access tokens (JWKS).",
        "description": "Verify an access token's signature with the key its `kid` names; keys "
        "rotate, so refetch on an unknown `kid`. Cacheable for 5 minutes. Changes nothing.",
        "security": [],
        "responses": {"200": {"description": "The key set.", "content": JSON_OBJECT}},
    }


def _authorize_page() -> dict[str, Any]:
    query = [
        ("response_type", "Always `code`.", True),
        ("client_id", "The client asking.", True),
        ("redirect_uri", "One of the client's registered redirect URIs.", True),
        ("scope", "Space-separated scopes.", False),
        ("state", "Returned unchanged with the code.", False),
        ("code_challenge", "PKCE: base64url SHA-256 of the verifier (required).", True),
        ("code_challenge_method", "Always `S256`.", True),
    ]
    return {
        "tags": ["oauth"],
        "summary": "Start an authorization: the staff sign-in page (code + PKCE).",
        "description": "Shows the sign-in page for the client's request. An unknown client or "
        "a redirect URI that is not the client's own shows an error page (400) and never "
        "redirects; other errors redirect back with `error`. Changes nothing.",
        "security": [],
        **RFC_6749,
        "parameters": [
            {
                "in": "query",
                "name": name,
                "required": required,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text, required in query
        ],
        "responses": {
            "200": {"description": "The sign-in page.", "content": {"text/html": {}}},
            "302": {"description": "Back to the client's redirect URI with an `error`."},
            "400": {"description": "An error page.", "content": {"text/html": {}}},
        },
    }


def _sign_in() -> dict[str, Any]:
    return {
        "tags": ["oauth"],
        "summary": "Sign in and authorize: posts the sign-in form.",
        "description": "With the right email and password (and the form's CSRF token), "
        "redirects to the client's redirect URI with a one-time `code` and `state`. Repeated "
        "failures lock the account for a while; too many attempts from one address are 429.",
        "security": [],
        **RFC_6749,
        "requestBody": _form(
            {
                "csrf_token": _text("The token in the sign-in form."),
                "email": _text("The staff member's email.", format="email"),
                "password": _text("Their password.", format="password"),
            },
            ["csrf_token", "email", "password"],
        ),
        "responses": {
            "302": {"description": "To the client's redirect URI with `code` and `state`."},
            "200": {
                "description": "The sign-in page again, with the error.",
                "content": {"text/html": {}},
            },
            "429": "TOO_MANY_REQUESTS",
        },
    }


def _token() -> dict[str, Any]:
    return {
        "tags": ["oauth"],
        "summary": "Get an access token (authorization code, refresh token, client credentials).",
        "description": "Issues a short-lived JWT access token; an authorization_code grant also "
        "gets a refresh token, rotated at each use (a reused one revokes the family).\n\n"
        "**Errors:** `400` `invalid_request`, `invalid_grant` (a used, expired or unknown code "
        "or refresh token), `invalid_scope` or `unsupported_grant_type`; `401` `invalid_client`; "
        "`429` too many requests (wait `Retry-After` seconds).",
        "security": [],
        "x-credential": CLIENT,
        **RFC_6749,
        "requestBody": TOKEN_FORM,
        "responses": {
            "200": {
                "description": "The token.",
                "content": {"application/json": {"schema": TOKEN_RESPONSE}},
            },
            "400": OAUTH_ERROR,
            "401": OAUTH_ERROR,
            "429": "TOO_MANY_REQUESTS",
        },
    }


def _revoke() -> dict[str, Any]:
    return {
        "tags": ["oauth"],
        "summary": "Revoke an access or refresh token (RFC 7009).",
        "description": "The token stops working at once. An unknown token is also a 200.\n\n"
        "**Errors:** `401` `invalid_client`; `429` too many requests.",
        "security": [],
        "x-credential": CLIENT,
        **RFC_6749,
        "requestBody": _form(
            {
                "token": _text("The token to revoke."),
                "token_type_hint": _text("What it is.", enum=["access_token", "refresh_token"]),
            },
            ["token"],
        ),
        "responses": {
            "200": {"description": "Revoked."},
            "401": OAUTH_ERROR,
            "429": "TOO_MANY_REQUESTS",
        },
    }


def _introspect() -> dict[str, Any]:
    return {
        "tags": ["oauth"],
        "summary": "Introspect a token (RFC 7662): is it active, and for whom.",
        "description": "For confidential clients. Changes nothing.\n\n"
        "**Errors:** `401` `invalid_client`; `429` too many requests.",
        "security": [],
        "x-credential": CLIENT,
        **RFC_6749,
        "requestBody": _form({"token": _text("The token to look at.")}, ["token"]),
        "responses": {
            "200": {
                "description": "`active`, and for an active token its claims.",
                "content": JSON_OBJECT,
            },
            "401": OAUTH_ERROR,
            "429": "TOO_MANY_REQUESTS",
        },
    }


def describe(spec: APISpec, app: Flask) -> None:
    """Add the OAuth endpoints at the rules they are served at."""
    spec.tag({"name": "oauth", "description": "Sign-in and tokens (OAuth 2.1, SMART)."})
    for endpoint, operations in _operations().items():
        rule = next(app.url_map.iter_rules(endpoint))
        spec.path(rule=rule, operations=operations)
