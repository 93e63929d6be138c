"""Grants: what a token is issued for, authorization codes (PKCE) and refresh-token families
with rotation and reuse detection. Flask-free; `server.py` adapts these to authlib.

Codes and refresh tokens are stored only as digests. Lookups by secret happen before the
tenant is known, so they run in small `system_context` blocks; writes for a known clinic run
in `tenant_context`, where row-level security applies. Each step that must survive a refused
request (reuse detection revoking a family) commits in its own unit of work, whatever the HTTP
status of the response.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.auth.login import StaffUser
from service.auth.models import AuthorizationCode, RefreshToken
from service.core import context
from service.core.clock import utcnow
from service.core.context import Actor
from service.core.errors import Invalid
from service.core.ids import digest
from service.db import audit, uow
from service.staff import service as staff
from service.staff.policy import (
    CLINIC_SCOPES,
    PLATFORM_SCOPE,
    covers,
    grantable_scopes,
    issued_in_time,
    scopes_for_role,
)

# The `client_id` of tokens `flask dev-token` issues (no registered client asks for them).
DEVELOPER_CLIENT_ID = "dev-token"


class GrantRefused(Exception):
    """The code or refresh token cannot be used (unknown, used, expired, revoked, user gone)."""


@dataclass(frozen=True)
class Grant:
    """What one access token is issued for: a staff member through a client, or a client."""

    subject: str
    clinic_id: uuid.UUID | None
    scopes: frozenset[str]
    roles: tuple[str, ...] = ()


# --- scopes ---------------------------------------------------------------------------------


def staff_scopes(requested: Iterable[str], role: str, client_scopes: Iterable[str]) -> set[str]:
    """A staff token: requested ∩ what the role may have ∩ what the client may ask for.
    Nothing requested means everything the role has (still within the client's scopes)."""
    wanted = set(requested) or set(scopes_for_role(role))
    return grantable_scopes(wanted, role) & set(client_scopes)


def client_scopes(client: Any, requested: Iterable[str]) -> set[str]:
    """A client-credentials token: platform clients get `platform` only; integrators get the
    requested scopes within their registered ones (all of them if none requested). A narrower
    SMART system scope is granted within a wider registered one (`system/Patient.rs` within
    `system/*.rs`)."""
    allowed = {PLATFORM_SCOPE} if client.kind == "platform" else set(client.scopes)
    if client.kind == "integrator":
        allowed -= {PLATFORM_SCOPE}
    wanted = set(requested)
    return {scope for scope in wanted if covers(allowed, scope)} if wanted else allowed


def developer_grant(user: StaffUser, requested: Iterable[str]) -> Grant:
    """`flask dev-token`: what the user would get by signing in (their role's scopes, or the
    requested ones if the role has them all), audited in the current clinic. Development only:
    the CLI refuses it in production."""
    wanted = set(requested)
    scopes = staff_scopes(wanted, user.role, CLINIC_SCOPES)
    if wanted - scopes:
        allowed = " ".join(sorted(scopes_for_role(user.role)))
        raise Invalid(
            f"Not for a {user.role}: {' '.join(sorted(wanted - scopes))} (allowed: {allowed})."
        )
    audit.record("dev_token", "staff", user.staff_id, clinic_id=user.clinic_id)
    return Grant(str(user.staff_id), user.clinic_id, frozenset(scopes), (user.role,))


# --- authorization codes -------------------------------------------------------------------


def save_authorization_code(
    code: str,
    *,
    user: StaffUser,
    client_id: str,
    redirect_uri: str | None,
    scopes: Iterable[str],
    code_challenge: str,
    code_challenge_method: str,
    ttl: int,
) -> None:
    """Store the code's digest for this staff member; the login is audited with it."""
    actor = Actor(
        kind="staff", subject=str(user.staff_id), clinic_id=user.clinic_id, roles=frozenset()
    )
    with context.tenant_context(user.clinic_id, actor=actor), uow.unit_of_work() as session:
        session.add(
            AuthorizationCode(
                clinic_id=user.clinic_id,
                code_hash=digest(code),
                client_id=client_id,
                staff_id=user.staff_id,
                redirect_uri=redirect_uri or "",
                scope=" ".join(sorted(set(scopes))),
                code_challenge=code_challenge,
                code_challenge_method=code_challenge_method,
                expires_at=utcnow() + timedelta(seconds=ttl),
            )
        )
        audit.record("login", "staff", user.staff_id, clinic_id=user.clinic_id)


def find_authorization_code(code: str) -> AuthorizationCode | None:
    with context.system_context("oauth code lookup"), uow.unit_of_work() as session:
        return session.scalar(
            sa.select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code))
        )


def redeem_authorization_code(
    code: AuthorizationCode, *, refresh_token: str, idle_ttl: int, absolute_ttl: int
) -> Grant:
    """Use the code once and open a refresh-token family (family id = the code's id, so a
    replayed code can revoke what it produced). A second use revokes that family."""
    now = utcnow()
    replayed = False
    with context.tenant_context(code.clinic_id), uow.unit_of_work() as session:
        used = session.execute(
            sa.update(AuthorizationCode)
            .where(AuthorizationCode.id == code.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:  # used concurrently: a replay
            _revoke_family(session, code.id, now)
            replayed = True
        else:
            if code.expires_at <= now:
                raise GrantRefused("The code has expired.")
            member = _usable_staff(code.staff_id, since=code.created_at)
            absolute = now + timedelta(seconds=absolute_ttl)
            _add_link(
                session, code, refresh_token, code.id, now + timedelta(seconds=idle_ttl), absolute
            )
    if replayed:
        raise GrantRefused("The code has been used.")
    return Grant(
        subject=str(member.id),
        clinic_id=member.clinic_id,
        scopes=frozenset(code.scope.split()) & scopes_for_role(member.role),
        roles=(member.role,),
    )


def revoke_code_family(code: AuthorizationCode) -> None:
    """A used code was presented again: revoke every refresh token it produced."""
    with context.tenant_context(code.clinic_id), uow.unit_of_work() as session:
        _revoke_family(session, code.id, utcnow())
        audit.record("code_replay", "staff", code.staff_id, clinic_id=code.clinic_id)


# --- refresh tokens ------------------------------------------------------------------------


def find_refresh_token(token: str) -> RefreshToken | None:
    with context.system_context("oauth refresh token lookup"), uow.unit_of_work() as session:
        return session.scalar(
            sa.select(RefreshToken).where(RefreshToken.token_hash == digest(token))
        )


def rotate_refresh_token(
    old: RefreshToken,
    *,
    new_token: str,
    requested_scopes: Iterable[str],
    client_scopes: Iterable[str],
    idle_ttl: int,
) -> Grant:
    """Exchange a refresh token for the next one of its family. Presenting a rotated (or
    revoked) link again is reuse: the whole family is revoked, committed, and refused."""
    now = utcnow()
    if old.revoked_at is not None:  # logged out or already caught: nothing more to revoke
        raise GrantRefused("The refresh token has been revoked.")
    reused = False
    with context.tenant_context(old.clinic_id), uow.unit_of_work() as session:
        rotated = session.execute(
            sa.update(RefreshToken)
            .where(
                RefreshToken.id == old.id,
                RefreshToken.rotated_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(rotated_at=now)
        )
        if rotated.rowcount != 1:
            _revoke_family(session, old.family_id, now)
            audit.record("refresh_token_reuse", "staff", old.staff_id, clinic_id=old.clinic_id)
            reused = True
        else:
            if now >= old.idle_expires_at or now >= old.absolute_expires_at:
                raise GrantRefused("The refresh token has expired.")
            started = session.scalar(
                sa.select(sa.func.min(RefreshToken.created_at)).where(
                    RefreshToken.family_id == old.family_id
                )
            )
            member = _usable_staff(old.staff_id, since=started or old.created_at)
            idle = now + timedelta(seconds=idle_ttl)
            _add_link(session, old, new_token, old.family_id, idle, old.absolute_expires_at)
            audit.record("token_refreshed", "staff", old.staff_id)
    if reused:
        raise GrantRefused("The refresh token has already been used.")
    family_scopes = set(old.scope.split())
    wanted = (set(requested_scopes) or family_scopes) & family_scopes
    return Grant(
        subject=str(member.id),
        clinic_id=member.clinic_id,
        scopes=frozenset(staff_scopes(wanted, member.role, client_scopes)),
        roles=(member.role,),
    )


def revoke_refresh_family(token: RefreshToken) -> None:
    with context.tenant_context(token.clinic_id), uow.unit_of_work() as session:
        _revoke_family(session, token.family_id, utcnow())
        audit.record("token_revoked", "staff", token.staff_id, reason="refresh token")


def refresh_token_active(token: RefreshToken) -> bool:
    """Usable now: not rotated or revoked, not expired, its staff member still allowed."""
    now = utcnow()
    if token.rotated_at or token.revoked_at:
        return False
    if now >= token.idle_expires_at or now >= token.absolute_expires_at:
        return False
    with context.tenant_context(token.clinic_id), uow.unit_of_work() as session:
        started = session.scalar(
            sa.select(sa.func.min(RefreshToken.created_at)).where(
                RefreshToken.family_id == token.family_id
            )
        )
        try:
            _usable_staff(token.staff_id, since=started or token.created_at)
        except GrantRefused:
            return False
    return True


def _add_link(
    session: Session,
    like: AuthorizationCode | RefreshToken,
    token: str,
    family_id: uuid.UUID,
    idle_until: datetime,
    absolute_until: datetime,
) -> None:
    """The next refresh token of a family, for the same staff member, client and scope."""
    session.add(
        RefreshToken(
            clinic_id=like.clinic_id,
            token_hash=digest(token),
            family_id=family_id,
            client_id=like.client_id,
            staff_id=like.staff_id,
            scope=like.scope,
            idle_expires_at=min(idle_until, absolute_until),
            absolute_expires_at=absolute_until,
        )
    )


def _revoke_family(session: Session, family_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _usable_staff(staff_id: uuid.UUID, *, since: datetime) -> Any:
    """The staff member, if still active and not logged out everywhere after `since`."""
    member = staff.get_active(staff_id)
    if member is None:
        raise GrantRefused("The account is no longer active.")
    if not issued_in_time(since, member.tokens_valid_after):
        raise GrantRefused("The session has been ended.")
    return member
