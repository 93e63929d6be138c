"""Typed settings read from the environment. Refuses default secrets outside development."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

from service.core import crypto, metrics_gate

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me"  # noqa: S105 - refused outside development
DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'var' / 'alliance.db'}"


class SettingsError(RuntimeError):
    pass


def _env_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    env: str = "development"  # development | test | production
    secret_key: str = DEV_SECRET
    # Fernet keys (service.core.crypto); a key is rotated by making the current one old.
    # The data key seals what queued emails say; the key-encryption key seals signing keys
    # and webhook secrets. Outside development and tests both must be set.
    data_key: str = ""
    data_old_keys: tuple[str, ...] = ()
    key_encryption_key: str = ""
    key_encryption_old_keys: tuple[str, ...] = ()
    database_url: str = DEFAULT_DATABASE_URL
    # The owner role runs migrations; the app role (no ownership, no BYPASSRLS) serves requests.
    migration_database_url: str = ""
    # The system role: the audited system context (login lookups, platform work, the worker's
    # claims) connects as it, and row-level security gives it every clinic's rows. Empty: the
    # app's URL (SQLite, which has no row-level security). Required in production.
    system_database_url: str = ""
    base_url: str = "http://127.0.0.1:8000"
    # Reverse proxies in front of the app (TLS terminator, ingress): trust that many
    # X-Forwarded-For/-Proto/-Host hops, so OAuth sees https and rate limits see clients.
    proxy_hops: int = 0
    issuer: str = ""
    access_token_ttl: int = 900
    refresh_idle_ttl: int = 1800
    refresh_absolute_ttl: int = 12 * 3600
    # The clinician pages' sign-in: ends after this long without a request, or at most this.
    web_session_idle_ttl: int = 15 * 60
    web_session_absolute_ttl: int = 12 * 3600
    authorization_code_ttl: int = 300
    client_assertion_max_ttl: int = 300
    invite_ttl: int = 7 * 24 * 3600
    max_content_length: int = 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    ratelimit_storage_uri: str = "memory://"
    ratelimit_enabled: bool = True
    login_rate_limit: str = "10 per minute"
    token_rate_limit: str = "60 per minute"  # noqa: S105 - not a secret
    directory_rate_limit: str = "60 per minute"
    feedback_form_rate_limit: str = "30 per minute"
    docs_client_id: str = "alliance-docs"
    # Email (DESIGN §9). No SMTP host: each message is written as an .eml file to mail_dir,
    # where a person running `make run` can open it.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_ssl: bool = False  # implicit TLS (port 465)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "Alliance <no-reply@alliance.localhost>"
    smtp_timeout: int = 10
    mail_dir: str = str(ROOT / "var" / "mail")
    # Where an alert email links to; "{alert_id}" is replaced. Empty: the clinician pages'
    # alert page, {base_url}/app/alerts/{alert_id}.
    alert_url_template: str = ""
    # Where a staff member changes how alert emails reach them (List-Unsubscribe of digests).
    email_preferences_url: str = ""
    # Unacknowledged critical alerts are emailed to supervisors after this many hours.
    alert_escalation_hours: int = 24
    log_level: str = "INFO"
    worker_batch: int = 20
    worker_lease_seconds: int = 120  # a killed worker's messages are retried after this
    worker_idle_seconds: float = 1.0
    # The worker touches this file after every turn of its loop; `python -m service.worker
    # --alive` (the liveness probe) fails when it is older than worker_alive_seconds.
    worker_heartbeat_file: str = str(Path(tempfile.gettempdir()) / "alliance-worker.alive")
    worker_alive_seconds: int = 300  # above the longest step: a large clinic's FHIR export
    # The worker's own /metrics (deliveries, failures) on this port, behind the same
    # restriction as the API's; 0 serves none.
    worker_metrics_port: int = 0
    # Who may read /metrics: a bearer token and/or client networks (CIDR list; the client is
    # the address ALLIANCE_PROXY_HOPS trusts). With neither, /metrics is open in development
    # and tests and refused (403) everywhere else.
    metrics_token: str = ""
    metrics_allow: tuple[str, ...] = ()
    db_pool_size: int = 5
    # PostgreSQL ends a statement running longer than this, and a transaction left idle this
    # long, so neither holds a connection and its locks while requests queue behind it.
    # The bulk export's statements have their own, longer limit. 0 turns a limit off.
    db_statement_timeout_ms: int = 10_000
    db_idle_in_transaction_timeout_ms: int = 60_000
    db_connect_timeout: int = 5  # seconds: /readyz answers soon when the database is away
    # SQLite (`make run`): how long a writer waits for another's lock.
    sqlite_busy_timeout_ms: int = 15_000
    # Webhook targets on private, loopback or link-local networks (and plain http to them)
    # are refused unless the operator allows them (local development, tests).
    webhook_allow_private: bool = False
    # FHIR Bulk Data export: NDJSON files are written here by the worker and served by the API
    # (a shared volume when they run apart), and deleted this many hours after the export.
    export_dir: str = str(ROOT / "var" / "exports")
    export_retention_hours: int = 24
    export_batch_size: int = 1000  # rows per server-side cursor fetch
    export_statement_timeout_ms: int = 30 * 60 * 1000  # in place of db_statement_timeout_ms

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_relaxed(self) -> bool:
        """Development and tests: defaults stand in for secrets, /metrics is open."""
        return self.env in ("development", "test")

    @property
    def token_issuer(self) -> str:
        return self.issuer or self.base_url

    @property
    def data_keys(self) -> tuple[str, ...]:
        return (self.data_key or crypto.dev_key("data"), *self.data_old_keys)

    @property
    def key_encryption_keys(self) -> tuple[str, ...]:
        current = self.key_encryption_key or crypto.dev_key("key-encryption")
        return (current, *self.key_encryption_old_keys)

    @property
    def owner_database_url(self) -> str:
        return self.migration_database_url or self.database_url

    def alert_url(self, alert_id: object) -> str:
        template = self.alert_url_template or f"{self.base_url.rstrip('/')}/app/alerts/{{alert_id}}"
        return template.replace("{alert_id}", str(alert_id))

    @property
    def preferences_url(self) -> str:
        return self.email_preferences_url or f"{self.base_url.rstrip('/')}/account/notifications"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f"ALLIANCE_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.type, raw)
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        relaxed = self.is_relaxed
        if not relaxed and self.secret_key == DEV_SECRET:
            raise SettingsError("ALLIANCE_SECRET_KEY must be set outside development")
        if self.is_production and self.database_url.startswith("sqlite"):
            raise SettingsError("production needs PostgreSQL (ALLIANCE_DATABASE_URL)")
        try:
            metrics_gate.networks(self.metrics_allow)
        except ValueError as exc:
            raise SettingsError(f"ALLIANCE_METRICS_ALLOW: {exc}") from exc
        if self.is_production and not self.system_database_url:
            raise SettingsError(
                "production needs ALLIANCE_SYSTEM_DATABASE_URL (the system role's connection)"
            )
        self._check_keys("data", self.data_key, self.data_old_keys, relaxed)
        self._check_keys(
            "key_encryption", self.key_encryption_key, self.key_encryption_old_keys, relaxed
        )

    @staticmethod
    def _check_keys(name: str, current: str, old: tuple[str, ...], relaxed: bool) -> None:
        variable = f"ALLIANCE_{name.upper()}_KEY"
        if not current and not relaxed:
            raise SettingsError(f"{variable} must be set outside development")
        if current and not crypto.is_valid_key(current):
            raise SettingsError(f"{variable} is not a Fernet key (32 url-safe base64 bytes)")
        if not all(crypto.is_valid_key(key) for key in old):
            raise SettingsError(f"ALLIANCE_{name.upper()}_OLD_KEYS holds a non-Fernet key")


def _coerce(type_name: object, raw: str) -> object:
    text = str(type_name)
    if text == "int":
        return int(raw)
    if text == "float":
        return float(raw)
    if text == "bool":
        return _env_bool(raw)
    if text.startswith("tuple"):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw
