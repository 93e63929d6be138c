"""Evaluating alerts on new feedback (DESIGN §8), in the transaction that records it, for
every entry point (partner link, partner form, staff entry, demo import): feedback never
imports alerts. Also the worker's judgement of silences once links expire.

The database side of `service.alerts.engine`: read a bounded window (the last `WINDOW`
completed sessions, so the cost stays flat however long a couple has been in care) and the
couple's open alerts (locked), let the engine decide, store what changed. The submit locks the
session row first (service.feedback.recording), so two partners answering at once are
evaluated one after the other and a split between them is never lost.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from service.alerts import emails, engine, lifecycle, rules
from service.alerts import service as alerts
from service.alerts.models import Alert, AlertOccurrence
from service.alerts.policy import WINDOW
from service.core import metrics
from service.core.clock import utcnow
from service.core.ids import new_id
from service.db import uow
from service.feedback import history, links, recording
from service.feedback.history import History
from service.therapy_sessions import service as sessions

if TYPE_CHECKING:
    from service.feedback.models import FeedbackResponse


def record_partner_feedback(grant: links.Grant, data: dict[str, Any]) -> FeedbackResponse:
    with _one_flush():
        response = recording.submit(grant, data)
        evaluate(response)
    return response


def record_staff_entry(session_id: uuid.UUID, data: dict[str, Any]) -> FeedbackResponse:
    with _one_flush():
        response = recording.enter_for_partner(session_id, data)
        evaluate(response)
    return response


@contextlib.contextmanager
def _one_flush() -> Iterator[None]:
    """A submission reads first and writes once, at its end: every row it adds to one table
    (events, outbox messages, alerts, occurrences) goes in one INSERT."""
    session = uow.session()
    with session.no_autoflush:
        yield
    session.flush()


def evaluate(response: FeedbackResponse) -> list[Alert]:
    """Judge the session just answered and store what it changes."""
    window = history.history(response.couple_id, upto=response.session_at, size=WINDOW)
    return _judge(window, engine.judge_submission, newest=response.instrument_id)


def judge_silences(session_ids: set[uuid.UUID]) -> None:
    """These sessions' links expired (the worker's job, in the clinic's context): their
    silences are final, so judge each one's couple on it, oldest session first."""
    for booked in sessions.completed(session_ids):
        window = history.history(booked.couple_id, upto=booked.starts_at, size=WINDOW)
        _judge(window, engine.judge_silences, newest=None)


def window_of(found: History, newest: uuid.UUID | None) -> engine.Window:
    """The engine's view of a couple's feedback; norms and cutoff of `newest`'s instrument."""
    couple = found.couple
    slots = [
        rules.SessionSlot(
            session_id=str(booked.id),
            session_at=booked.starts_at,
            answered=frozenset(str(r.partner_id) for r in found.responses.get(booked.id, [])),
            time_shares=booked.time_shares,
            asked=asked(couple),
        )
        for booked in found.sessions
    ]
    partners = [
        rules.PartnerHistory(
            str(partner.id),
            tuple(
                observation(response, found)
                for booked in found.sessions
                for response in found.responses.get(booked.id, [])
                if response.partner_id == partner.id
            ),
        )
        for partner in couple.partners
    ]
    instrument = found.instruments.get(newest) if newest else None
    norms = rules.Norms(**instrument.norms) if instrument and instrument.norms else None
    cutoff = instrument.cutoff_pct if instrument else None
    return engine.Window(str(couple.id), partners, slots, norms, cutoff)


def asked(couple: Any) -> frozenset[str]:
    """Partners who are asked for feedback: their channel is not `none` and their data was
    not erased (only they can be missing)."""
    return frozenset(
        str(p.id) for p in couple.partners if p.feedback_channel != "none" and not p.erased_at
    )


def observation(response: FeedbackResponse, found: History) -> rules.Observation:
    instrument = found.instruments[response.instrument_id]
    return rules.Observation(
        session_id=str(response.session_id),
        session_at=response.session_at,
        total=response.total,
        pct=response.pct,
        items=response.answers,
        watch_ranges={
            item["key"]: (item["min"], item["max"])
            for item in instrument.items
            if item.get("watch")
        },
        safety_concern=response.safety_concern,
        instrument=f"{instrument.key}@{instrument.version}",
    )


def _judge(found: History, judge: Any, *, newest: uuid.UUID | None) -> list[Alert]:
    if not found.sessions:
        return []
    now = utcnow()
    open_alerts = _open_alerts(found.couple.id)
    states = {key: _state(alert) for key, alert in open_alerts.items()}
    policy, clinic = alerts.policy_and_clinic()
    steps = judge(window_of(found, newest), policy, states, now)
    news, changed = [], []
    for alert_key, step in steps:
        alert = _stored(found.couple, alert_key, step, open_alerts.get(alert_key))
        changed.append(alert)
        if lifecycle.notifies(step):
            news.append(alert)
    emails.announce(news, clinic, now)  # at most one email per person for this submission
    return changed


def _open_alerts(couple_id: uuid.UUID) -> dict[str, Alert]:
    """The couple's open alerts, locked while this submission decides (all of them, whoever
    the caller: a safety concern is hidden from some readers, never from evaluation)."""
    found = uow.session().scalars(
        sa.select(Alert)
        .where(Alert.couple_id == couple_id, Alert.open_key.is_not(None))
        .with_for_update()
    )
    return {alert.open_key: alert for alert in found}


def _stored(couple: Any, alert_key: str, step: lifecycle.Step, alert: Alert | None) -> Alert:
    state, change = step.state, step.change
    if alert is None:
        alert = Alert(
            id=new_id(),
            clinic_id=couple.clinic_id,
            created_at=utcnow(),
            couple_id=couple.id,
            therapist_id=couple.therapist_id,
            open_key=alert_key,
        )
        uow.session().add(alert)
    alert.concern, alert.rule, alert.severity = state.concern, state.rule, state.severity
    alert.partner_id = uuid.UUID(state.partner_id) if state.partner_id else None
    alert.occurrences, alert.evidence = state.occurrences, state.evidence
    alert.first_session_id = uuid.UUID(state.first_session_id)
    alert.last_session_id = uuid.UUID(state.last_session_id)
    alert.last_session_at, alert.status = state.last_session_at, state.status
    alert.recovered_at = (alert.recovered_at or utcnow()) if state.recovered else None
    if change.occurrence is not None:
        uow.session().add(_occurrence(alert, change.occurrence))
    if change.kind == "created":
        uow.after_commit(metrics.ALERTS_RAISED.labels(state.rule, state.severity).inc)
    if change.kind != "refreshed":
        alerts.publish("alert.created" if change.kind == "created" else "alert.updated", alert)
    return alert


def _occurrence(alert: Alert, occurrence: dict[str, Any]) -> AlertOccurrence:
    return AlertOccurrence(
        alert_id=alert.id,
        session_id=uuid.UUID(occurrence["session_id"]),
        kind=occurrence["kind"],
        severity=occurrence["severity"],
        rules=occurrence["rules"],
        severity_rose=occurrence["severity_rose"],
        evidence=occurrence["evidence"],
    )


def _state(alert: Alert) -> lifecycle.AlertState:
    return lifecycle.AlertState(
        concern=alert.concern,
        rule=alert.rule,
        severity=alert.severity,
        partner_id=str(alert.partner_id) if alert.partner_id else None,
        occurrences=alert.occurrences,
        first_session_id=str(alert.first_session_id),
        last_session_id=str(alert.last_session_id),
        last_session_at=alert.last_session_at,
        evidence=alert.evidence,
        status=alert.status,
        snoozed_until=alert.snoozed_until,
        recovered=alert.recovered_at is not None,
    )
