"""The TOTP second factor of a staff member (RFC 6238: 30-second steps, 6 digits, SHA-1, which
is what every authenticator app reads from an `otpauth://` URI).

Enrolling stores a new secret, sealed under the key-encryption key, and returns it with its
provisioning URI (issuer: the clinic's name; account: the sign-in email; nothing about
couples). A code from the app confirms it and switches the factor on; a code switches it
off; an admin resets another member's (a lost phone). A code is accepted for the current
time step or one either side (clocks drift), and only for a step after the last one accepted,
so a code already used (watched, or relayed by a phishing page) never works again.

Wrong codes count like wrong passwords: the caller passes the per-account lockout in
(`Attempts`, service.auth.lockout), which sits above staff in the feature order.
"""

from __future__ import annotations

import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pyotp
import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from service.clinics import service as clinics
from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Forbidden, Invalid
from service.db import audit, uow
from service.staff import service as staff
from service.staff.models import StaffMember

DRIFT_STEPS = 1  # codes of the previous and next 30 seconds are accepted too
CODE = re.compile(r"[0-9]{6}")
WRONG_CODE = "The code is wrong or was already used. Enter the newest code from your app."


class Attempts(Protocol):
    """The per-account lockout the failed codes count towards (keyed by sign-in email)."""

    def locked_for(self, email: str) -> int: ...
    def failed(self, email: str) -> None: ...
    def succeeded(self, email: str) -> None: ...


@dataclass(frozen=True)
class Enrolment:
    """A secret waiting for its first code; shown to its owner, never stored readable."""

    resource: StaffMember
    secret: str
    provisioning_uri: str


# -- pure rules -------------------------------------------------------------------------------


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step `code` belongs to, within the drift allowed and after `last_step`."""
    code = "".join(code.split())  # apps show "123 456"
    if not CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        fresh = last_step is None or step > last_step
        if fresh and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def provisioning_uri(secret: str, email: str, clinic_name: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=clinic_name)


# -- the member's own factor (API and sign-in) --------------------------------------------------


def start_enrolment(staff_id: uuid.UUID) -> Enrolment:
    """A new secret for the caller's own account (replacing one not yet confirmed)."""
    return begin(_own(staff_id))


def begin(member: StaffMember) -> Enrolment:
    if member.totp_enabled:
        raise Conflict(
            "Your second factor is already on: switch it off first to enrol a new device."
        )
    member.totp_secret, member.totp_last_step = pyotp.random_base32(), None
    uow.session().flush()
    audit.record("totp_enrolment_started", "staff", member.id)
    return pending(member)


def pending(member: StaffMember) -> Enrolment:
    """The enrolment waiting for its first code (sign-in shows it again after a wrong one)."""
    if member.totp_enabled or member.totp_secret is None:
        raise Conflict("There is no enrolment waiting for a code.")
    uri = provisioning_uri(member.totp_secret, member.email, clinics.name())
    return Enrolment(member, member.totp_secret, uri)


def confirm(staff_id: uuid.UUID, code: str, attempts: Attempts) -> StaffMember:
    """The first code from the app switches the second factor on."""
    member = _own(staff_id)
    if member.totp_enabled or member.totp_secret is None:
        raise Conflict("There is no enrolment waiting for a code: start one first.")
    _require_code(member, code, attempts)
    switch_on(member)
    return member


def switch_on(member: StaffMember) -> None:
    """Its first code came in: from now on signing in asks for one."""
    member.totp_confirmed_at = utcnow()
    uow.session().flush()
    audit.record("totp_enabled", "staff", member.id)


def disable(staff_id: uuid.UUID, code: str, attempts: Attempts) -> StaffMember:
    """Switched off with a current code, unless the clinic requires a second factor."""
    member = _own(staff_id)
    if not member.totp_enabled:
        raise Conflict("Your second factor is not on.")
    if clinics.second_factor_required():
        raise Conflict(
            "Your clinic requires a second factor, so it cannot be switched off. "
            "An admin can reset it if you need to enrol a new device."
        )
    _require_code(member, code, attempts)
    _clear(member)
    audit.record("totp_disabled", "staff", member.id)
    return member


def reset(staff_id: uuid.UUID) -> StaffMember:
    """An admin removes another member's second factor (a lost or replaced phone); if the
    clinic requires one, they enrol again at their next sign-in."""
    member = staff.STAFF.get(staff_id, audited=False)
    caller = context.actor()
    if caller is not None and caller.staff_id == member.id:
        raise Conflict("Switch off your own second factor with a code; reset is for others.")
    _clear(member)
    audit.record("totp_reset", "staff", member.id)
    return member


def spend_code(member: StaffMember, code: str) -> bool:
    """Whether `code` is a fresh code of the member's secret (on, or waiting for its first
    code); its step is spent in one conditional UPDATE, so two requests with one code cannot
    both pass. The version (the ETag) stays: a sign-in changes nothing visible."""
    if member.totp_secret is None:
        return False
    step = matching_step(member.totp_secret, code, utcnow(), member.totp_last_step)
    if step is None:
        return False
    spent = uow.session().execute(
        sa.update(StaffMember)
        .where(
            StaffMember.clinic_id == member.clinic_id,
            StaffMember.id == member.id,
            sa.or_(StaffMember.totp_last_step.is_(None), StaffMember.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        return False
    set_committed_value(member, "totp_last_step", step)
    return True


# -- helpers ----------------------------------------------------------------------------------


def _own(staff_id: uuid.UUID) -> StaffMember:
    """Only the member themselves enrols or switches off (an admin resets instead)."""
    caller = context.actor()
    member = staff.STAFF.get(staff_id, audited=False)
    if caller is None or caller.staff_id != member.id:
        raise Forbidden("Only the staff member themselves can do this; an admin can reset it.")
    return member


def _require_code(member: StaffMember, code: str, attempts: Attempts) -> None:
    """A fresh code or 422 naming `code`; wrong ones are audited and count towards the lockout
    (in a transaction of their own: the refusal rolls the request's back)."""
    locked = attempts.locked_for(member.email)
    if not locked and spend_code(member, code):
        attempts.succeeded(member.email)
        return
    if not locked:
        attempts.failed(member.email)
    with context.tenant_context(member.clinic_id, actor=context.actor()), uow.unit_of_work():
        audit.record(
            "totp_code_refused", "staff", member.id, reason="locked" if locked else "wrong_code"
        )
    if locked:
        message = f"Too many wrong codes. Try again in {locked} seconds."
        raise Invalid(message, errors={"code": [message]})
    raise Invalid(WRONG_CODE, errors={"code": [WRONG_CODE]})


def _clear(member: StaffMember) -> None:
    member.totp_secret = member.totp_confirmed_at = member.totp_last_step = None
    uow.session().flush()
