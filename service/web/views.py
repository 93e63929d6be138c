"""What the clinician pages show, gathered through the same use-cases the API calls (so the
caseload scoping and the audit of every read are theirs), and the forms those pages read.

A partner's private comment and safety box appear here for clinicians only (DESIGN §7).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from markupsafe import Markup

from service.alerts import explain
from service.alerts import service as alerts
from service.alerts.lifecycle import COUPLE_CONCERNS
from service.alerts.policy import RULES
from service.alerts.schemas import STATUSES, ResolveSchema
from service.clinics import service as clinics
from service.core import context
from service.feedback import history
from service.staff import service as staff
from service.therapy_sessions import service as sessions

PAGE_SIZE = 25
ACTIVE = "active"  # the inbox's default: every status but resolved
ACTIONS = ("acknowledge", "snooze", "resolve")


class InboxQuery(ma.Schema):
    status = ma.fields.String(load_default=ACTIVE, validate=ma.validate.OneOf([ACTIVE, *STATUSES]))
    rule = ma.fields.String(validate=ma.validate.OneOf(RULES))
    therapist = ma.fields.UUID()
    couple = ma.fields.UUID()
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, 10_000))


class ActionForm(ma.Schema):
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(ACTIONS))
    until = ma.fields.Date()
    note = ResolveSchema().fields["note"]


def read_form(schema: ma.Schema, values: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Loaded values and errors by field. Empty fields count as not given (a select's "All");
    fields a page does not know are ignored (a browser may add some)."""
    given = {key: value for key, value in values.items() if value != "" and key in schema.fields}
    try:
        return schema.load(given), {}
    except ma.ValidationError as error:
        messages = error.normalized_messages()
        return {}, {field: list(found) for field, found in messages.items()}


# -- the inbox ------------------------------------------------------------------------------


def inbox(query: dict[str, Any]) -> dict[str, Any]:
    status = query.get("status", ACTIVE)
    statuses = alerts.OPEN_STATUSES if status == ACTIVE else (status,)
    found = alerts.inbox(
        query.get("page", 1),
        PAGE_SIZE,
        statuses,
        rule=query.get("rule"),
        therapist_id=query.get("therapist"),
        couple_id=query.get("couple"),
    )
    couples = alerts.alerting_couples(statuses)
    return {
        "inbox": found,
        "query": query,
        "couples": couples,
        "therapists": staff.therapist_names() if _sees_clinic() else {},
        "rules": {rule: explain.rule_words(rule) for rule in RULES},
        "statuses": (ACTIVE, *STATUSES),
    }


def _sees_clinic() -> bool:
    actor = context.actor()
    return actor is not None and actor.has_role("admin", "supervisor")


# -- an alert -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateNote:
    """What a partner told only their clinicians, for the session of an alert."""

    name: str
    comment: str | None
    safety_concern: bool


def alert_page(alert_id: uuid.UUID) -> dict[str, Any]:
    view = alerts.get(alert_id)
    alliance = alerts.alliance(view.resource.couple_id)
    return {
        "alert": view,
        "facts": explain.facts(view.resource.evidence or {}),
        **_couple_parts(alliance),
        "notes": _private_notes(view.resource, alliance.resource.couple),
    }


def _private_notes(alert: Any, couple: Any) -> list[PrivateNote]:
    """The comment and safety box of the partner an alert is about (both, for a split)."""
    if alert.last_session_id is None:
        return []
    names = {partner.id: partner.display_name for partner in couple.partners}
    about = {alert.partner_id} if alert.concern not in COUPLE_CONCERNS else set(names)
    return [
        PrivateNote(names.get(response.partner_id, ""), response.comment, response.safety_concern)
        for response in history.session_responses(alert.last_session_id)
        if response.partner_id in about and (response.comment or response.safety_concern)
    ]


def snooze_until(day: date) -> datetime:
    """A snooze "until" a day ends at the start of that day in the clinic's time zone."""
    return datetime.combine(day, time(0), ZoneInfo(clinics.timezone()))


# -- a couple -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    starts_at: datetime
    status: str
    scores: list[float | None]  # per partner, in order; None: no answer


def couple_page(couple_id: uuid.UUID) -> dict[str, Any]:
    alliance = alerts.alliance(couple_id)
    return {
        **_couple_parts(alliance),
        "open_alerts": alliance.alerts,
        "resolved_alerts": alerts.recently_resolved(couple_id),
        "sessions": _session_rows(alliance.resource),
    }


def _couple_parts(alliance: alerts.AllianceView) -> dict[str, Any]:
    return {
        "couple": alliance.resource.couple,
        "partners": alliance.resource.partners,
        "chart": Markup(alliance.chart()),  # noqa: S704 - built by alerts.chart, names escaped
        "scores": _score_rows(alliance.resource),
    }


def _score_rows(found: history.Alliance) -> list[tuple[datetime, list[float | None]]]:
    """The chart's numbers as a table: per completed session, each partner's rating (%)."""
    return [(at, _ratings(found, session_id)) for session_id, at in found.sessions]


def _session_rows(found: history.Alliance) -> list[SessionRow]:
    """Every session of the couple, newest first, with the ratings it received."""
    return [
        SessionRow(booked.starts_at, booked.status, _ratings(found, booked.id))
        for booked in reversed(sessions.of_couple(found.couple_id))
    ]


def _ratings(found: history.Alliance, session_id: uuid.UUID) -> list[float | None]:
    return [
        next((p.pct for p in partner.points if p.session_id == session_id), None)
        for partner in found.partners
    ]
