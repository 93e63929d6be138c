"""Alliance: practice management for couples-therapy clinics, built around alliance feedback."""

from __future__ import annotations

from flask import Flask
from flask_babel import Babel
from werkzeug.middleware.proxy_fix import ProxyFix

from service.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    from service.alerts import api as alerts_api
    from service.audit import api as audit_api
    from service.auth import api as auth_api
    from service.auth import lockout
    from service.auth.resource import BearerAuthenticator
    from service.clients import api as clients_api
    from service.clinics import api as clinics_api
    from service.clinics import service as clinics_service
    from service.core import crypto, i18n
    from service.couples import api as couples_api
    from service.db import uow
    from service.db.session import Database
    from service.feedback import api as feedback_api
    from service.fhir import api as fhir_api
    from service.http import pipeline
    from service.http.extensions import SECURITY_SCHEME, Api, install_authenticator
    from service.http.fields import UUIDConverter
    from service.http.limits import limiter
    from service.instruments import api as instruments_api
    from service.notifications import api as notifications_api
    from service.ops import api as ops_api
    from service.ops import logging as json_logging
    from service.staff import api as staff_api
    from service.staff import pages as staff_pages
    from service.staff.policy import CLINIC_SCOPES, PLATFORM_SCOPE
    from service.therapy_sessions import api as sessions_api
    from service.web import clinician as clinician_pages
    from service.web import pages as web_pages

    settings = settings or Settings.from_env()
    json_logging.configure(settings.log_level)
    app = Flask(__name__)
    app.url_map.converters["uuid"] = UUIDConverter
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        API_TITLE="Alliance",
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        RATELIMIT_ENABLED=settings.ratelimit_enabled,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
    )
    database = Database(
        settings.database_url,
        system_url=settings.system_database_url,
        pool_size=settings.db_pool_size,
        refuse_unsafe_app_role=settings.is_production,
    )
    uow.init(database)
    crypto.configure(settings.data_keys, settings.key_encryption_keys)
    install_authenticator(app, BearerAuthenticator(settings.token_issuer))
    pipeline.install(app, clinics_service.frontend_origins)
    limiter.init_app(app)
    lockout.configure(settings.ratelimit_storage_uri)
    # The partner pages' words: the catalogs of service.core.i18n, in the language they choose.
    Babel(
        app,
        default_locale=i18n.DEFAULT,
        default_translation_directories=str(i18n.TRANSLATIONS),
        locale_selector=web_pages.locale,
    )

    api = Api(
        app,
        spec_kwargs={"info": {"description": "REST API for clinic frontends and EHR integrators."}},
    )
    api.register_converter(UUIDConverter, lambda _c: {"type": "string", "format": "uuid"})
    scopes = {scope: scope for scope in (*CLINIC_SCOPES, PLATFORM_SCOPE)}
    api.spec.components.security_scheme(
        SECURITY_SCHEME,
        {
            "type": "oauth2",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": "/oauth/authorize",
                    "tokenUrl": "/oauth/token",
                    "refreshUrl": "/oauth/token",
                    "scopes": scopes,
                },
                "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": scopes},
            },
        },
    )
    # Explicit and ordered: the API's resources, then the plain Flask pages.
    resources = (
        clinics_api.blp,
        clinics_api.platform_blp,
        staff_api.blp,
        staff_api.directory_blp,
        clients_api.blp,
        audit_api.blp,
        couples_api.blp,
        couples_api.partners_blp,
        sessions_api.blp,
        instruments_api.blp,
        feedback_api.blp,
        alerts_api.blp,
        alerts_api.policy_blp,
        notifications_api.blp,
        notifications_api.events_blp,
        notifications_api.outbox_blp,
    )
    for blueprint in resources:
        api.register_blueprint(blueprint)
    pages = (
        ops_api.blp,
        auth_api.blp,
        fhir_api.blp,
        staff_pages.blp,
        web_pages.blp,
        clinician_pages.blp,
    )
    for blueprint in pages:
        app.register_blueprint(blueprint)
    return app
