from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, Keyed, Versioned


class Clinic(Keyed, Versioned, Base):
    """The tenant itself. Row-level security shows a clinic only its own row."""

    __tablename__ = "clinics"

    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    locale: Mapped[str] = mapped_column(sa.String(16), default="en")
    # Origins of the clinic's own web frontends, allowed by CORS in addition to the deployment's.
    cors_origins: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    feedback_settings: Mapped[dict] = mapped_column(default=dict)
    email_policy: Mapped[dict] = mapped_column(default=dict)
    # Staff without a TOTP second factor enrol at their next sign-in, before any token.
    require_second_factor: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
