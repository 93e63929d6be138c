from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, ClinicOwned, Versioned


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
    def invite_pending(self) -> bool:
        """An invite link was issued and not used yet (it may have expired)."""
        return self.invite_token_hash is not None
