"""Staff use-cases."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from service.clinics.models import Clinic
from service.core import context
from service.db import uow
from service.staff.models import StaffMember


def candidates_for_login(email: str, clinic_slug: str | None) -> list[tuple[StaffMember, Clinic]]:
    """Active accounts with this email (one per clinic), narrowed to a clinic when given.

    Login happens before the clinic is known, so this looks across clinics (system context).
    """
    with context.system_context("login lookup"), uow.unit_of_work() as session:
        stmt = (
            sa.select(StaffMember, Clinic)
            .join(Clinic, Clinic.id == StaffMember.clinic_id)
            .where(
                sa.func.lower(StaffMember.email) == email.strip().lower(),
                StaffMember.active.is_(True),
            )
        )
        if clinic_slug:
            stmt = stmt.where(Clinic.slug == clinic_slug)
        return [(member, clinic) for member, clinic in session.execute(stmt)]


def get_active(staff_id: uuid.UUID) -> StaffMember | None:
    """The staff member if still active, in the current (tenant-scoped) session."""
    member = uow.session().get(StaffMember, staff_id)
    return member if member is not None and member.active else None


def assignable_therapist(staff_id: uuid.UUID) -> StaffMember | None:
    """An active therapist of the current clinic, who can be given couples and sessions."""
    member = uow.session().get(StaffMember, staff_id)
    if member is None or not member.active or member.role != "therapist":
        return None
    return member
