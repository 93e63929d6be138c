from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.core import crypto
from service.db.base import Base, ClinicOwned, Versioned
from service.db.sealed import Sealed


class StaffMember(ClinicOwned, Versioned, Base):
    __tablename__ = "staff_members"
    __table_args__ = ClinicOwned.tenant_table_args(
        sa.UniqueConstraint("clinic_id", "email"),
        sa.UniqueConstraint("invite_token_hash", "clinic_id"),
        sa.CheckConstraint("role IN ('admin', 'supervisor', 'therapist')", name="role"),
        sa.CheckConstraint("alert_emails IN ('immediate', 'hourly', 'daily')", name="alert_emails"),
    )

    email: Mapped[str] = mapped_column(sa.String(254))
    role: Mapped[str] = mapped_column(sa.String(16))
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    # Tokens issued before this instant are refused (deactivation, password change).
    tokens_valid_after: Mapped[datetime | None]
    invite_token_hash: Mapped[str | None] = mapped_column(sa.String(64))
    invite_expires_at: Mapped[datetime | None]
    # TOTP second factor (RFC 6238, `service.staff.totp`): the shared secret, sealed under the
    # key-encryption key; set but unconfirmed while enrolling, on once confirmed. The last
    # time step a code was accepted for refuses that code (and older ones) a second time.
    totp_secret: Mapped[str | None] = mapped_column(Sealed(crypto.KEYS), deferred=True)
    totp_confirmed_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    # Profile; the public directory shows only display name, pronouns, bio, approaches,
    # languages and accepting_new, and only for therapists who chose to be listed.
    display_name: Mapped[str] = mapped_column(sa.String(120))
    pronouns: Mapped[str | None] = mapped_column(sa.String(40))
    bio: Mapped[str | None] = mapped_column(sa.String(2000))
    approaches: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    accepting_new: Mapped[bool] = mapped_column(default=False)
    listed_publicly: Mapped[bool] = mapped_column(default=False)
    # How alert emails reach this person: each at once, or an hourly or daily digest.
    alert_emails: Mapped[str] = mapped_column(
        sa.String(16), default="immediate", server_default="immediate"
    )

    @property
    def totp_enabled(self) -> bool:
        """Signing in asks for a code from their authenticator app."""
        return self.totp_confirmed_at is not None

    @property
    def invite_pending(self) -> bool:
        """An invite link was issued and not used yet (it may have expired)."""
        return self.invite_token_hash is not None
