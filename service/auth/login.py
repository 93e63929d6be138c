"""Staff sign-in for the login page (the authorization endpoint and the clinician pages).

A password that checks out signs in at once, unless the account has a TOTP second factor
(then its code is the second step) or its clinic requires one it has not set up (then the
second step enrols it: the secret is shown and its first code switches it on). Only the
second step's success gives a `StaffUser`; until then the per-account failures stand, so a
known password never buys unlimited guesses at the code.
"""

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
from service.staff import totp

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


CODE = "code"  # second step: the code from the account's authenticator app
ENROL = "enrol"  # second step: set up the app the clinic requires, then its first code


@dataclass(frozen=True)
class LoginOutcome:
    user: StaffUser | None = None  # signed in: every step passed
    needs_clinic: bool = False  # the email matches accounts at several clinics
    locked_for: int = 0  # seconds until this email may try again (too many failures)
    pending: StaffUser | None = None  # the password passed; `second_factor` is still to do
    second_factor: str | None = None  # CODE or ENROL


@dataclass(frozen=True)
class Enrolling:
    """What the enrolment step shows: the key to type into the app, and its otpauth:// URI."""

    secret: str
    provisioning_uri: str


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
        return outcome
    second_factor = _second_factor(outcome.user) if outcome.user else None
    if second_factor:
        return LoginOutcome(pending=outcome.user, second_factor=second_factor)
    lockout.succeeded(email)
    return outcome


def _second_factor(user: StaffUser) -> str | None:
    """The second step this account needs: its code, enrolment, or none. An enrolment keeps
    the secret already waiting (the app may hold it from an earlier attempt), else a new one
    is stored now."""
    with _as(user) as member:
        if member.totp_enabled:
            return CODE
        if clinics.second_factor_required():
            if member.totp_secret is None:
                totp.begin(member)
            return ENROL
    return None


def enrolling(user: StaffUser) -> Enrolling:
    """The enrolment the second step is waiting on, to show (again after a wrong code)."""
    with _as(user) as member:
        waiting = totp.pending(member)
        return Enrolling(waiting.secret, waiting.provisioning_uri)


def check_second_factor(user: StaffUser, code: str) -> LoginOutcome:
    """The second step for `user`, whose password passed: the code from the app (which, when
    enrolling, also switches the factor on). A wrong or replayed code fails like a wrong
    password: audited, counted towards the lockout."""
    with _as(user) as member:
        step = CODE if member.totp_enabled else ENROL
        retry = LoginOutcome(pending=user, second_factor=step)
        wait = lockout.locked_for(member.email)
        if wait:
            audit.record("login_failed", "staff", member.id, reason="locked")
            return LoginOutcome(locked_for=wait)
        if not totp.spend_code(member, code):
            lockout.failed(member.email)
            audit.record("login_failed", "staff", member.id, reason="wrong_code")
            return retry
        if step == ENROL:
            totp.switch_on(member)
        lockout.succeeded(member.email)
    return LoginOutcome(user=user)


@contextlib.contextmanager
def _as(user: StaffUser):
    """The signing-in member, in a transaction of their clinic that commits on leaving;
    NotFound for an account deactivated since its password was checked."""
    actor = context.Actor(
        kind="staff",
        subject=str(user.staff_id),
        clinic_id=user.clinic_id,
        roles=frozenset({user.role}),
    )
    with context.tenant_context(user.clinic_id, actor=actor), uow.unit_of_work():
        member = staff.get_active(user.staff_id)
        if member is None:
            raise NotFound("This account can no longer sign in.")
        yield member


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
