"""OAuth 2 endpoints: discovery documents, the login page (authorization endpoint), token,
revocation, introspection and the JWKS. Plain Flask views: OAuth errors are RFC 6749 JSON,
not problem+json, and these paths are not part of the /v1 OpenAPI document."""

from __future__ import annotations

import hmac
import secrets

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Response, current_app, jsonify, render_template, request, session

from service.auth import keys, login
from service.auth.server import init_app, server
from service.http.extensions import transactional
from service.http.limits import limiter

blp = Blueprint("oauth", __name__, template_folder="templates")
blp.record_once(lambda state: init_app(state.app))

BAD_CREDENTIALS = "The email or password is incorrect."
ASK_CLINIC = (
    "This email is registered at more than one clinic. Enter your clinic's identifier to continue."
)
SESSION_EXPIRED = "Your sign-in form expired. Please try again."
CSRF_KEY = "oauth_csrf"


def _login_limit() -> str:
    return current_app.config["SETTINGS"].login_rate_limit


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
@limiter.limit(_login_limit, methods=["POST"])
@transactional
def authorize() -> Response:
    try:
        server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _authorization_error(error)
    if request.method == "GET":
        return _login_page()
    if not _csrf_valid():
        return _login_page(error=SESSION_EXPIRED, status=400)
    clinic = request.form.get("clinic") or request.args.get("clinic")
    outcome = login.authenticate_staff(
        request.form.get("email", ""), request.form.get("password", ""), clinic
    )
    if outcome.needs_clinic:
        return _login_page(error=ASK_CLINIC, ask_clinic=True)
    if outcome.user is None:
        return _login_page(error=BAD_CREDENTIALS, ask_clinic=bool(request.form.get("clinic")))
    session.pop(CSRF_KEY, None)
    grant = server.get_consent_grant(end_user=outcome.user)
    return server.create_authorization_response(grant=grant, grant_user=outcome.user)


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
    return _page(
        render_template("oauth/error.html", error=error.error, description=error.description),
        400,
    )


def _login_page(*, error: str | None = None, ask_clinic: bool = False, status: int = 200):
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    html = render_template(
        "oauth/login.html",
        action=request.full_path,
        csrf_token=token,
        error=error,
        email=request.form.get("email", "") if request.method == "POST" else "",
        ask_clinic=ask_clinic,
        clinic=request.form.get("clinic", ""),
    )
    return _page(html, status)


def _page(html: str, status: int) -> Response:
    response = Response(html, status=status, mimetype="text/html")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _csrf_valid() -> bool:
    expected = session.get(CSRF_KEY)
    offered = request.form.get("csrf_token", "")
    return bool(expected) and hmac.compare_digest(str(expected).encode(), offered.encode())
