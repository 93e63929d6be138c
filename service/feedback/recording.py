"""Recording a partner's answers: from their personal link, or entered by staff (a tablet in
the room, or paper). Scored with the instrument version they were asked with; exactly one
response per partner and session, even under concurrency.

Evaluating alerts on a new response is the alerts feature's part of the same use-case
(service.alerts.service.record_*), which every entry point calls.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Invalid
from service.couples import service as couples
from service.db import audit, uow
from service.feedback import links
from service.feedback.models import FeedbackRequest, FeedbackResponse
from service.instruments import service as instruments
from service.notifications import service as notifications
from service.therapy_sessions import service as sessions

if TYPE_CHECKING:
    from service.instruments.models import Instrument
    from service.therapy_sessions.models import TherapySession

THANKS = "Thank you. Your answers were received."
ANSWERED = "This feedback was already answered. Thank you."


def submit(grant: links.Grant, data: dict[str, Any]) -> FeedbackResponse:
    """The partner's answers, from their link. The session row is locked first, so two
    partners answering at the same moment are evaluated one after the other."""
    booked = sessions.SESSIONS.get(grant.session_id, lock=True, audited=False)
    _close(grant.request_id)
    return _record(
        booked,
        grant.partner_id,
        instruments.get(grant.instrument_id),
        data,
        source="partner_link",
        entered_by=None,
    )


def enter_for_partner(session_id: uuid.UUID, data: dict[str, Any]) -> FeedbackResponse:
    """Staff record a partner's answers for a completed session."""
    booked = sessions.SESSIONS.get(session_id, lock=True, audited=False)
    if booked.status != "completed":
        raise Conflict(
            "Feedback can be recorded only for a completed session.",
            errors={"session": ["Not completed."]},
        )
    if data["partner_id"] not in {p.id for p in couples.partners_of(booked.couple_id)}:
        raise Invalid(
            "This partner is not in the session's couple.",
            errors={"partner_id": ["Not a partner of this couple."]},
        )
    request = uow.session().scalar(
        sa.select(FeedbackRequest).where(
            FeedbackRequest.session_id == booked.id,
            FeedbackRequest.partner_id == data["partner_id"],
        )
    )
    if request is not None:
        _close(request.id)
        instrument = instruments.get(request.instrument_id)
    else:
        instrument = instruments.default_alliance()
    actor = context.actor()
    return _record(
        booked,
        data["partner_id"],
        instrument,
        data,
        source=data["source"],
        entered_by=actor.staff_id if actor else None,
    )


def _close(request_id: uuid.UUID) -> None:
    """Open → answered, as a compare-and-set: a second submitter finds nothing to close."""
    closed = uow.session().execute(
        sa.update(FeedbackRequest)
        .where(FeedbackRequest.id == request_id, FeedbackRequest.status.in_(links.OPEN))
        .values(status="answered", answered_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:
        raise Conflict(ANSWERED)


def _record(
    booked: TherapySession,
    partner_id: uuid.UUID,
    instrument: Instrument,
    data: dict[str, Any],
    *,
    source: str,
    entered_by: uuid.UUID | None,
) -> FeedbackResponse:
    scored = instruments.score(instrument, data["answers"])
    session = uow.session()
    already = session.scalar(
        sa.select(FeedbackResponse.id).where(
            FeedbackResponse.session_id == booked.id, FeedbackResponse.partner_id == partner_id
        )
    )
    if already is not None:
        raise Conflict(
            "This partner already answered for this session.",
            errors={"partner_id": ["Already answered."]},
        )
    response = FeedbackResponse(
        session_id=booked.id,
        partner_id=partner_id,
        couple_id=booked.couple_id,
        session_at=booked.starts_at,
        instrument_id=instrument.id,
        instrument_version=instrument.version,
        answers=scored.answers,
        total=scored.total,
        pct=scored.pct,
        source=source,
        comment=data.get("comment") or None,
        safety_concern=bool(data.get("safety_concern")),
        entered_by=entered_by,
    )
    session.add(response)
    instruments.mark_answered(instrument)
    session.flush()
    audit.record("create", "feedback_response", response.id)
    notifications.enqueue_event(
        "feedback.submitted",
        {
            "response_id": str(response.id),
            "session_id": str(booked.id),
            "partner_id": str(partner_id),
        },
    )
    return response
