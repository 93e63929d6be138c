"""Partners' personal links: issued when a session is completed (emailed, or shown once for
in-clinic answering), re-issued, resolved when a partner opens one, and expired.

The token in a link is the credential: 256-bit random, stored only as a digest, single use,
expiring. It names its clinic (a routed secret), so it is looked up in that clinic, in the
request's own transaction. Nothing a partner sees mentions scores, alerts or the other partner.
"""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from service.clinics import service as clinics
from service.core import context, i18n
from service.core.clock import utcnow
from service.core.errors import Conflict, Gone, NotFound
from service.core.ids import digest, route_of, routed_secret
from service.couples import service as couples
from service.db import audit, uow
from service.db.session import in_current_clinic
from service.feedback.models import FeedbackRequest
from service.instruments import service as instruments
from service.notifications import service as notifications
from service.staff import service as staff
from service.therapy_sessions import service as sessions

if TYPE_CHECKING:
    from service.instruments.models import Instrument
    from service.therapy_sessions.models import TherapySession

DEFAULT_LINK_TTL_HOURS = 72
COMMENT_MAX_LENGTH = 1000
OPEN = ("open", "expired")  # not answered or revoked: an expired link may be re-issued
INVALID = "This feedback link is not valid."
ANSWERED = "This feedback was already answered. Thank you."


@dataclass(frozen=True)
class IssuedLink:
    """A partner's link. `url` is present only for in-clinic links, and only once."""

    partner_id: uuid.UUID
    channel: str
    expires_at: datetime
    url: str | None = None


@dataclass(frozen=True)
class Completed:
    """The completed session and the links issued for it."""

    resource: TherapySession
    feedback_links: list[IssuedLink]


@dataclass(frozen=True)
class Grant:
    """What a partner's token opens: one request (for one session and instrument), in one
    clinic. Read once, when the link is resolved."""

    clinic_id: uuid.UUID
    request_id: uuid.UUID
    partner_id: uuid.UUID
    session_id: uuid.UUID
    instrument_id: uuid.UUID
    couple_id: uuid.UUID
    session_at: datetime  # when the session began


def _grant_columns(requests: Any) -> tuple[Any, ...]:
    """What a token's lookup returns: the grant, with its session's couple and time;
    `requests` is the model (an ORM statement) or its table's columns (a Core one)."""
    return (
        *_request_columns(requests),
        sessions.value_of("couple_id", requests.clinic_id, requests.session_id),
        sessions.value_of("starts_at", requests.clinic_id, requests.session_id),
    )


def _request_columns(requests: Any) -> tuple[Any, ...]:
    return (
        requests.clinic_id,
        requests.id,
        requests.partner_id,
        requests.session_id,
        requests.instrument_id,
    )


GRANT_COLUMNS = _grant_columns(FeedbackRequest)


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


# -- staff side -------------------------------------------------------------------------------


def visible_request_ids() -> sa.Select[tuple[uuid.UUID]]:
    """Ids of the feedback requests (links) the caller may see: those of sessions it may see."""
    return sa.select(FeedbackRequest.id).where(
        FeedbackRequest.session_id.in_(sessions.SESSIONS.ids())
    )


def complete_session(
    session_id: uuid.UUID, time_share: dict[uuid.UUID, int] | None, link_base: str
) -> Completed:
    """Complete the session and ask each partner for feedback, in one transaction."""
    booked = sessions.complete(session_id, time_share)
    instrument = instruments.default_alliance()
    expires_at = utcnow() + timedelta(hours=_link_ttl_hours())
    issued = [
        _issue(booked, partner, instrument, expires_at, link_base)
        for partner in couples.partners_of(booked.couple_id)
        if partner.feedback_channel != "none"
    ]
    notifications.enqueue_event(
        "session.completed", {"session_id": str(booked.id), "couple_id": str(booked.couple_id)}
    )
    return Completed(booked, issued)


def reissue_in_clinic_links(session_id: uuid.UUID, link_base: str) -> list[IssuedLink]:
    """New links for the in-clinic partners who have not answered; old links stop working."""
    booked = sessions.SESSIONS.get(session_id, lock=True, audited=False)
    expires_at = utcnow() + timedelta(hours=_link_ttl_hours())
    open_requests = uow.session().scalars(
        sa.select(FeedbackRequest).where(
            FeedbackRequest.session_id == booked.id,
            FeedbackRequest.channel == "in_clinic",
            FeedbackRequest.status.in_(OPEN),
        )
    )
    issued = []
    for request in open_requests:
        token = routed_secret(request.clinic_id)
        request.token_hash, request.expires_at, request.status = digest(token), expires_at, "open"
        issued.append(
            IssuedLink(request.partner_id, "in_clinic", expires_at, _link(link_base, token))
        )
        audit.record("reissue", "feedback_request", request.id)
    return issued


def expire_due(now: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Links past their expiry are marked expired (any clinic: the worker's job). Returns the
    (clinic id, session id) of each, so the silences they make final can be judged."""
    rows = uow.session().execute(
        sa.update(FeedbackRequest)
        .where(FeedbackRequest.status == "open", FeedbackRequest.expires_at <= now)
        .values(status="expired")
        .returning(FeedbackRequest.clinic_id, FeedbackRequest.session_id)
    )
    return [(clinic_id, session_id) for clinic_id, session_id in rows]


# -- partner side -----------------------------------------------------------------------------


def clinic_of(token: str) -> uuid.UUID | None:
    """The clinic a link belongs to, so it is resolved there: named by the token itself, or,
    for links issued before tokens named their clinic, found across clinics (audited)."""
    routed = route_of(token)
    if routed is not None:
        return routed
    with context.system_context("feedback link"), uow.unit_of_work():
        found = _request_of(token)
        return found.clinic_id if found is not None else None


def resolve_token(token: str) -> Grant:
    """The request a token opens, checked: unknown → 404, expired → 410, answered → 409.
    Read in the link's clinic (`clinic_of`, bound by the link-holder extension)."""
    return _checked(_request_of(token))


def claim_token(token: str) -> Grant:
    """`resolve_token` for an answer: the link closes in the same statement (open →
    answered, a compare-and-set), so of two submitters one finds it answered."""
    session = uow.session()
    claim = _claim(session.get_bind().dialect.name)
    claimed = session.execute(claim, {"digest": digest(token), "now": utcnow()}).first()
    if claimed is None:
        resolve_token(token)  # says why: unknown, answered or expired
        raise Conflict(ANSWERED)
    return Grant(*claimed)


def close(request_id: uuid.UUID) -> None:
    """Open → answered, as a compare-and-set: a second submitter finds nothing to close."""
    closed = uow.session().execute(
        sa.update(FeedbackRequest)
        .where(FeedbackRequest.id == request_id, FeedbackRequest.status.in_(OPEN))
        .values(status="answered", answered_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:
        raise Conflict(ANSWERED)


def _checked(found: sa.Row[Any] | None) -> Grant:
    """A token's lookup (`_request_of`), judged."""
    if found is None or found.status == "revoked":
        raise NotFound(INVALID)
    if found.status == "answered":
        raise Conflict(ANSWERED)
    if found.status == "expired" or found.expires_at <= utcnow():
        raise Gone("This feedback link has expired.")
    return Grant(*found[: len(GRANT_COLUMNS)])


def link_locale(token: str) -> str | None:
    """The locale of the clinic whose link this is (None for an unknown one): the pages that
    say a link was answered or has expired speak the language its form would have."""
    with context.system_context("feedback link language"), uow.unit_of_work():
        found = _request_of(token)
        return clinics.by_id(found.clinic_id).locale if found is not None else None


def form(grant: Grant) -> Form:
    """What the partner sees: the questions, the session's date and therapist, their own first
    name. Reading it is audited."""
    booked = sessions.SESSIONS.get(grant.session_id, audited=False)
    instrument = instruments.get(grant.instrument_id)
    partner = couples.PARTNERS.get(grant.partner_id, audited=False)
    locale = clinics.locale()
    audit.record("read", "feedback_request", grant.request_id)
    return Form(
        clinic_name=clinics.name(),
        session_date=_clinic_date(booked.starts_at),
        therapist_name=staff.public_name(booked.therapist_id),
        first_name=_first_name(partner.display_name),
        title=_pick(instrument.title, locale),
        instrument=instrument,
        locale=locale,
        items=[_localised(item, locale) for item in instrument.items],
    )


# -- internals --------------------------------------------------------------------------------


def _issue(
    booked: TherapySession,
    partner: Any,
    instrument: Instrument,
    expires_at: datetime,
    link_base: str,
) -> IssuedLink:
    token = routed_secret(booked.clinic_id)
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
        lang = i18n.language(clinics.locale())
        notifications.enqueue_email(
            topic="feedback.invitation",
            to=partner.email,
            template="feedback_invitation",
            values={
                "first_name": _first_name(partner.display_name),
                "clinic_name": clinics.name(),
                "session_date": i18n.long_date(_clinic_date(booked.starts_at), lang),
                "url": url,
                "expires": i18n.deadline(expires_at, lang),
            },
            meta={"partner_id": str(partner.id)},
            locale=lang,
        )
        return IssuedLink(partner.id, "email", expires_at)
    return IssuedLink(partner.id, partner.feedback_channel, expires_at, url)


@functools.cache
def _claim(dialect: str) -> sa.Update:
    """The claim, built once per dialect: Core, as the ORM's bulk UPDATE cost twice the
    statement (every submit runs it). On PostgreSQL the session's couple and time come from an
    UPDATE … FROM join (Citus refuses subqueries in RETURNING); SQLite's RETURNING may not name
    a joined table, so there they are correlated subqueries."""
    requests = FeedbackRequest.__table__
    claim = (
        sa.update(requests)
        .where(
            requests.c.token_hash == sa.bindparam("digest"),
            requests.c.status == "open",
            requests.c.expires_at > sa.bindparam("now"),
            in_current_clinic(requests),
        )
        .values(status="answered", answered_at=sa.bindparam("now"))
    )
    if dialect == "sqlite":
        return claim.returning(*_grant_columns(requests.c))
    booked, joined = sessions.joined_on(requests.c.clinic_id, requests.c.session_id)
    return claim.where(joined).returning(
        *_request_columns(requests.c), booked.couple_id, booked.starts_at
    )


def _request_of(token: str) -> sa.Row[Any] | None:
    stmt = sa.select(*GRANT_COLUMNS, FeedbackRequest.status, FeedbackRequest.expires_at)
    return uow.session().execute(stmt.where(FeedbackRequest.token_hash == digest(token))).first()


def _link(link_base: str, token: str) -> str:
    return f"{link_base.rstrip('/')}/f/{token}"


def _link_ttl_hours() -> int:
    return int(clinics.feedback_settings().get("link_ttl_hours", DEFAULT_LINK_TTL_HOURS))


def _clinic_date(moment: datetime) -> date:
    return moment.astimezone(zoneinfo.ZoneInfo(clinics.timezone())).date()


def _first_name(display_name: str) -> str:
    return display_name.split()[0]


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
