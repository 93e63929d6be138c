"""OAuth clients: integrators of a clinic, first-party frontends and platform operators."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, Keyed


class OAuthClient(Keyed, Base):
    """A reference table (looked up before the tenant is known). Secrets are stored only as
    argon2 hashes."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # Integrator clients belong to one clinic; platform and first-party frontend clients to none.
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("clinics.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[str] = mapped_column(sa.String(16))  # frontend | integrator | platform
    token_endpoint_auth_method: Mapped[str] = mapped_column(sa.String(32))
    secret_hash: Mapped[str | None] = mapped_column(sa.String(200))
    jwks: Mapped[dict | None]
    jwks_uri: Mapped[str | None] = mapped_column(sa.String(500))
    redirect_uris: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    revoked_at: Mapped[datetime | None]
