from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db.base import Base, ClinicOwned, Versioned, clinic_fk
from service.staff.models import StaffMember


class Couple(ClinicOwned, Versioned, Base):
    __tablename__ = "couples"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("therapist_id", "staff_members"),
        sa.Index(None, "clinic_id", "therapist_id", "created_at"),
        sa.Index(None, "clinic_id", "created_at", "id"),
        sa.CheckConstraint("status IN ('intake', 'active', 'paused', 'closed')", name="status"),
    )

    label: Mapped[str] = mapped_column(sa.String(120))
    therapist_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(sa.String(16), default="intake")
    shared_goals: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    archived_at: Mapped[datetime | None]

    partners: Mapped[list[Partner]] = relationship(
        order_by="Partner.position",
        back_populates="couple",
        lazy="raise",
        primaryjoin="and_(Couple.clinic_id == foreign(Partner.clinic_id), "
        "Couple.id == foreign(Partner.couple_id))",
    )
    therapist: Mapped[StaffMember] = relationship(
        lazy="raise",
        primaryjoin="and_(Couple.clinic_id == foreign(StaffMember.clinic_id), "
        "Couple.therapist_id == foreign(StaffMember.id))",
        viewonly=True,
    )


class Partner(ClinicOwned, Versioned, Base):
    """One of the two people in a couple. Every field but the id and scores is PHI."""

    __tablename__ = "partners"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("couple_id", "couples"),
        sa.UniqueConstraint("clinic_id", "couple_id", "position"),
        sa.CheckConstraint("position IN (1, 2)", name="position"),
        sa.CheckConstraint("feedback_channel IN ('email', 'in_clinic', 'none')", name="channel"),
    )

    couple_id: Mapped[uuid.UUID]
    position: Mapped[int]
    display_name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    pronouns: Mapped[str | None] = mapped_column(sa.String(40))
    personal_goals: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    feedback_channel: Mapped[str] = mapped_column(sa.String(16), default="email")
    erased_at: Mapped[datetime | None]

    couple: Mapped[Couple] = relationship(
        back_populates="partners",
        lazy="raise",
        primaryjoin="and_(Couple.clinic_id == foreign(Partner.clinic_id), "
        "Couple.id == foreign(Partner.couple_id))",
    )
    identifiers: Mapped[list[PartnerIdentifier]] = relationship(
        order_by="PartnerIdentifier.system",
        lazy="raise",
        cascade="all, delete-orphan",
        primaryjoin="and_(Partner.clinic_id == foreign(PartnerIdentifier.clinic_id), "
        "Partner.id == foreign(PartnerIdentifier.partner_id))",
    )


class PartnerIdentifier(ClinicOwned, Base):
    """An external id (an EHR's MRN, say): unique per system within a clinic."""

    __tablename__ = "partner_identifiers"
    __table_args__ = ClinicOwned.tenant_table_args(
        clinic_fk("partner_id", "partners", ondelete="CASCADE"),
        sa.UniqueConstraint("clinic_id", "system", "value"),
        sa.Index(None, "clinic_id", "partner_id"),
    )

    partner_id: Mapped[uuid.UUID]
    system: Mapped[str] = mapped_column(sa.String(200))
    value: Mapped[str] = mapped_column(sa.String(200))
