"""OAuth 2 endpoints: discovery documents, the login page (authorization endpoint), token,
revocation, introspection and the JWKS. Plain Flask views: OAuth errors are RFC 6749 JSON,
not problem+json, and these paths are not part of the /v1 OpenAPI document."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Response, current_app, jsonify, render_template

from service.auth import keys, pages
from service.auth.login import StaffUser
from service.auth.server import init_app, server
from service.http.extensions import transactional
from service.http.limits import limiter

blp = Blueprint("oauth", __name__, template_folder="templates")
blp.record_once(lambda state: init_app(state.app))


def _token_limit() -> str:
    return current_app.config["SETTINGS"].token_rate_limit


@blp.errorhandler(OAuth2Error)
def _oauth_error(error: OAuth2Error) -> Response:
    return server.handle_error_response(None, error)


@blp.get("/.well-known/oauth-authorization-server")
def authorization_server_metadata() -> Response:
    return _discovery(server.metadata())


@blp.get("/.well-known/smart-configuration")
def smart_configuration() -> Response:
    return _discovery(server.smart_configuration())


@blp.get("/oauth/jwks.json")
def jwks() -> Response:
    response = jsonify(keys.published_jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blp.route("/oauth/authorize", methods=["GET", "POST"])
@limiter.limit(pages.login_limit, methods=["POST"])
@transactional
def authorize() -> Response:
    try:
        server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _authorization_error(error)
    return _page(pages.sign_in(_authorize))


def _authorize(user: StaffUser) -> Response:
    grant = server.get_consent_grant(end_user=user)
    return server.create_authorization_response(grant=grant, grant_user=user)


@blp.post("/oauth/token")
@limiter.limit(_token_limit)
@transactional
def token() -> Response:
    return server.create_token_response()


@blp.post("/oauth/revoke")
@limiter.limit(_token_limit)
@transactional
def revoke() -> Response:
    return server.create_endpoint_response("revocation")


@blp.post("/oauth/introspect")
@limiter.limit(_token_limit)
def introspect() -> Response:
    return server.create_endpoint_response("introspection")


def _discovery(document: dict) -> Response:
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _authorization_error(error: OAuth2Error) -> Response:
    """Back to the client when its redirect URI is known to be its own; otherwise an error
    page (never redirect to an unverified URI)."""
    if error.redirect_uri:
        return server.handle_error_response(None, error)
    html = render_template("oauth/error.html", error=error.error, description=error.description)
    return _page(Response(html, status=400, mimetype="text/html"))


def _page(response: Response) -> Response:
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
