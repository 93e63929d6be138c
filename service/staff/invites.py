"""Invitations: the one-time link with which a new staff member sets a password, its email,
and onboarding a clinic with its first admin (platform).

The link is 256-bit random and only its digest is stored. It comes before any clinic is known,
so it is found across clinics (the audited bypass); setting the password then runs as the
invitee, in their clinic.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from service.clinics import service as clinics
from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Gone, Invalid, NotFound
from service.core.ids import digest, route_of, routed_secret
from service.core.passwords import hash_secret
from service.db import audit, uow
from service.settings import Settings
from service.staff import service as staff
from service.staff.models import StaffMember

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 copes with more; a bound keeps one request cheap
ROLE_WORDS = {"admin": "an admin", "supervisor": "a supervisor", "therapist": "a therapist"}
UNUSABLE = "This link is not valid. It may have been used already."
# service.notifications.service.enqueue_email: staff sits below notifications in the feature
# order, so the caller passes the one way into the outbox in.
EmailSender = Callable[..., object]


@dataclass(frozen=True)
class Invited:
    """A staff member and the one-time link that lets them set a password. The link exists
    only in this result (and the invite email); the database keeps its digest."""

    resource: StaffMember
    invite_url: str


@dataclass(frozen=True)
class Onboarded:
    """A new clinic, its first admin and that admin's one-time set-password link."""

    resource: Any  # the clinic
    admin: StaffMember
    admin_invite_url: str


@dataclass(frozen=True)
class OpenInvite:
    member: StaffMember
    clinic_name: str

    @property
    def invitee(self) -> context.Actor:
        """Who acts once the link is accepted: the invitee, in their clinic."""
        return context.Actor(
            kind="staff",
            subject=str(self.member.id),
            clinic_id=self.member.clinic_id,
            roles=frozenset({self.member.role}),
        )


def invite(data: dict[str, Any], settings: Settings, send: EmailSender) -> Invited:
    """Add a staff member to the caller's clinic with a one-time set-password link, emailed
    in the same transaction."""
    member = StaffMember(**data, clinic_id=context.clinic_id())  # the link names it
    url = _issue(member, settings)
    staff.add(member)
    _send(member, url, clinics.name(), send)
    return Invited(member, url)


def reissue(staff_id: uuid.UUID, settings: Settings, send: EmailSender) -> Invited:
    """A fresh link (the previous one stops working), e.g. when the first one expired."""
    member = staff.STAFF.get(staff_id, audited=False)
    if not member.active:
        raise Conflict("Reactivate this staff member before inviting them again.")
    url = _issue(member, settings)
    uow.session().flush()
    audit.record("invite", "staff", member.id)
    _send(member, url, clinics.name(), send)
    return Invited(member, url)


def onboard_clinic(data: dict[str, Any], settings: Settings, send: EmailSender) -> Onboarded:
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
        url = _issue(admin, settings)
        session.add(admin)
        session.flush()
        audit.record("create", "clinic", clinic.id, clinic_id=clinic.id)
        audit.record("create", "staff", admin.id, clinic_id=clinic.id)
        _send(admin, url, clinic.name, send)
    return Onboarded(clinic, admin, url)


def open_invite(token: str) -> OpenInvite:
    """The invitee for a set-password link; 404 unknown or used, 410 expired. Looked up in the
    clinic the link names; a link issued before links named their clinic, across clinics."""
    clinic_id = route_of(token)
    scope = (
        context.tenant_context(clinic_id)
        if clinic_id is not None
        else context.system_context("invite link")
    )
    with scope, uow.unit_of_work():
        member = _invited(token)
        return OpenInvite(member, clinics.by_id(member.clinic_id).name)


def accept(token: str, password: str, confirm: str) -> StaffMember:
    """Set the password from an invite link, as the invitee (bound by the page). Works once."""
    problems = _password_problems(password, confirm)
    member = _invited(token, lock=True)
    if problems:
        raise Invalid("Please choose the password again.", errors=problems)
    member.password_hash = hash_secret(password)
    member.invite_token_hash = None
    member.invite_expires_at = None
    member.tokens_valid_after = utcnow()
    uow.session().flush()
    audit.record("set_password", "staff", member.id)
    return member


def _password_problems(password: str, confirm: str) -> dict[str, list[str]]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return {"password": [f"Use at least {MIN_PASSWORD_LENGTH} characters."]}
    if len(password) > MAX_PASSWORD_LENGTH:
        return {"password": [f"Use at most {MAX_PASSWORD_LENGTH} characters."]}
    if password != confirm:
        return {"confirm": ["The two passwords do not match."]}
    return {}


def _invited(token: str, *, lock: bool = False) -> StaffMember:
    if not 20 <= len(token) <= 100:
        raise NotFound(UNUSABLE)
    stmt = sa.select(StaffMember).where(StaffMember.invite_token_hash == digest(token))
    if lock:
        stmt = stmt.with_for_update()
    member = uow.session().scalar(stmt)
    if member is None or not member.active:
        raise NotFound(UNUSABLE)
    if member.invite_expires_at is None or member.invite_expires_at <= utcnow():
        raise Gone("This link has expired. Ask your clinic's admin for a new one.")
    return member


def _issue(member: StaffMember, settings: Settings) -> str:
    """A new link for the member (the previous one stops working); its URL."""
    token = routed_secret(member.clinic_id)
    member.invite_token_hash = digest(token)
    member.invite_expires_at = utcnow() + timedelta(seconds=settings.invite_ttl)
    return f"{settings.base_url.rstrip('/')}/invite/{token}"


def _send(member: StaffMember, url: str, clinic_name: str, send: EmailSender) -> None:
    """The invitation email, in the transaction that issued the link."""
    send(
        clinic_id=member.clinic_id,
        topic="staff.invitation",
        to=member.email,
        template="staff_invitation",
        values={
            "display_name": member.display_name,
            "role": ROLE_WORDS.get(member.role, member.role),
            "clinic_name": clinic_name,
            "url": url,
            "expires": member.invite_expires_at.strftime("%-d %B %Y, %H:%M UTC"),
        },
        meta={"staff_id": str(member.id)},
    )
