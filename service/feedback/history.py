"""A couple's feedback over time: the window the alert rules read, the alliance series the
chart and the API show, and one session's responses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from service.core.clock import utcnow
from service.couples import service as couples
from service.db import uow
from service.db.lookup import Lookup
from service.feedback import series
from service.feedback.models import FeedbackResponse
from service.instruments import service as instruments
from service.therapy_sessions import service as sessions

if TYPE_CHECKING:
    from service.instruments.models import Instrument

RESPONSES = Lookup(FeedbackResponse, "feedback_response", "Feedback not found.")


def visible_response_ids() -> sa.Select[tuple[uuid.UUID]]:
    """Ids of the responses the caller may see: those given for sessions it may see."""
    return sa.select(FeedbackResponse.id).where(
        FeedbackResponse.session_id.in_(sessions.SESSIONS.ids())
    )


@dataclass(frozen=True)
class History:
    """A couple's completed sessions (oldest first) with the feedback given for them (rows
    of `FeedbackResponse`'s columns)."""

    couple: couples.Members
    sessions: list[sessions.Held]
    responses: dict[uuid.UUID, list[Any]]
    instruments: dict[uuid.UUID, Instrument]


@dataclass(frozen=True)
class Alliance:
    couple_id: uuid.UUID
    cutoff_pct: float
    partners: list[series.PartnerSeries]
    gaps: list[series.Gap]
    # The couple's completed sessions, oldest first: answered or not (the chart marks misses).
    sessions: list[tuple[uuid.UUID, datetime]]
    couple: Any  # with its partners and therapist, for pages that show them


def history(
    couple_id: uuid.UUID, *, upto: datetime | None = None, size: int | None = None
) -> History:
    """The last `size` completed sessions up to `upto` (all when None), in two reads. The
    couple's row is locked first: evaluations of one couple run one after the other, each
    reading what the one before it committed."""
    couple = couples.lock_members(couple_id)
    window = sessions.completed_window(couple, upto or utcnow(), size, each=FeedbackResponse)
    booked_in_order: dict[uuid.UUID, sessions.Held] = {}
    by_session: dict[uuid.UUID, list[Any]] = {}
    for booked, response in window:
        booked_in_order.setdefault(booked.id, booked)
        if response is not None:
            by_session.setdefault(booked.id, []).append(response)
    used = {r.instrument_id for responses in by_session.values() for r in responses}
    found = instruments.get_many(used) if used else {}
    return History(couple, list(booked_in_order.values()), by_session, found)


def alliance(couple_id: uuid.UUID, cutoff_pct: float, *, audited: bool = True) -> Alliance:
    """Each partner's scores per session, in order, and the gap between the partners;
    `cutoff_pct` is the clinic's (alerts decide it). Unaudited for a caller that audits the
    read its own way (the chart)."""
    couple = couples.COUPLES.get(couple_id, audited=audited)
    found = list(
        uow.session().scalars(
            RESPONSES.query()
            .where(FeedbackResponse.couple_id == couple.id)
            .order_by(FeedbackResponse.session_at, FeedbackResponse.id)
        )
    )
    if audited:
        RESPONSES.audit_read(found)
    partners, gaps = series.build(couple.partners, found)
    completed = [
        (b.id, b.starts_at) for b in sessions.of_couple(couple.id) if b.status == "completed"
    ]
    return Alliance(couple.id, cutoff_pct, partners, gaps, completed, couple)


def change_marks(couple_id: uuid.UUID) -> list[Any]:
    """Marks that move when one of the couple's partners answers (or an answer is erased)."""
    return RESPONSES.change_marks(FeedbackResponse.couple_id == couple_id)


def session_responses(session_id: uuid.UUID) -> list[FeedbackResponse]:
    booked = sessions.SESSIONS.get(session_id, audited=False)
    found = list(
        uow.session().scalars(
            RESPONSES.query()
            .where(FeedbackResponse.session_id == booked.id)
            .order_by(FeedbackResponse.created_at)
        )
    )
    RESPONSES.audit_read(found)
    return found
