"""Staff sign-in for the authorization endpoint's login page."""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass

from service.auth import lockout
from service.clinics import service as clinics
from service.core import context
from service.core.errors import Invalid, NotFound
from service.core.passwords import verify_secret
from service.core.text import plain_text
from service.db import audit, uow
from service.staff import service as staff

MAX_EMAIL = 254
MAX_PASSWORD = 1024
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class StaffUser:
    """The resource owner after a successful login (authlib's `grant_user`)."""

    staff_id: uuid.UUID
    clinic_id: uuid.UUID
    role: str

    def get_user_id(self) -> str:
        return str(self.staff_id)


@dataclass(frozen=True)
class LoginOutcome:
    user: StaffUser | None = None
    needs_clinic: bool = False  # the email matches accounts at several clinics
    locked_for: int = 0  # seconds until this email may try again (too many failures)


def authenticate_staff(email: str, password: str, clinic_slug: str | None) -> LoginOutcome:
    """Check a login, unless the email is locked out by earlier failures (then the password
    is not even checked). Unknown email and wrong password cost the same, look the same and
    count the same towards the lockout; an email held at several clinics (with the right
    password) asks for the clinic. Every failure is audited (`_audit_failure`)."""
    email = (email or "").strip()
    clinic_slug = (clinic_slug or "").strip().lower() or None
    well_formed = (
        plain_text(email, MAX_EMAIL)
        and 0 < len(password or "") <= MAX_PASSWORD
        and (clinic_slug is None or bool(SLUG.match(clinic_slug)))
    )
    candidates = _candidates(email, clinic_slug) if well_formed else []
    wait = lockout.locked_for(email)
    if wait:
        _audit_failure(candidates, clinic_slug, "locked")
        return LoginOutcome(locked_for=wait)
    outcome = _check(candidates, password)
    if outcome.user is None and not outcome.needs_clinic:
        lockout.failed(email)
        reason = "wrong_password" if candidates else "unknown_email"
        _audit_failure(candidates, clinic_slug, reason if well_formed else "malformed")
    else:
        lockout.succeeded(email)
    return outcome


def _check(candidates: list, password: str) -> LoginOutcome:
    if not candidates:
        verify_secret(None, password or "")  # as slow as a real check
        return LoginOutcome()
    matching = [member for member in candidates if verify_secret(member.password_hash, password)]
    if not matching:
        return LoginOutcome()
    if len(candidates) > 1:
        return LoginOutcome(needs_clinic=True)
    return LoginOutcome(user=_user(matching[0]))


def _audit_failure(candidates: list, clinic_slug: str | None, reason: str) -> None:
    """A failed sign-in, in the trail of each clinic it concerns: the accounts' the email
    names, else the clinic the form was for. The event names the account, never the email or
    password typed (a password typed into the email field stays unwritten). With neither an
    account nor a clinic there is no clinic's trail to file it in."""
    places = [(member.clinic_id, member.id) for member in candidates]
    if not places and clinic_slug:
        with contextlib.suppress(NotFound):
            places = [(clinics.public_id(clinic_slug), None)]
    for clinic_id, staff_id in places:
        with context.tenant_context(clinic_id), uow.unit_of_work():
            audit.record("login_failed", "staff", staff_id, reason=reason)


def account(email: str, clinic_slug: str | None) -> StaffUser:
    """The active account an email names (at this clinic when given), with no password: for
    development tools (`flask dev-token`), never for signing in."""
    email, slug = email.strip(), (clinic_slug or "").strip().lower() or None
    if not plain_text(email, MAX_EMAIL):
        raise Invalid("That is not an email address.")
    candidates = _candidates(email, slug)
    if not candidates:
        where = f" at clinic {slug!r}" if slug else ""
        raise NotFound(f"No active staff account has the email {email!r}{where}.")
    if len(candidates) > 1:
        raise Invalid(f"{email!r} has accounts at several clinics: name the clinic (its slug).")
    return _user(candidates[0])


def _user(member) -> StaffUser:
    return StaffUser(member.id, member.clinic_id, member.role)


def _candidates(email: str, clinic_slug: str | None) -> list:
    try:
        clinic_id = clinics.public_id(clinic_slug) if clinic_slug else None
    except NotFound:
        return []
    return staff.candidates_for_login(email, clinic_id)
