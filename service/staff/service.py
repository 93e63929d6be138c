"""Staff use-cases: the clinic's staff and their profiles, invites and the set-password flow,
deactivation, onboarding a clinic with its first admin (platform), the public directory."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from service.audit import service as audit
from service.clinics import service as clinics
from service.clinics.models import Clinic
from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from service.core.ids import digest, new_secret
from service.core.paging import Page, PageRequest
from service.core.passwords import hash_secret
from service.db import uow
from service.db.keyset import keyset_page
from service.settings import Settings
from service.staff.models import StaffMember

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
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 copes with more; a bound keeps one request cheap
_SLUG = re.compile(r"[a-z0-9-]{1,63}")


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


# -- results that carry a one-time link next to the resource ---------------------------------


# Emails an invitation; staff sits below notifications, so the API passes the sender in.
InvitationSender = Callable[..., object]


@dataclass(frozen=True)
class Invited:
    """A staff member and the one-time link that lets them set a password. The link exists
    only in this response (and the invite email); the database keeps its digest."""

    member: StaffMember
    invite_url: str

    def __getattr__(self, name: str) -> Any:  # the response shows the member's fields too
        return getattr(self.member, name)


@dataclass(frozen=True)
class Onboarded:
    """A new clinic, its first admin and that admin's one-time set-password link."""

    clinic: Clinic
    admin: StaffMember
    admin_invite_url: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.clinic, name)


# -- the clinic's staff ------------------------------------------------------------------------


def list_staff(
    page: PageRequest,
    *,
    role: str | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> Page[StaffMember]:
    """The caller's clinic's staff (the tenant guard scopes the query). One audit event per
    member shown, so "who saw this person's record" has an answer."""
    stmt = sa.select(StaffMember)
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
    result = keyset_page(stmt, StaffMember, page)
    audit.record_many("read", "staff", [member.id for member in result.items])
    return result


def get(staff_id: uuid.UUID) -> StaffMember:
    member = _get(staff_id)
    audit.record("read", "staff", member.id)
    return member


def invite(data: dict[str, Any], settings: Settings, send_invitation: InvitationSender) -> Invited:
    """Add a staff member to the caller's clinic with a one-time set-password link, emailed
    by `send_invitation` in the same transaction."""
    _ensure_email_free(data["email"])
    member = StaffMember(**data)
    invite_url = _issue_invite(member, settings)
    uow.session().add(member)
    _flush_unique_email()
    audit.record("create", "staff", member.id)
    send_invitation(member, clinic_name=clinics.name(), url=invite_url)
    return Invited(member, invite_url)


def reissue_invite(
    staff_id: uuid.UUID, settings: Settings, send_invitation: InvitationSender
) -> Invited:
    """A fresh link (the previous one stops working), e.g. when the first one expired."""
    member = _get(staff_id)
    if not member.active:
        raise Conflict("Reactivate this staff member before inviting them again.")
    invite_url = _issue_invite(member, settings)
    uow.session().flush()
    audit.record("invite", "staff", member.id)
    send_invitation(member, clinic_name=clinics.name(), url=invite_url)
    return Invited(member, invite_url)


def update(staff_id: uuid.UUID, changes: dict[str, Any], check_version: Any) -> StaffMember:
    """Admins change anything; anyone else only their own profile fields."""
    member = _get(staff_id)
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
    check_version(member.version)
    if "email" in changes and changes["email"] != member.email.lower():
        _ensure_email_free(changes["email"])
    if changes.get("active") is False and member.active:
        _deactivate(member)
    if "role" in changes and changes["role"] != member.role:
        # Access tokens carry the role: the old one must not outlive the change.
        member.tokens_valid_after = utcnow()
    for name, value in changes.items():
        setattr(member, name, value)
    _flush_unique_email()
    audit.record("update", "staff", member.id)
    return member


def deactivate(staff_id: uuid.UUID) -> StaffMember:
    """No more sign-in, and every token already issued to them is refused from now on."""
    member = _get(staff_id)
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
    member = _get(staff_id)
    if not member.active:
        member.active = True
        uow.session().flush()
    audit.record("reactivate", "staff", member.id)
    return member


# -- invites and the set-password page ---------------------------------------------------------


def open_invite(token: str) -> tuple[StaffMember, Clinic]:
    """The invitee and their clinic for a set-password link; 404 unknown or used, 410 expired.

    The link is the credential and comes before any clinic is known: found across clinics
    (system context), by the digest of the token.
    """
    with context.system_context("invite link"):
        return _invite(token)


def accept_invite(token: str, password: str, confirm: str) -> StaffMember:
    """Set the password from an invite link. The link works once."""
    problems: dict[str, list[str]] = {}
    if len(password) < MIN_PASSWORD_LENGTH:
        problems["password"] = [f"Use at least {MIN_PASSWORD_LENGTH} characters."]
    elif len(password) > MAX_PASSWORD_LENGTH:
        problems["password"] = [f"Use at most {MAX_PASSWORD_LENGTH} characters."]
    elif password != confirm:
        problems["confirm"] = ["The two passwords do not match."]
    with context.system_context("invite acceptance"):
        member, _clinic = _invite(token, lock=True)
        if problems:
            raise Invalid("Please choose the password again.", errors=problems)
        member.password_hash = hash_secret(password)
        member.invite_token_hash = None
        member.invite_expires_at = None
        member.tokens_valid_after = utcnow()
        invitee = context.Actor(
            kind="staff",
            subject=str(member.id),
            clinic_id=member.clinic_id,
            roles=frozenset({member.role}),
        )
        with context.tenant_context(member.clinic_id, actor=invitee):
            audit.record("set_password", "staff", member.id)
            uow.session().flush()
    return member


def _invite(token: str, *, lock: bool = False) -> tuple[StaffMember, Clinic]:
    if not 20 <= len(token) <= 100:
        raise NotFound("This link is not valid. It may have been used already.")
    stmt = (
        sa.select(StaffMember, Clinic)
        .join(Clinic, Clinic.id == StaffMember.clinic_id)
        .where(StaffMember.invite_token_hash == digest(token))
    )
    if lock:
        stmt = stmt.with_for_update(of=StaffMember)
    row = uow.session().execute(stmt).first()
    if row is None or not row[0].active:
        raise NotFound("This link is not valid. It may have been used already.")
    member, clinic = row
    if member.invite_expires_at is None or member.invite_expires_at <= utcnow():
        raise Gone("This link has expired. Ask your clinic's admin for a new one.")
    return member, clinic


def _issue_invite(member: StaffMember, settings: Settings) -> str:
    token = new_secret()
    member.invite_token_hash = digest(token)
    member.invite_expires_at = utcnow() + timedelta(seconds=settings.invite_ttl)
    return f"{settings.base_url.rstrip('/')}/invite/{token}"


# -- platform: a new clinic with its first admin -----------------------------------------------


def onboard_clinic(
    data: dict[str, Any], settings: Settings, send_invitation: InvitationSender
) -> Onboarded:
    """Create a clinic and its first admin (with a set-password link), for the platform.

    The platform has no clinic of its own, so it works through the audited bypass, in a
    transaction of its own: the request's transaction began, scoped to no clinic, when the
    token was checked. The events are recorded in the new clinic, where its admins see them.
    """
    fields = dict(data)
    admin_email, admin_name = fields.pop("admin_email"), fields.pop("admin_name")
    with context.system_context("platform: onboard clinic"), uow.unit_of_work() as session:
        clinic = clinics.create(fields)
        admin = StaffMember(
            clinic_id=clinic.id, email=admin_email, role="admin", display_name=admin_name
        )
        invite_url = _issue_invite(admin, settings)
        session.add(admin)
        session.flush()
        audit.record("create", "clinic", clinic.id, clinic_id=clinic.id)
        audit.record("create", "staff", admin.id, clinic_id=clinic.id)
        send_invitation(admin, clinic_name=clinic.name, url=invite_url)
    return Onboarded(clinic, admin, invite_url)


# -- the public directory ----------------------------------------------------------------------


def public_directory(
    slug: str,
    page: PageRequest,
    *,
    approach: str | None = None,
    language: str | None = None,
    accepting_new: bool | None = None,
) -> Page[StaffMember]:
    """A clinic's listed, active therapists, for anyone (no token). Callers show only the
    public profile fields. Not audited: the data is public by the therapist's choice, and an
    anonymous caller must not be able to grow the audit trail at will."""
    clinic_id = _clinic_id_for_slug(slug)
    with context.tenant_context(clinic_id), uow.unit_of_work():
        stmt = sa.select(StaffMember).where(
            StaffMember.role == "therapist",
            StaffMember.active.is_(True),
            StaffMember.listed_publicly.is_(True),
        )
        if accepting_new is not None:
            stmt = stmt.where(StaffMember.accepting_new.is_(accepting_new))
        if approach:
            wanted = approach.lower()
            stmt = stmt.where(_any_element(StaffMember.approaches, lambda v: v == wanted))
        if language:
            tag = language.lower()
            stmt = stmt.where(
                _any_element(
                    StaffMember.languages,
                    lambda v: sa.or_(v == tag, v.startswith(tag + "-", autoescape=True)),
                )
            )
        return keyset_page(stmt, StaffMember, page)


def _clinic_id_for_slug(slug: str) -> uuid.UUID:
    clinic_id = None
    if _SLUG.fullmatch(slug):
        with context.system_context("public directory: clinic by slug"), uow.unit_of_work():
            clinic = clinics.by_slug(slug)
            clinic_id = clinic.id if clinic is not None else None
    if clinic_id is None:
        raise NotFound("No clinic has this address.")
    return clinic_id


def _any_element(column: Any, predicate: Any) -> sa.ColumnElement[bool]:
    """`EXISTS` an element of a JSON array column whose lower-cased text matches."""
    if uow.session().get_bind().dialect.name == "postgresql":
        elements = sa.func.json_array_elements_text(column).table_valued("value")
    else:
        elements = sa.func.json_each(column).table_valued("value")
    value = sa.func.lower(elements.c.value)
    return sa.select(1).select_from(elements).where(predicate(value)).exists()


# -- helpers -----------------------------------------------------------------------------------


def _get(staff_id: uuid.UUID) -> StaffMember:
    """A member of the caller's clinic (the tenant guard filters); another clinic's → 404."""
    member = uow.session().get(StaffMember, staff_id)
    if member is None:
        raise NotFound("Staff member not found.")
    return member


def _is_admin(caller: context.Actor | None) -> bool:
    return caller is not None and caller.has_role("admin") and "staff.write" in caller.scopes


def _deactivate(member: StaffMember) -> None:
    member.active = False
    member.tokens_valid_after = utcnow()
    member.invite_token_hash = None  # an unused invite must not bring the account back
    member.invite_expires_at = None


def _ensure_email_free(email: str) -> None:
    taken = sa.select(StaffMember.id).where(sa.func.lower(StaffMember.email) == email.lower())
    if uow.session().scalar(taken.limit(1)) is not None:
        raise Conflict(
            "A staff member with this email exists in the clinic.",
            errors={"email": ["Already used in this clinic."]},
        )


def _flush_unique_email() -> None:
    """Flush; a concurrent insert of the same email loses here rather than as a bare 409."""
    try:
        uow.session().flush()
    except IntegrityError as exc:
        raise Conflict(
            "A staff member with this email exists in the clinic.",
            errors={"email": ["Already used in this clinic."]},
        ) from exc


def assignable_therapist(staff_id: uuid.UUID) -> StaffMember | None:
    """An active therapist of the current clinic, who can be given couples and sessions."""
    member = uow.session().get(StaffMember, staff_id)
    if member is None or not member.active or member.role != "therapist":
        return None
    return member


def public_name(staff_id: uuid.UUID) -> str:
    """A staff member's display name, which partners and the directory may see."""
    member = uow.session().get(StaffMember, staff_id)
    return member.display_name if member is not None else ""
