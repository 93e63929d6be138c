"""Authorization-server storage. Codes and refresh tokens are stored only as hashes.

`signing_keys`, `client_assertion_jtis` and `revoked_access_tokens` are reference tables
(looked up before the tenant is known); codes and refresh tokens belong to a staff member and
so to a clinic. The clients themselves are service.clients.models.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.core import crypto
from service.db.base import Base, ClinicOwned, Keyed, clinic_fk
from service.db.sealed import Sealed


class AuthorizationCode(ClinicOwned, Base):
    __tablename__ = "oauth_authorization_codes"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("staff_id", "staff_members", ondelete="CASCADE"),
        sa.UniqueConstraint("code_hash", "clinic_id"),
    )

    code_hash: Mapped[str] = mapped_column(sa.String(64))
    client_id: Mapped[str] = mapped_column(sa.String(64))
    staff_id: Mapped[uuid.UUID]
    redirect_uri: Mapped[str] = mapped_column(sa.String(500))
    scope: Mapped[str] = mapped_column(sa.String(1000))
    code_challenge: Mapped[str] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str] = mapped_column(sa.String(8))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class RefreshToken(ClinicOwned, Base):
    """One link of a rotation family. Presenting a rotated link again revokes the family."""

    __tablename__ = "oauth_refresh_tokens"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("staff_id", "staff_members", ondelete="CASCADE"),
        sa.UniqueConstraint("token_hash", "clinic_id"),
        sa.Index(None, "clinic_id", "family_id"),
        sa.Index(None, "clinic_id", "staff_id"),
    )

    token_hash: Mapped[str] = mapped_column(sa.String(64))
    family_id: Mapped[uuid.UUID]
    client_id: Mapped[str] = mapped_column(sa.String(64))
    staff_id: Mapped[uuid.UUID]
    scope: Mapped[str] = mapped_column(sa.String(1000))
    idle_expires_at: Mapped[datetime]
    absolute_expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SigningKey(Keyed, Base):
    __tablename__ = "oauth_signing_keys"

    kid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # Sealed with the key-encryption key: whoever reads the database cannot mint tokens.
    private_jwk: Mapped[dict] = mapped_column(Sealed(crypto.KEYS, as_json=True))
    public_jwk: Mapped[dict]
    # current → previous (still published, still verifies) → retired (gone from the JWKS)
    status: Mapped[str] = mapped_column(sa.String(16))


class ClientAssertionJti(Base):
    """`jti` values of private_key_jwt assertions already used, kept until they expire."""

    __tablename__ = "oauth_client_assertion_jtis"

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    expires_at: Mapped[datetime]


class RevokedAccessToken(Base):
    __tablename__ = "oauth_revoked_access_tokens"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[datetime]


class WebSession(ClinicOwned, Base):
    """A clinician signed in to the pages under /app/. The cookie holds the token; only its
    digest is stored. It ends at sign-out, after `idle` without a request, or at `absolute`."""

    __tablename__ = "web_sessions"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("staff_id", "staff_members", ondelete="CASCADE"),
        sa.UniqueConstraint("token_hash", "clinic_id"),
        sa.Index(None, "clinic_id", "staff_id"),
    )

    token_hash: Mapped[str] = mapped_column(sa.String(64))
    staff_id: Mapped[uuid.UUID]
    idle_expires_at: Mapped[datetime]
    absolute_expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
