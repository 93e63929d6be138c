"""Feedback use-cases: partner links on completion, the partner's form and answers, staff
entry, and each couple's alliance series.

The token in a partner's link is the credential: 256-bit random, stored as a digest, single
use, expiring. Nothing returned to a partner mentions scores, alerts or the other partner.
"""

from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.audit import service as audit
from service.clinics import service as clinics
from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Gone, Invalid, NotFound
from service.core.ids import digest, new_secret
from service.couples import service as couples
from service.db import uow
from service.feedback import messages, series
from service.feedback.models import FeedbackRequest, FeedbackResponse
from service.instruments import service as instruments
from service.instruments.models import Instrument
from service.notifications import service as notifications
from service.staff import service as staff
from service.therapy_sessions import service as sessions
from service.therapy_sessions.models import TherapySession

DEFAULT_LINK_TTL_HOURS = 72
DEFAULT_CUTOFF_PCT = 90.0  # SRS convention: 36 of 40 (DESIGN §8)
THANKS = "Thank you. Your answers were received."


@dataclass(frozen=True)
class IssuedLink:
    """A partner's link. `url` is present only for in-clinic links, and only once."""

    partner_id: uuid.UUID
    channel: str
    expires_at: datetime
    url: str | None = None


@dataclass(frozen=True)
class Grant:
    """What a partner's token opens: one request, in one clinic."""

    clinic_id: uuid.UUID
    request_id: uuid.UUID
    partner_id: uuid.UUID


COMMENT_MAX_LENGTH = 1000


@dataclass(frozen=True)
class Form:
    clinic_name: str
    session_date: date
    therapist_name: str
    first_name: str
    title: str
    instrument: Instrument
    locale: str
    items: list[dict[str, Any]] = field(default_factory=list)
    comment_max_length: int = COMMENT_MAX_LENGTH


@dataclass(frozen=True)
class Completed:
    """The completed session, read through, plus the links issued for it."""

    session: TherapySession
    feedback_links: list[IssuedLink]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


# -- staff side -------------------------------------------------------------------------------


def complete_session(
    session_id: uuid.UUID, time_share: dict[uuid.UUID, int] | None, link_base: str
) -> Completed:
    """Complete the session and ask each partner for feedback, in one transaction."""
    booked = sessions.complete(session_id, time_share)
    instrument = instruments.default_alliance()
    expires_at = utcnow() + timedelta(hours=_link_ttl_hours())
    links = [
        _issue(booked, partner, instrument, expires_at, link_base)
        for partner in couples.partners_of(booked.couple_id)
        if partner.feedback_channel != "none"
    ]
    notifications.enqueue_event(
        "session.completed", {"session_id": str(booked.id), "couple_id": str(booked.couple_id)}
    )
    return Completed(booked, links)


def reissue_in_clinic_links(session_id: uuid.UUID, link_base: str) -> list[IssuedLink]:
    """New links for the in-clinic partners who have not answered; old links stop working."""
    booked = sessions.get(session_id, audit_read=False, lock=True)
    expires_at = utcnow() + timedelta(hours=_link_ttl_hours())
    open_requests = uow.session().scalars(
        sa.select(FeedbackRequest).where(
            FeedbackRequest.session_id == booked.id,
            FeedbackRequest.channel == "in_clinic",
            FeedbackRequest.status.in_(("open", "expired")),
        )
    )
    links = []
    for request in open_requests:
        token = new_secret()
        request.token_hash, request.expires_at, request.status = digest(token), expires_at, "open"
        links.append(
            IssuedLink(request.partner_id, "in_clinic", expires_at, _link(link_base, token))
        )
        audit.record("reissue", "feedback_request", request.id)
    return links


def enter_for_partner(session_id: uuid.UUID, data: dict[str, Any]) -> FeedbackResponse:
    """Staff record a partner's answers (tablet in the room, or paper)."""
    booked = sessions.get(session_id, audit_read=False, lock=True)
    if booked.status != "completed":
        raise Conflict(
            "Feedback can be recorded only for a completed session.",
            errors={"session": ["Not completed."]},
        )
    partner_ids = {partner.id for partner in couples.partners_of(booked.couple_id)}
    if data["partner_id"] not in partner_ids:
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
        _close_request(request)
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
        request_id=None,
        entered_by=actor.staff_id if actor else None,
    )


def session_responses(session_id: uuid.UUID) -> list[FeedbackResponse]:
    booked = sessions.get(session_id, audit_read=False)
    found = list(
        uow.session().scalars(
            sa.select(FeedbackResponse)
            .where(FeedbackResponse.session_id == booked.id)
            .order_by(FeedbackResponse.created_at)
        )
    )
    audit.record_many("read", "feedback_response", [response.id for response in found])
    return found


@dataclass(frozen=True)
class Alliance:
    couple_id: uuid.UUID
    cutoff_pct: float
    partners: list[series.PartnerSeries]
    gaps: list[series.Gap]


def alliance(couple_id: uuid.UUID) -> Alliance:
    """Each partner's scores per session, in order, and the gap between the partners."""
    couple = couples.get(couple_id)
    found = list(
        uow.session().scalars(
            sa.select(FeedbackResponse)
            .where(FeedbackResponse.couple_id == couple.id)
            .order_by(FeedbackResponse.session_at, FeedbackResponse.id)
        )
    )
    audit.record_many("read", "feedback_response", [response.id for response in found])
    partners, gaps = series.build(couple.partners, found)
    return Alliance(couple.id, _cutoff_pct(), partners, gaps)


def export_couple(couple_id: uuid.UUID) -> dict[str, Any]:
    """Everything held about a couple, as one document (the right of access)."""
    couple = couples.get(couple_id, audit_read=False)
    session = uow.session()
    requests = session.scalars(
        sa.select(FeedbackRequest)
        .where(FeedbackRequest.partner_id.in_([p.id for p in couple.partners]))
        .order_by(FeedbackRequest.created_at)
    )
    responses = session.scalars(
        sa.select(FeedbackResponse)
        .where(FeedbackResponse.couple_id == couple.id)
        .order_by(FeedbackResponse.session_at)
    )
    audit.record("export", "couple", couple.id)
    return {
        "exported_at": utcnow(),
        "couple": couple,
        "sessions": sessions.of_couple(couple.id),
        "feedback_requests": list(requests),
        "feedback_responses": list(responses),
    }


def erase_partner(partner_id: uuid.UUID) -> Any:
    """Erasure wherever the partner's data is held: their details (couples), their open
    links, their private comments, and undelivered emails to them. Scores stay, de-identified."""
    email = couples.get_partner(partner_id, audit_read=False).email
    partner = couples.erase_partner(partner_id)
    session = uow.session()
    session.execute(
        sa.update(FeedbackRequest)
        .where(
            FeedbackRequest.partner_id == partner.id,
            FeedbackRequest.status.in_(("open", "expired")),
        )
        .values(status="revoked")
    )
    session.execute(
        sa.update(FeedbackResponse)
        .where(FeedbackResponse.partner_id == partner.id)
        .values(comment=None)
    )
    if email:
        notifications.forget_emails_to(email)
    return partner


@dataclass(frozen=True)
class History:
    """A couple's completed sessions (oldest first) with the feedback given for them."""

    couple: Any
    sessions: list[TherapySession]
    responses: dict[uuid.UUID, list[FeedbackResponse]]
    instruments: dict[uuid.UUID, Instrument]


def history(
    couple_id: uuid.UUID, *, upto: datetime | None = None, size: int | None = None
) -> History:
    """The last `size` completed sessions up to `upto` (all when None), in four reads."""
    couple = couples.get(couple_id, audit_read=False, with_details=False)
    window = sessions.completed_window(couple.id, upto or utcnow(), size)
    found = uow.session().scalars(
        sa.select(FeedbackResponse).where(
            FeedbackResponse.session_id.in_([booked.id for booked in window])
        )
    )
    by_session: dict[uuid.UUID, list[FeedbackResponse]] = {}
    for response in found:
        by_session.setdefault(response.session_id, []).append(response)
    used = {r.instrument_id for responses in by_session.values() for r in responses}
    return History(couple, window, by_session, instruments.get_many(used) if used else {})


# -- partner side -----------------------------------------------------------------------------


def resolve_token(token: str) -> Grant:
    """The request a token opens, checked: unknown → 404, expired → 410, answered → 409."""
    with context.system_context("feedback link"), uow.unit_of_work() as session:
        request = session.scalar(
            sa.select(FeedbackRequest).where(FeedbackRequest.token_hash == digest(token))
        )
        if request is None or request.status == "revoked":
            raise NotFound("This feedback link is not valid.")
        if request.status == "answered":
            raise Conflict("This feedback was already answered. Thank you.")
        if request.status == "expired" or request.expires_at <= utcnow():
            raise Gone("This feedback link has expired.")
        return Grant(request.clinic_id, request.id, request.partner_id)


def form(grant: Grant) -> Form:
    request = _request(grant)
    booked = sessions.get(request.session_id, audit_read=False)
    instrument = instruments.get(request.instrument_id)
    partner = couples.get_partner(grant.partner_id, audit_read=False)
    locale = clinics.locale()
    audit.record("read", "feedback_request", request.id)
    return Form(
        clinic_name=clinics.name(),
        session_date=booked.starts_at.astimezone(zoneinfo.ZoneInfo(clinics.timezone())).date(),
        therapist_name=staff.public_name(booked.therapist_id),
        first_name=partner.display_name.split()[0],
        title=_pick(instrument.title, locale),
        instrument=instrument,
        locale=locale,
        items=[_localised(item, locale) for item in instrument.items],
    )


def submit(grant: Grant, data: dict[str, Any]) -> FeedbackResponse:
    """The partner's answers. Exactly one submission per link, even under concurrency."""
    request = _request(grant)
    booked = sessions.get(request.session_id, audit_read=False, lock=True)
    _close_request(request)
    return _record(
        booked,
        request.partner_id,
        instruments.get(request.instrument_id),
        data,
        source="partner_link",
        request_id=request.id,
        entered_by=None,
    )


# -- internals --------------------------------------------------------------------------------


def _issue(
    booked: TherapySession,
    partner: Any,
    instrument: Instrument,
    expires_at: datetime,
    link_base: str,
) -> IssuedLink:
    token = new_secret()
    request = FeedbackRequest(
        session_id=booked.id,
        partner_id=partner.id,
        instrument_id=instrument.id,
        channel=partner.feedback_channel,
        token_hash=digest(token),
        expires_at=expires_at,
    )
    uow.session().add(request)
    url = _link(link_base, token)
    if partner.feedback_channel == "email" and partner.email:
        notifications.enqueue_email(
            topic="feedback.invitation",
            to=partner.email,
            **messages.invitation(
                first_name=partner.display_name.split()[0],
                clinic_name=clinics.name(),
                session_date=booked.starts_at.astimezone(
                    zoneinfo.ZoneInfo(clinics.timezone())
                ).date(),
                url=url,
                expires_at=expires_at,
            ),
        )
        return IssuedLink(partner.id, "email", expires_at)
    return IssuedLink(partner.id, partner.feedback_channel, expires_at, url)


def _close_request(request: FeedbackRequest) -> None:
    """Open → answered, as a compare-and-set: a second submitter finds nothing to close."""
    closed = uow.session().execute(
        sa.update(FeedbackRequest)
        .where(FeedbackRequest.id == request.id, FeedbackRequest.status.in_(("open", "expired")))
        .values(status="answered", answered_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:
        raise Conflict("This feedback was already answered. Thank you.")


def _record(
    booked: TherapySession,
    partner_id: uuid.UUID,
    instrument: Instrument,
    data: dict[str, Any],
    *,
    source: str,
    request_id: uuid.UUID | None,
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


def _request(grant: Grant) -> FeedbackRequest:
    request = uow.session().get(FeedbackRequest, grant.request_id)
    if request is None:
        raise NotFound("This feedback link is not valid.")
    return request


def _link(link_base: str, token: str) -> str:
    return f"{link_base.rstrip('/')}/f/{token}"


def _cutoff_pct() -> float:
    cutoff = instruments.default_alliance().cutoff_pct
    return DEFAULT_CUTOFF_PCT if cutoff is None else cutoff


def _link_ttl_hours() -> int:
    return int(clinics.feedback_settings().get("link_ttl_hours", DEFAULT_LINK_TTL_HOURS))


def _pick(texts: dict[str, str] | None, locale: str) -> str:
    """The text for the locale, else its language, else English, else any."""
    texts = texts or {}
    return (
        texts.get(locale)
        or texts.get(locale[:2])
        or texts.get("en")
        or next(iter(texts.values()), "")
    )


def _localised(item: dict[str, Any], locale: str) -> dict[str, Any]:
    anchors = item.get("anchors") or {}
    return {
        **item,
        "label": _pick(item.get("text"), locale),
        "min_label": _pick(anchors.get("min"), locale),
        "max_label": _pick(anchors.get("max"), locale),
    }
