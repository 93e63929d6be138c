"""Recording a partner's answers: from their personal link, or entered by staff (a tablet in
the room, or paper). Scored with the instrument version they were asked with; exactly one
response per partner and session, even under concurrency.

Evaluating alerts on a new response is the alerts feature's part of the same use-case
(service.alerts.service.record_*), which every entry point calls.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from service.core import context, metrics
from service.core.clock import utcnow
from service.core.errors import Conflict, Invalid
from service.core.ids import new_id
from service.couples import service as couples
from service.db import audit, inserts, uow
from service.feedback import links
from service.feedback.models import FeedbackRequest, FeedbackResponse
from service.instruments import service as instruments
from service.notifications import service as notifications
from service.therapy_sessions import service as sessions

if TYPE_CHECKING:
    from service.instruments.models import Instrument
    from service.therapy_sessions.models import TherapySession

THANKS = "Thank you. Your answers were received."
RESPONSE_COLUMNS = tuple(sa.inspect(FeedbackResponse).column_attrs)


def submit(grant: links.Grant, data: dict[str, Any]) -> FeedbackResponse:
    """The partner's answers, from their link (claimed: `links.claim_token`). The session
    row is locked first, so two partners answering at the same moment are evaluated one after
    the other."""
    return _record(
        Slot(grant.session_id, grant.couple_id, grant.session_at),
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
        links.close(request.id)
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


@dataclass(frozen=True)
class Slot:
    """The session a response is for."""

    id: uuid.UUID
    couple_id: uuid.UUID
    starts_at: datetime


def _record(
    booked: Slot | TherapySession,
    partner_id: uuid.UUID,
    instrument: Instrument,
    data: dict[str, Any],
    *,
    source: str,
    entered_by: uuid.UUID | None,
) -> FeedbackResponse:
    scored = instruments.score(instrument, data["answers"])
    response = FeedbackResponse(
        id=new_id(),
        clinic_id=context.clinic_id(),
        created_at=utcnow(),
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
    _insert_once(response)
    uow.after_commit(metrics.SUBMISSIONS.labels(source).inc)
    instruments.mark_answered(instrument)
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


def _insert_once(response: FeedbackResponse) -> None:
    """One statement; the unique key (session, partner) decides a race. The response stays
    out of the ORM session: the rules read it back with the couple's other answers."""
    values = {column.key: getattr(response, column.key) for column in RESPONSE_COLUMNS}
    inserted = (
        uow.session().execute(inserts.insert_unless_present(FeedbackResponse), values).first()
    )
    if inserted is None:
        raise Conflict(
            "This partner already answered for this session.",
            errors={"partner_id": ["Already answered."]},
        )
