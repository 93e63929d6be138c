"""Session use-cases: schedule without double-booking, complete with time shares, cancel.

Sessions are visible exactly when their couple is (caseload scoping lives in couples).
"""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from service.clinics import service as clinics
from service.core.clock import utcnow
from service.core.errors import Conflict, Invalid, NotFound
from service.core.paging import Page, PageRequest
from service.couples import service as couples
from service.db import audit, uow
from service.db.lookup import Lookup
from service.staff import service as staff
from service.therapy_sessions.models import TherapySession

BOOKED = ("scheduled", "completed")  # statuses that occupy the therapist's time


def _of_visible_couples(stmt: sa.Select[Any]) -> sa.Select[Any]:
    return stmt.where(TherapySession.couple_id.in_(couples.COUPLES.ids()))


SESSIONS = Lookup(TherapySession, "session", "Session not found.", visible=_of_visible_couples)


def get(session_id: uuid.UUID) -> TherapySession:
    return SESSIONS.get(session_id)


def list_sessions(
    page: PageRequest,
    *,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    therapist_id: uuid.UUID | None = None,
    couple_id: uuid.UUID | None = None,
    status: str | None = None,
) -> Page[TherapySession]:
    stmt = SESSIONS.query()
    if start is not None:
        stmt = stmt.where(TherapySession.starts_at >= _instant(start, end_of_day=False))
    if end is not None:
        stmt = stmt.where(TherapySession.starts_at < _instant(end, end_of_day=True))
    if therapist_id:
        stmt = stmt.where(TherapySession.therapist_id == therapist_id)
    if couple_id:
        stmt = stmt.where(TherapySession.couple_id == couple_id)
    if status:
        stmt = stmt.where(TherapySession.status == status)
    return SESSIONS.page(stmt, page)


def schedule(data: dict[str, Any]) -> TherapySession:
    try:
        couple = couples.COUPLES.get(data["couple_id"], audited=False, loading=())
    except NotFound:
        raise Invalid(
            "No such couple in your caseload.", errors={"couple_id": ["Unknown couple."]}
        ) from None
    therapist_id = data.get("therapist_id") or couple.therapist_id
    _require_therapist(therapist_id)
    starts_at = data["starts_at"]
    ends_at = starts_at + timedelta(minutes=data["duration_minutes"])
    _refuse_double_booking(therapist_id, starts_at, ends_at)
    booked = TherapySession(
        couple_id=couple.id,
        therapist_id=therapist_id,
        starts_at=starts_at,
        ends_at=ends_at,
        duration_minutes=data["duration_minutes"],
        modality=data["modality"],
    )
    uow.session().add(booked)
    uow.session().flush()
    audit.record("create", "session", booked.id)
    return booked


def reschedule(
    session_id: uuid.UUID, changes: dict[str, Any], check_version: Any
) -> TherapySession:
    booked = SESSIONS.get(session_id, lock=True, audited=False)
    check_version(booked.version)
    _require_status(booked, "scheduled", "changed")
    if "therapist_id" in changes:
        _require_therapist(changes["therapist_id"])
    proposed = {
        name: changes.get(name, getattr(booked, name))
        for name in ("therapist_id", "starts_at", "duration_minutes")
    }
    ends_at = proposed["starts_at"] + timedelta(minutes=proposed["duration_minutes"])
    _refuse_double_booking(proposed["therapist_id"], proposed["starts_at"], ends_at, booked.id)
    for name, value in changes.items():
        setattr(booked, name, value)
    booked.ends_at = ends_at
    uow.session().flush()
    audit.record("update", "session", booked.id)
    return booked


def complete(session_id: uuid.UUID, time_share: dict[uuid.UUID, int] | None) -> TherapySession:
    booked = SESSIONS.get(session_id, lock=True, audited=False)
    _require_status(booked, "scheduled", "completed")
    if booked.starts_at > utcnow():
        raise Conflict(
            "A session cannot be completed before it starts.",
            errors={"starts_at": ["In the future."]},
        )
    if time_share is not None:
        booked.time_shares = _checked_time_shares(booked.couple_id, time_share)
    booked.status = "completed"
    booked.completed_at = utcnow()
    uow.session().flush()
    audit.record("complete", "session", booked.id)
    return booked


def cancel(session_id: uuid.UUID, reason: str) -> TherapySession:
    return _close(session_id, "cancelled", reason)


def mark_no_show(session_id: uuid.UUID) -> TherapySession:
    return _close(session_id, "no_show", None)


@dataclass(frozen=True)
class Held:
    """A completed session as a window reads it."""

    id: uuid.UUID
    starts_at: datetime
    time_shares: dict[str, int] | None


def completed_window(couple: Any, upto: datetime, size: int | None, *, each: Any) -> list[Any]:
    """`couple`'s completed sessions up to `upto`, oldest first: the last `size` of them
    (all when `size` is None), each with the rows of `each` (another feature's model with a
    `session_id`) that belong to it, in one bounded read: (session, row or None) pairs, as
    plain rows (`Held`, and a row of `each`'s columns), as every submission reads them.

    `couple` is a row the caller read through `couples` (so visible to it), and its
    sessions are visible exactly when it is: the statement needs no caseload of its own, so it
    is built once, not per call."""
    rows = uow.session().execute(
        _window(each, limited=size is not None),
        {"couple_id": couple.id, "upto": upto, "size": size},
    )
    return [(Held(*row[:3]), row if row.id is not None else None) for row in rows]


@functools.cache
def _window(each: Any, *, limited: bool) -> sa.Select[Any]:
    latest = (
        sa.select(
            TherapySession.id,
            TherapySession.starts_at,
            TherapySession.time_shares,
            TherapySession.clinic_id,
        )
        .where(
            TherapySession.couple_id == sa.bindparam("couple_id"),
            TherapySession.status == "completed",
            TherapySession.starts_at <= sa.bindparam("upto"),
        )
        .order_by(TherapySession.starts_at.desc(), TherapySession.id.desc())
    )
    if limited:
        latest = latest.limit(sa.bindparam("size", type_=sa.Integer))
    window = latest.subquery()
    columns = [getattr(each, attr.key) for attr in sa.inspect(each).column_attrs]
    in_session = sa.and_(each.clinic_id == window.c.clinic_id, each.session_id == window.c.id)
    return (
        sa.select(
            window.c.id.label("held_id"),
            window.c.starts_at.label("held_at"),
            window.c.time_shares.label("held_shares"),
            *columns,
        )
        .outerjoin(each, in_session)
        .order_by(window.c.starts_at, window.c.id)
    )


def value_of(name: str, clinic_id: Any, session_id: Any) -> sa.Label[Any]:
    """A session's column as a correlated scalar, for another feature's statement that
    names the session (a link's lookup returns its couple and time without a second read).
    Core, so it fits a Core statement too: correlated on the clinic, it is as scoped as the
    row that names the session."""
    booked = TherapySession.__table__.c
    return (
        sa.select(booked[name])
        .where(booked.clinic_id == clinic_id, booked.id == session_id)
        .scalar_subquery()
        .label(f"session_{name}")
    )


def joined_on(clinic_id: Any, session_id: Any) -> tuple[Any, sa.ColumnElement[bool]]:
    """A session's columns and the condition that joins them to another feature's row naming
    it (an UPDATE … FROM): joined in the row's clinic, so Citus routes it to one shard."""
    booked = TherapySession.__table__.c
    return booked, sa.and_(booked.clinic_id == clinic_id, booked.id == session_id)


def completed(session_ids: set[uuid.UUID]) -> list[TherapySession]:
    """These sessions, oldest first (those the caller may see)."""
    stmt = SESSIONS.query().where(TherapySession.id.in_(session_ids))
    return list(uow.session().scalars(stmt.order_by(TherapySession.starts_at)))


def change_marks(couple_id: uuid.UUID) -> list[Any]:
    """Marks that move when one of the couple's sessions is booked, held or changed."""
    return SESSIONS.change_marks(TherapySession.couple_id == couple_id)


def of_couple(couple_id: uuid.UUID) -> list[TherapySession]:
    """Every session of a couple the caller can see, in order."""
    return list(
        uow.session().scalars(
            SESSIONS.query()
            .where(TherapySession.couple_id == couple_id)
            .order_by(TherapySession.starts_at)
        )
    )


def _close(session_id: uuid.UUID, status: str, reason: str | None) -> TherapySession:
    booked = SESSIONS.get(session_id, lock=True, audited=False)
    _require_status(booked, "scheduled", status.replace("_", "-"))
    booked.status = status
    booked.cancel_reason = reason
    booked.cancelled_at = utcnow()
    uow.session().flush()
    audit.record(status, "session", booked.id)
    return booked


def _require_status(booked: TherapySession, needed: str, action: str) -> None:
    if booked.status != needed:
        raise Conflict(
            f"A {booked.status} session cannot be {action}.",
            errors={"status": [f"Must be {needed}."]},
        )


def _require_therapist(staff_id: uuid.UUID) -> None:
    if staff.assignable_therapist(staff_id) is None:
        raise Invalid(
            "No active therapist with this id in your clinic.",
            errors={"therapist_id": ["Not an active therapist of this clinic."]},
        )


def _refuse_double_booking(
    therapist_id: uuid.UUID, starts_at: datetime, ends_at: datetime, ignore: uuid.UUID | None = None
) -> None:
    """Refuse an overlap with another booked session of the same therapist (any couple).

    On PostgreSQL an exclusion constraint backs this check against concurrent bookings.
    """
    stmt = sa.select(TherapySession.id, TherapySession.starts_at).where(
        TherapySession.therapist_id == therapist_id,
        TherapySession.status.in_(BOOKED),
        TherapySession.starts_at < ends_at,
        TherapySession.ends_at > starts_at,
    )
    if ignore is not None:
        stmt = stmt.where(TherapySession.id != ignore)
    clash = uow.session().execute(stmt.limit(1)).first()
    if clash is None:
        return
    visible = uow.session().scalar(SESSIONS.ids().where(TherapySession.id == clash.id))
    if visible is None:  # another caseload's session: say only that the slot is taken
        raise Conflict(
            "The therapist is already booked at that time.",
            errors={"starts_at": ["Clashes with another booking of the therapist."]},
        )
    raise Conflict(
        f"The therapist already has session {clash.id} at {clash.starts_at.isoformat()}.",
        errors={"starts_at": [f"Clashes with session {clash.id}."]},
    )


def _checked_time_shares(couple_id: uuid.UUID, shares: dict[uuid.UUID, int]) -> dict[str, int]:
    partner_ids = {partner.id for partner in couples.partners_of(couple_id)}
    if set(shares) != partner_ids:
        raise Invalid(
            "Give a share for each of the couple's two partners.",
            errors={"time_share": ["Keys must be the couple's two partner ids."]},
        )
    if sum(shares.values()) != 100:
        raise Invalid(
            "Time shares must add up to 100.",
            errors={"time_share": [f"Adds up to {sum(shares.values())}, not 100."]},
        )
    return {str(partner_id): share for partner_id, share in shares.items()}


def _instant(value: date | datetime, *, end_of_day: bool) -> datetime:
    if isinstance(value, datetime):
        return value
    day = value + timedelta(days=1) if end_of_day else value
    return datetime.combine(day, time.min, tzinfo=zoneinfo.ZoneInfo(clinics.timezone()))
