"""`/healthz` (process is up), `/readyz` (database reachable), `/metrics`, `/docs`."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
import swagger_ui_bundle
from flask import Blueprint, Response, current_app, render_template, send_from_directory
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from service.db import uow
from service.http import problems

blp = Blueprint("ops", __name__, template_folder="templates")
SWAGGER_ASSETS = Path(swagger_ui_bundle.swagger_ui_path)


@blp.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@blp.get("/readyz")
def readyz() -> Response | dict[str, str]:
    try:
        with uow.database().engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        return problems.problem(503, "The database is not reachable.")
    return {"status": "ready"}


@blp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


@blp.get("/docs")
def docs() -> str:
    settings = current_app.config["SETTINGS"]
    return render_template("docs.html", client_id=settings.docs_client_id)


@blp.get("/docs/assets/<path:filename>")
def docs_assets(filename: str) -> Response:
    return send_from_directory(SWAGGER_ASSETS, filename, max_age=3600)


@blp.get("/docs/oauth2-redirect.html")
def docs_oauth_redirect() -> Response:
    return send_from_directory(SWAGGER_ASSETS, "oauth2-redirect.html")
