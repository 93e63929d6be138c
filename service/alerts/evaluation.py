"""Evaluating alerts on new feedback (DESIGN §8), in the transaction that records it, for
every entry point (partner link, partner form, staff entry, demo import): feedback never
imports alerts. Also the worker's judgement of silences once links expire.

Evaluation reads a bounded window (the last `WINDOW` completed sessions), so its cost stays
flat however long a couple has been in care. The submit locks the session row first (in
service.feedback.recording), so two partners answering at once are evaluated one after the
other and a split between them is never lost.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from service.alerts import emails, lifecycle, rules
from service.alerts import service as alerts
from service.alerts.models import Alert
from service.alerts.policy import WINDOW, Policy
from service.couples import service as couples
from service.db import uow
from service.feedback import history, links, recording
from service.feedback.history import History
from service.therapy_sessions import service as sessions

if TYPE_CHECKING:
    from service.feedback.models import FeedbackResponse

MISSING = "missing_feedback"
PREVIEW_SAMPLE = 50


def record_partner_feedback(grant: links.Grant, data: dict[str, Any]) -> FeedbackResponse:
    response = recording.submit(grant, data)
    evaluate(response)
    return response


def record_staff_entry(session_id: uuid.UUID, data: dict[str, Any]) -> FeedbackResponse:
    response = recording.enter_for_partner(session_id, data)
    evaluate(response)
    return response


def evaluate(response: FeedbackResponse) -> list[Alert]:
    """Evaluate the rules for the session just answered and store what they decide."""
    window = history.history(response.couple_id, upto=response.session_at, size=WINDOW)
    decisions = decide(window, alerts.current_policy())
    return [_store(window.couple, decision) for decision in decisions]


def evaluate_expired_links(couple_id: uuid.UUID, session_at: datetime) -> list[Alert]:
    """A session's links expired: its silences are final, so judge `missing_feedback` on the
    sessions up to it (the worker's expiry job calls this, in the clinic's context)."""
    window = history.history(couple_id, upto=session_at, size=WINDOW)
    partners, slots = _rule_inputs(window)
    decisions = (
        rules.evaluate(partners, slots, alerts.current_policy(), only={MISSING}) if slots else []
    )
    return [_store(window.couple, decision) for decision in decisions]


def judge_silences(session_ids: set[uuid.UUID]) -> None:
    """These sessions' links expired: judge each one's couple, oldest session first."""
    for booked in sessions.completed(session_ids):
        evaluate_expired_links(booked.couple_id, booked.starts_at)


def decide(window: History, policy: Policy) -> list[rules.Decision]:
    """Decisions for the newest session of the window. `missing_feedback` looks only at the
    sessions before it: the newest one's links may still be answered."""
    partners, slots = _rule_inputs(window)
    if not slots:
        return []
    newest = window.responses.get(window.sessions[-1].id, [])
    instrument = window.instruments.get(newest[0].instrument_id) if newest else None
    norms = rules.Norms(**instrument.norms) if instrument and instrument.norms else None
    cutoff = instrument.cutoff_pct if instrument else None
    now = rules.evaluate(partners, slots, policy, norms, cutoff, only=set(rules.RULES) - {MISSING})
    earlier = (
        rules.evaluate(
            [
                dataclasses.replace(
                    p,
                    observations=tuple(
                        o for o in p.observations if o.session_id != slots[-1].session_id
                    ),
                )
                for p in partners
            ],
            slots[:-1],
            policy,
            only={MISSING},
        )
        if len(slots) > 1
        else []
    )
    return now + earlier


def _store(couple: Any, decision: rules.Decision) -> Alert:
    """Create or update the open alert for the decision's key (locked while we decide)."""
    session = uow.session()
    alert_key = lifecycle.key(str(couple.id), decision)
    alert = session.scalar(sa.select(Alert).where(Alert.open_key == alert_key).with_for_update())
    state, change = lifecycle.apply(_state(alert) if alert else None, decision)
    if alert is None:
        alert = Alert(
            couple_id=couple.id,
            therapist_id=couple.therapist_id,
            open_key=alert_key,
            partner_id=uuid.UUID(state.partner_id) if state.partner_id else None,
            rule=state.rule,
            first_session_id=uuid.UUID(state.first_session_id),
            last_session_id=uuid.UUID(state.last_session_id),
            severity=state.severity,
            evidence=state.evidence,
        )
        session.add(alert)
    else:
        alert.severity, alert.occurrences, alert.evidence = (
            state.severity,
            state.occurrences,
            state.evidence,
        )
        alert.last_session_id = uuid.UUID(state.last_session_id)
        if change == "escalated":
            alert.status = "open"  # a worse signal needs attention again, even if snoozed
    session.flush()
    if change != "same":
        alerts.publish("alert.created" if change == "created" else "alert.updated", alert)
    emails.alert_changed(alert, change)  # emails to staff when created or escalated
    return alert


def _state(alert: Alert) -> lifecycle.AlertState:
    return lifecycle.AlertState(
        alert.rule,
        alert.severity,
        str(alert.partner_id) if alert.partner_id else None,
        alert.occurrences,
        str(alert.first_session_id),
        str(alert.last_session_id),
        alert.evidence,
    )


def _rule_inputs(
    window: History,
) -> tuple[list[rules.PartnerHistory], list[rules.SessionSlot]]:
    slots = [
        rules.SessionSlot(
            session_id=str(booked.id),
            session_at=booked.starts_at,
            answered=frozenset(str(r.partner_id) for r in window.responses.get(booked.id, [])),
            time_shares=booked.time_shares,
        )
        for booked in window.sessions
    ]
    partners = [
        rules.PartnerHistory(
            str(partner.id),
            tuple(
                _observation(response, window)
                for booked in window.sessions
                for response in window.responses.get(booked.id, [])
                if response.partner_id == partner.id
            ),
        )
        for partner in window.couple.partners
    ]
    return partners, slots


def _observation(response: FeedbackResponse, window: History) -> rules.Observation:
    instrument = window.instruments[response.instrument_id]
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
    )


def preview(data: dict[str, Any]) -> dict[str, Any]:
    """Replay a candidate policy over the clinic's whole history, writing nothing: what it
    would have raised, counted per rule and severity, with a sample."""
    candidate = alerts.parse_policy(data)
    final: dict[str, tuple[str, lifecycle.AlertState]] = {}
    for couple_id in uow.session().scalars(couples.COUPLES.ids()):
        everything = history.history(couple_id)
        for index, booked in enumerate(everything.sessions):
            if not everything.responses.get(booked.id):
                continue  # nobody answered: no submission, no evaluation
            window = dataclasses.replace(
                everything, sessions=everything.sessions[max(0, index + 1 - WINDOW) : index + 1]
            )
            for decision in decide(window, candidate):
                alert_key = lifecycle.key(str(couple_id), decision)
                state, _ = lifecycle.apply(final.get(alert_key, (None, None))[1], decision)
                final[alert_key] = (str(couple_id), state)
    counts = Counter((state.rule, state.severity) for _, state in final.values())
    sample = [_preview_item(couple_id, state) for couple_id, state in final.values()]
    return {
        "total": len(final),
        "counts": [{"rule": r, "severity": s, "count": n} for (r, s), n in sorted(counts.items())],
        "alerts": sample[:PREVIEW_SAMPLE],
    }


def _preview_item(couple_id: str, state: lifecycle.AlertState) -> dict[str, Any]:
    return {
        "couple_id": couple_id,
        "partner_id": state.partner_id,
        "rule": state.rule,
        "severity": state.severity,
        "occurrences": state.occurrences,
        "first_session_id": state.first_session_id,
        "last_session_id": state.last_session_id,
        "evidence": state.evidence,
    }
