"""Sign-in for the clinician pages under /app/: a random token in a cookie, its digest in
`web_sessions`. A session ends at sign-out, after its idle time without a request, at its
absolute limit, or when its staff member is deactivated or signed out everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from service.auth.login import StaffUser
from service.auth.models import WebSession
from service.core import context
from service.core.clock import utcnow
from service.core.context import Actor
from service.core.ids import digest, new_secret
from service.db import audit, uow
from service.staff import service as staff
from service.staff.policy import issued_in_time, scopes_for_role

if TYPE_CHECKING:
    from service.staff.models import StaffMember

MAX_TOKEN_LENGTH = 128  # real tokens are 43 characters


@dataclass(frozen=True)
class Lifetime:
    idle: timedelta
    absolute: timedelta


def start(user: StaffUser, lifetime: Lifetime) -> str:
    """A new session for a staff member who just signed in; returns the cookie's token."""
    token, now = new_secret(), utcnow()
    with context.tenant_context(user.clinic_id, actor=_actor(user)), uow.unit_of_work() as db:
        db.add(
            WebSession(
                clinic_id=user.clinic_id,
                token_hash=digest(token),
                staff_id=user.staff_id,
                idle_expires_at=min(now + lifetime.idle, now + lifetime.absolute),
                absolute_expires_at=now + lifetime.absolute,
            )
        )
        audit.record("login", "staff", user.staff_id, clinic_id=user.clinic_id)
    return token


def resume(token: str, lifetime: Lifetime) -> Actor | None:
    """The signed-in staff member behind a cookie, or None when it no longer signs anyone in.
    Each use pushes the idle deadline back (never past the absolute one)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    now = utcnow()
    with context.system_context("web session"), uow.unit_of_work():
        found = _live(token, now)
        member = staff.member(found.staff_id) if found else None
        if found is None or not _still_allowed(member, found.created_at):
            return None
        found.idle_expires_at = min(now + lifetime.idle, found.absolute_expires_at)
        return _actor(StaffUser(member.id, member.clinic_id, member.role))


def end(token: str) -> None:
    """Sign out: the token no longer works, even if the browser kept the cookie."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return
    with context.system_context("web session"), uow.unit_of_work() as db:
        db.execute(
            sa.update(WebSession)
            .where(WebSession.token_hash == digest(token), WebSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )


def purge_ended(now: datetime) -> int:
    """Job: forget sessions that can no longer be used (any clinic)."""
    result = uow.session().execute(
        sa.delete(WebSession).where(
            sa.or_(WebSession.ended_at.is_not(None), WebSession.idle_expires_at <= now)
        )
    )
    return result.rowcount or 0


def _live(token: str, now: datetime) -> WebSession | None:
    return uow.session().scalar(
        sa.select(WebSession).where(
            WebSession.token_hash == digest(token),
            WebSession.ended_at.is_(None),
            WebSession.idle_expires_at > now,
        )
    )


def _still_allowed(member: StaffMember | None, started_at: datetime) -> bool:
    """Active, and not signed out everywhere since the session began."""
    if member is None or not member.active:
        return False
    return issued_in_time(started_at, member.tokens_valid_after)


def _actor(user: StaffUser) -> Actor:
    return Actor(
        kind="staff",
        subject=str(user.staff_id),
        clinic_id=user.clinic_id,
        roles=frozenset({user.role}),
        scopes=scopes_for_role(user.role),
    )
