"""`/healthz` (process is up), `/readyz` (database reachable), `/metrics`, `/docs`."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
import swagger_ui_bundle
from flask import Blueprint, Response, current_app, render_template, request, send_from_directory
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from service.db import uow
from service.http import problems
from service.ops import metrics as ops_metrics
from service.staff.policy import STAFF_SCOPES

blp = Blueprint(
    "ops",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/docs/static",
)
SWAGGER_ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
# Swagger UI and its OAuth redirect page: scripts and styles from here only (nothing inline);
# `data:` images are the icons in swagger-ui.css; it calls this API and nothing else.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Preselected in the Authorize dialog: every scope a staff role can hold. The authorization
# server narrows it to the signed-in user's role, so a therapist gets the therapist's scopes.
DOCS_SCOPES = " ".join(STAFF_SCOPES)


@blp.after_request
def _docs_policy(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", DOCS_CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


@blp.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@blp.get("/readyz")
def readyz() -> Response | dict[str, str]:
    try:
        with uow.database().engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        return problems.database_unavailable()
    return {"status": "ready"}


@blp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format, for the operator's scraper only (ALLIANCE_METRICS_TOKEN,
    ALLIANCE_METRICS_ALLOW)."""
    refused = ops_metrics.gate(current_app.config["SETTINGS"]).refusal(
        request.remote_addr, request.headers.get("Authorization")
    )
    if refused is not None:
        return problems.problem(
            refused.status, refused.detail, headers=ops_metrics.challenge(refused)
        )
    return Response(ops_metrics.api_exposition(), mimetype=CONTENT_TYPE_LATEST)


@blp.get("/docs")
def docs() -> str:
    settings = current_app.config["SETTINGS"]
    return render_template("docs.html", client_id=settings.docs_client_id, scopes=DOCS_SCOPES)


@blp.get("/docs/assets/<path:filename>")
def docs_assets(filename: str) -> Response:
    return send_from_directory(SWAGGER_ASSETS, filename, max_age=3600)


@blp.get("/docs/oauth2-redirect.<any(html, js):ext>")
def docs_oauth_redirect(ext: str) -> Response:
    """The page the sign-in popup returns to, and the script it loads from beside it."""
    return send_from_directory(SWAGGER_ASSETS, f"oauth2-redirect.{ext}")
