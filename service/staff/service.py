"""Staff use-cases: the clinic's staff and their profiles, invitations, deactivation, and the
look-ups other features need (login candidates, assignable therapists, alert recipients).

Invitations (the one-time set-password link and its email) are in `invites`, the public
directory in `directory`.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Forbidden
from service.core.paging import Page, PageRequest
from service.db import audit, uow
from service.db.lookup import Lookup
from service.staff.models import StaffMember
from service.staff.policy import sign_out_everywhere

STAFF = Lookup(StaffMember, "staff", "Staff member not found.")
# What a staff member may change about themselves; everything else is an admin's decision.
PROFILE_FIELDS = frozenset(
    {
        "display_name",
        "pronouns",
        "bio",
        "approaches",
        "languages",
        "accepting_new",
        "listed_publicly",
        "alert_emails",
    }
)


def list_staff(
    page: PageRequest,
    *,
    role: str | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> Page[StaffMember]:
    """The caller's clinic's staff. Every member shown is audited, so "who saw this person's
    record" has an answer."""
    stmt = STAFF.query()
    if role is not None:
        stmt = stmt.where(StaffMember.role == role)
    if active is not None:
        stmt = stmt.where(StaffMember.active.is_(active))
    if q:
        needle = q.lower()
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(StaffMember.display_name).contains(needle, autoescape=True),
                sa.func.lower(StaffMember.email).contains(needle, autoescape=True),
            )
        )
    return STAFF.page(stmt, page)


def get(staff_id: uuid.UUID) -> StaffMember:
    return STAFF.get(staff_id)


def add(member: StaffMember) -> StaffMember:
    """A new member of the caller's clinic (an invitation makes them able to sign in)."""
    ensure_email_free(member.email)
    uow.session().add(member)
    flush_unique_email()
    audit.record("create", "staff", member.id)
    return member


def update(staff_id: uuid.UUID, changes: dict[str, Any], check_version: Any) -> StaffMember:
    """Admins change anything; anyone else only their own profile fields."""
    member = STAFF.get(staff_id, audited=False)
    _check_may_change(member, changes)
    check_version(member.version)
    if "email" in changes and changes["email"] != member.email.lower():
        ensure_email_free(changes["email"])
    if changes.get("active") is False and member.active:
        _deactivate(member)
    if "role" in changes and changes["role"] != member.role:
        # Access tokens carry the role: the old one must not outlive the change.
        member.tokens_valid_after = sign_out_everywhere(utcnow())
    for name, value in changes.items():
        setattr(member, name, value)
    flush_unique_email()
    audit.record("update", "staff", member.id)
    return member


def deactivate(staff_id: uuid.UUID) -> StaffMember:
    """No more sign-in, and every token already issued to them is refused from now on."""
    member = STAFF.get(staff_id, audited=False)
    caller = context.actor()
    if caller is not None and caller.staff_id == member.id:
        raise Conflict("You cannot deactivate yourself; ask another admin.")
    if member.active:
        _deactivate(member)
        uow.session().flush()
    audit.record("deactivate", "staff", member.id)
    return member


def reactivate(staff_id: uuid.UUID) -> StaffMember:
    """Sign-in works again; tokens issued before the deactivation stay refused."""
    member = STAFF.get(staff_id, audited=False)
    if not member.active:
        member.active = True
        uow.session().flush()
    audit.record("reactivate", "staff", member.id)
    return member


# -- for other features -----------------------------------------------------------------------


def candidates_for_login(email: str, clinic_id: uuid.UUID | None) -> list[StaffMember]:
    """Active accounts with this email (one per clinic), narrowed to a clinic when given.

    Login happens before the clinic is known, so this looks across clinics (system context).
    """
    with context.system_context("login lookup"), uow.unit_of_work() as session:
        stmt = sa.select(StaffMember).where(
            sa.func.lower(StaffMember.email) == email.strip().lower(),
            StaffMember.active.is_(True),
        )
        if clinic_id is not None:
            stmt = stmt.where(StaffMember.clinic_id == clinic_id)
        return list(session.scalars(stmt))


def member(staff_id: uuid.UUID) -> StaffMember | None:
    """A staff member of the current clinic (any state), unaudited: for use-cases' rules."""
    return uow.session().get(StaffMember, staff_id)


def get_active(staff_id: uuid.UUID) -> StaffMember | None:
    """The staff member if still active, in the current (tenant-scoped) session."""
    found = member(staff_id)
    return found if found is not None and found.active else None


def assignable_therapist(staff_id: uuid.UUID) -> StaffMember | None:
    """An active therapist of the current clinic, who can be given couples and sessions."""
    found = get_active(staff_id)
    return found if found is not None and found.role == "therapist" else None


def public_name(staff_id: uuid.UUID) -> str:
    """A staff member's display name, which partners and the directory may see."""
    found = member(staff_id)
    return found.display_name if found is not None else ""


def therapist_names() -> dict[uuid.UUID, str]:
    """Therapist id → display name for the current clinic (inactive ones too: their couples'
    alerts still name them), by name."""
    found = uow.session().execute(
        sa.select(StaffMember.id, StaffMember.display_name)
        .where(StaffMember.role == "therapist")
        .order_by(sa.func.lower(StaffMember.display_name), StaffMember.id)
    )
    return {staff_id: name for staff_id, name in found}


def active_supervisors(clinic_id: uuid.UUID) -> list[StaffMember]:
    """Who hears of safety concerns and escalations (also from the worker, across clinics)."""
    return list(
        uow.session().scalars(
            sa.select(StaffMember)
            .where(
                StaffMember.clinic_id == clinic_id,
                StaffMember.role == "supervisor",
                StaffMember.active.is_(True),
            )
            .order_by(StaffMember.id)
        )
    )


def digest_readers(preferences: tuple[str, ...]) -> list[StaffMember]:
    """Active staff who chose one of these alert email digests (the worker, across clinics)."""
    return list(
        uow.session().scalars(
            sa.select(StaffMember)
            .where(StaffMember.active.is_(True), StaffMember.alert_emails.in_(preferences))
            .order_by(StaffMember.clinic_id, StaffMember.id)
        )
    )


# -- helpers ----------------------------------------------------------------------------------


def _check_may_change(member: StaffMember, changes: dict[str, Any]) -> None:
    caller = context.actor()
    if _is_admin(caller):
        if member.id == caller.staff_id and (
            changes.get("active") is False or changes.get("role", "admin") != "admin"
        ):
            field = "active" if changes.get("active") is False else "role"
            raise Conflict(
                "You cannot deactivate or demote yourself; ask another admin.",
                errors={field: ["Not for your own account."]},
            )
    elif caller is None or caller.staff_id != member.id:
        raise Forbidden("Only an admin may change another staff member.")
    else:
        refused = sorted(set(changes) - PROFILE_FIELDS)
        if refused:
            raise Forbidden("You may change only your own profile, not: " + ", ".join(refused))


def _is_admin(caller: context.Actor | None) -> bool:
    return caller is not None and caller.has_role("admin") and "staff.write" in caller.scopes


def _deactivate(member: StaffMember) -> None:
    member.active = False
    member.tokens_valid_after = sign_out_everywhere(utcnow())
    member.invite_token_hash = None  # an unused invite must not bring the account back
    member.invite_expires_at = None


def ensure_email_free(email: str) -> None:
    taken = sa.select(StaffMember.id).where(sa.func.lower(StaffMember.email) == email.lower())
    if uow.session().scalar(taken.limit(1)) is not None:
        raise Conflict(
            "A staff member with this email exists in the clinic.",
            errors={"email": ["Already used in this clinic."]},
        )


def flush_unique_email() -> None:
    """Flush; a concurrent insert of the same email loses here rather than as a bare 409."""
    try:
        uow.session().flush()
    except IntegrityError as exc:
        raise Conflict(
            "A staff member with this email exists in the clinic.",
            errors={"email": ["Already used in this clinic."]},
        ) from exc


def active_query(staff_id: uuid.UUID | None) -> sa.Select[Any]:
    """One row, `(active, tokens_valid_after)`, for the staff member behind a token; callers
    may add columns (the token's own revocation)."""
    return sa.select(StaffMember.active, StaffMember.tokens_valid_after).where(
        StaffMember.id == staff_id
    )
