"""Alert use-cases. Recording feedback and evaluating alerts happen here, in one transaction,
for every entry point (partner link, partner form, staff entry, demo import): feedback never
imports alerts.

Evaluation reads a bounded window (the last `WINDOW` completed sessions), so its cost stays
flat however long a couple has been in care.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.alerts import emails, lifecycle, rules
from service.alerts.models import Alert, AlertPolicy
from service.audit import service as audit
from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Invalid, NotFound
from service.core.paging import Page, PageRequest
from service.couples import service as couples
from service.db import uow
from service.db.keyset import keyset_page
from service.feedback import service as feedback
from service.feedback.models import FeedbackResponse
from service.notifications import service as notifications

WINDOW = 8
PREVIEW_SAMPLE = 50
MAX_SNOOZE = timedelta(days=90)
OPEN_STATUSES = ("open", "acknowledged", "snoozed")
MISSING = "missing_feedback"
PRIVATE_RULE = "safety_concern"  # it reveals the private safety box (DESIGN §7)


# -- recording feedback (every entry point) -------------------------------------------------


def record_partner_feedback(grant: feedback.Grant, data: dict[str, Any]) -> FeedbackResponse:
    response = feedback.submit(grant, data)
    evaluate(response)
    return response


def record_staff_entry(session_id: uuid.UUID, data: dict[str, Any]) -> FeedbackResponse:
    response = feedback.enter_for_partner(session_id, data)
    evaluate(response)
    return response


def evaluate(response: FeedbackResponse) -> list[Alert]:
    """Evaluate the rules for the session just answered and store what they decide."""
    window = feedback.history(response.couple_id, upto=response.session_at, size=WINDOW)
    decisions = decide(window, current_policy())
    return [_store(window.couple, decision) for decision in decisions]


def evaluate_expired_links(couple_id: uuid.UUID, session_at: datetime) -> list[Alert]:
    """A session's links expired: its silences are final, so judge `missing_feedback` on the
    sessions up to it (the worker's expiry job calls this, in the clinic's context)."""
    window = feedback.history(couple_id, upto=session_at, size=WINDOW)
    partners, slots = _rule_inputs(window)
    decisions = rules.evaluate(partners, slots, current_policy(), only={MISSING}) if slots else []
    return [_store(window.couple, decision) for decision in decisions]


def decide(window: feedback.History, policy: rules.Policy) -> list[rules.Decision]:
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


# -- policy ---------------------------------------------------------------------------------


def current_policy() -> rules.Policy:
    record = _policy_record()
    return rules.Policy.from_dict(record.settings) if record else rules.Policy.default()


def policy_with_version() -> tuple[rules.Policy, int]:
    record = _policy_record()
    if record is None:
        return rules.Policy.default(), 0
    return rules.Policy.from_dict(record.settings), record.version


def replace_policy(data: dict[str, Any], check_version: Any) -> tuple[rules.Policy, int]:
    candidate = _parse_policy(data)
    record = _policy_record(for_update=True)
    check_version(record.version if record else 0)
    if record is None:
        record = AlertPolicy(settings=candidate.to_dict())
        uow.session().add(record)
    else:
        record.settings = candidate.to_dict()
    uow.session().flush()
    audit.record("update", "alert_policy", record.id)
    return candidate, record.version


def preview(data: dict[str, Any]) -> dict[str, Any]:
    """Replay a candidate policy over the clinic's whole history, writing nothing: what it
    would have raised, counted per rule and severity, with a sample."""
    candidate = _parse_policy(data)
    final: dict[str, tuple[str, lifecycle.AlertState]] = {}
    for couple_id in uow.session().scalars(couples.visible_ids()):
        everything = feedback.history(couple_id)
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


# -- alerts ---------------------------------------------------------------------------------


def visible() -> sa.Select[tuple[Alert]]:
    """Alerts of the couples the caller may see (a therapist: their caseload). A safety
    concern reveals the partner's private box: clinicians only, never integrator clients."""
    stmt = sa.select(Alert).where(Alert.couple_id.in_(couples.visible_ids()))
    actor = context.actor()
    if actor is None or actor.kind != "staff":
        stmt = stmt.where(Alert.rule != PRIVATE_RULE)
    return stmt


def list_alerts(page: PageRequest, **filters: Any) -> Page[Alert]:
    stmt = visible()
    for name in ("status", "severity", "rule", "couple_id", "partner_id", "therapist_id"):
        if filters.get(name) is not None:
            stmt = stmt.where(getattr(Alert, name) == filters[name])
    if filters.get("since") is not None:
        stmt = stmt.where(Alert.updated_at >= filters["since"])
    result = keyset_page(stmt, Alert, page)
    audit.record_many("read", "alert", [alert.id for alert in result.items])  # scores inside
    return result


def active_for_couple(couple_id: uuid.UUID) -> list[Alert]:
    return list(
        uow.session().scalars(
            visible()
            .where(Alert.couple_id == couple_id, Alert.status.in_(OPEN_STATUSES))
            .order_by(Alert.created_at)
        )
    )


def get(alert_id: uuid.UUID, *, lock: bool = False, audit_read: bool = True) -> Alert:
    stmt = visible().where(Alert.id == alert_id)
    if lock:
        stmt = stmt.with_for_update(of=Alert)
    alert = uow.session().scalar(stmt)
    if alert is None:
        raise NotFound("Alert not found.")
    if audit_read:
        audit.record("read", "alert", alert.id)
    return alert


def acknowledge(alert_id: uuid.UUID) -> Alert:
    alert = _open(alert_id)
    alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", utcnow(), _who()
    return _changed(alert, "acknowledge", "alert.updated")


def snooze(alert_id: uuid.UUID, until: datetime) -> Alert:
    alert = _open(alert_id)
    if not utcnow() < until <= utcnow() + MAX_SNOOZE:
        raise Invalid(
            "Snooze until a moment in the next 90 days.",
            errors={"until": ["Must be in the future, at most 90 days ahead."]},
        )
    alert.status, alert.snoozed_until = "snoozed", until
    return _changed(alert, "snooze", "alert.updated")


def resolve(alert_id: uuid.UUID, note: str | None) -> Alert:
    alert = _open(alert_id)
    alert.status, alert.resolved_at, alert.resolved_by = "resolved", utcnow(), _who()
    alert.resolution_note, alert.open_key = note, None  # the key is free: never reopened
    return _changed(alert, "resolve", "alert.resolved")


# -- internals ------------------------------------------------------------------------------


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
        _publish("alert.created" if change == "created" else "alert.updated", alert)
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
    window: feedback.History,
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


def _observation(response: FeedbackResponse, window: feedback.History) -> rules.Observation:
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


def _parse_policy(data: dict[str, Any]) -> rules.Policy:
    try:
        return rules.Policy.from_dict(data)
    except rules.PolicyError as exc:
        raise Invalid("The policy has values that make no sense.", errors=exc.errors) from exc


def _policy_record(*, for_update: bool = False) -> AlertPolicy | None:
    stmt = sa.select(AlertPolicy)
    if for_update:
        stmt = stmt.with_for_update()
    return uow.session().scalar(stmt)


def _open(alert_id: uuid.UUID) -> Alert:
    alert = get(alert_id, lock=True, audit_read=False)
    if alert.status == "resolved":
        raise Conflict(
            "This alert is resolved; a new signal raises a new alert.",
            errors={"status": ["Resolved."]},
        )
    return alert


def _changed(alert: Alert, action: str, topic: str) -> Alert:
    uow.session().flush()
    audit.record(action, "alert", alert.id)
    _publish(topic, alert)
    return alert


def _publish(topic: str, alert: Alert) -> None:
    """An event for webhooks and the feed; a safety concern never leaves for integrators."""
    if alert.rule != PRIVATE_RULE:
        notifications.enqueue_event(topic, _event(alert))


def _who() -> uuid.UUID | None:
    actor = context.actor()
    return actor.staff_id if actor else None


def _event(alert: Alert) -> dict[str, Any]:
    """Ids, rule and severity only: no names, scores or answers (DESIGN §9)."""
    return {
        "alert_id": str(alert.id),
        "couple_id": str(alert.couple_id),
        "partner_id": str(alert.partner_id) if alert.partner_id else None,
        "rule": alert.rule,
        "severity": alert.severity,
        "status": alert.status,
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
