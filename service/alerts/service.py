"""Alert use-cases: reading alerts (scoped to the caller's caseload, with their summary and
explanation in words), acting on them (acknowledge, snooze, resolve), the clinic's policy, each
couple's alliance with its active alerts, and the events an alert's changes publish.
Evaluation is in `evaluation`, the policy preview in `backtest`.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.alerts import chart, explain
from service.alerts.models import Alert, AlertOccurrence, AlertPolicy
from service.alerts.policy import SEVERITIES, Policy, PolicyError
from service.clinics import service as clinics
from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Invalid, NotFound
from service.core.paging import Page, PageRequest
from service.couples import service as couples
from service.db import audit, uow
from service.db.lookup import Lookup
from service.feedback import history
from service.instruments import service as instruments
from service.notifications import service as notifications
from service.therapy_sessions import service as sessions

MAX_SNOOZE = timedelta(days=90)
OPEN_STATUSES = ("open", "acknowledged", "snoozed")
PRIVATE = "safety"  # a safety concern reveals the private safety box (DESIGN §7)
EQUALITY_FILTERS = (
    "status",
    "severity",
    "rule",
    "concern",
    "couple_id",
    "partner_id",
    "therapist_id",
)
SEVERITY_RANK = sa.case({s: rank for rank, s in enumerate(SEVERITIES)}, value=Alert.severity)


def _visible(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Alerts of the couples the caller may see (a therapist: their caseload). A safety
    concern reveals the partner's private box: clinicians only, never integrator clients."""
    stmt = stmt.where(Alert.couple_id.in_(couples.COUPLES.ids()))
    actor = context.actor()
    if actor is None or actor.kind != "staff":
        stmt = stmt.where(Alert.concern != PRIVATE)
    return stmt


# Reading alerts is audited: their evidence holds scores.
ALERTS = Lookup(Alert, "alert", "Alert not found.", visible=_visible)


@dataclass(frozen=True)
class AlertView:
    """An alert as a clinician reads it: in words, with first names (never in emails,
    webhooks or the feed), and for a single alert its occurrences."""

    resource: Alert
    summary: str
    explanation: str
    rules: list[str]
    history: list[AlertOccurrence] | None = None


@dataclass(frozen=True)
class AllianceView:
    """A couple's alliance series with its active alerts."""

    resource: history.Alliance
    alerts: list[AlertView]

    def chart(self) -> str:
        """The SVG chart: both partners' lines, the cutoff, these active alerts."""
        return chart.render(self.resource, [alert.resource for alert in self.alerts])


def alliance(couple_id: uuid.UUID, *, audited: bool = True) -> AllianceView:
    found = history.alliance(couple_id, cutoff_pct(), audited=audited)
    active = active_for_couple(couple_id)
    if audited:
        ALERTS.audit_read(active)
    return AllianceView(found, present(active))


@dataclass(frozen=True)
class AllianceChart:
    """A couple's chart as of what it is drawn from: its entity tag, and the SVG drawn once
    per tag in each process."""

    couple_id: uuid.UUID
    etag: str

    def svg(self) -> str:
        return _drawn(self.couple_id, self.etag)


def alliance_chart(couple_id: uuid.UUID) -> AllianceChart:
    """The chart's version, from one read of everything it shows (the couple and partners,
    sessions, answers, the active alerts the caller may see, the clinic and its policy); 404
    outside the caseload. The read is audited as one event, drawn or not."""
    marks = (
        uow.session()
        .execute(
            sa.select(
                *couples.change_marks(couple_id),
                *sessions.change_marks(couple_id),
                *history.change_marks(couple_id),
                *ALERTS.change_marks(Alert.couple_id == couple_id, Alert.status.in_(OPEN_STATUSES)),
                *clinics.change_marks(),
                sa.select(AlertPolicy.version).scalar_subquery(),
            )
        )
        .one()
    )
    if not marks[0]:
        raise NotFound(couples.COUPLES.not_found)
    audit.record("read", "alliance_chart", couple_id)
    version = repr((context.clinic_id(), couple_id, *marks)).encode()
    return AllianceChart(couple_id, f'"{hashlib.sha256(version).hexdigest()[:32]}"')


@functools.lru_cache(maxsize=512)
def _drawn(couple_id: uuid.UUID, etag: str) -> str:
    """Drawn once per version (`etag`, the cache key) of a couple's chart; the caller has
    just checked that it may see the couple."""
    return alliance(couple_id, audited=False).chart()


def cutoff_pct() -> float:
    """The clinic's cutoff: its default instrument's own, else its policy's (DESIGN §8)."""
    own = instruments.default_alliance().cutoff_pct
    return own if own is not None else current_policy().low_alliance.threshold


def present(found: list[Alert]) -> list[AlertView]:
    """Alerts in words, with their partners' first names (one read for all of them)."""
    names = couples.first_names({alert.couple_id for alert in found})
    return [_view(alert, names) for alert in found]


def _view(alert: Alert, names: dict[str, str], occurrences: list | None = None) -> AlertView:
    evidence = alert.evidence or {}
    rules = [evidence.get("rule", alert.rule)] + [o.get("rule") for o in evidence.get("others", [])]
    return AlertView(
        alert,
        explain.summary(evidence, names),
        explain.explanation(evidence, names),
        [rule for rule in rules if rule],
        occurrences,
    )


def policy_and_clinic() -> tuple[Policy, Any]:
    """The clinic's policy and the clinic itself (its email settings), in one read."""
    clinic, settings = clinics.own_with(AlertPolicy.settings)
    return (Policy.default() if settings is None else Policy.from_dict(settings)), clinic


def current_policy() -> Policy:
    record = _policy_record()
    return Policy.from_dict(record.settings) if record else Policy.default()


def policy_with_version() -> tuple[Policy, int]:
    record = _policy_record()
    if record is None:
        return Policy.default(), 0
    return Policy.from_dict(record.settings), record.version


def replace_policy(data: dict[str, Any], check_version: Any) -> tuple[Policy, int]:
    candidate = parse_policy(data)
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


# -- alerts ---------------------------------------------------------------------------------


def list_alerts(page: PageRequest, **filters: Any) -> Page[AlertView]:
    found = ALERTS.page(_filtered(ALERTS.query(), filters), page)
    return Page(present(found.items), found.next_after)


@dataclass(frozen=True)
class Inbox:
    items: list[AlertView]
    number: int
    has_next: bool


def inbox(number: int, size: int, statuses: tuple[str, ...], **filters: Any) -> Inbox:
    """A numbered page of the caller's alerts, most severe first, then the longest waiting."""
    stmt = (
        _filtered(ALERTS.query().where(Alert.status.in_(statuses)), filters)
        .order_by(SEVERITY_RANK.desc(), Alert.created_at, Alert.id)
        .offset((number - 1) * size)
        .limit(size + 1)
    )
    found = list(uow.session().scalars(stmt))
    ALERTS.audit_read(found[:size])
    return Inbox(present(found[:size]), number, len(found) > size)


def alerting_couples(statuses: tuple[str, ...] = OPEN_STATUSES) -> dict[uuid.UUID, str]:
    """Couple id → label, for the couples with alerts in these statuses the caller may see."""
    stmt = ALERTS.query().where(Alert.status.in_(statuses)).with_only_columns(Alert.couple_id)
    return couples.labels(set(uow.session().scalars(stmt.distinct())))


def recently_resolved(couple_id: uuid.UUID, limit: int = 10) -> list[AlertView]:
    """A couple's most recently resolved alerts, newest first."""
    resolved = list(
        uow.session().scalars(
            ALERTS.query()
            .where(Alert.couple_id == couple_id, Alert.status == "resolved")
            .order_by(Alert.resolved_at.desc(), Alert.id)
            .limit(limit)
        )
    )
    ALERTS.audit_read(resolved)
    return present(resolved)


def _filtered(stmt: sa.Select[Any], filters: dict[str, Any]) -> sa.Select[Any]:
    for name in EQUALITY_FILTERS:
        if filters.get(name) is not None:
            stmt = stmt.where(getattr(Alert, name) == filters[name])
    if filters.get("recovered") is not None:
        recovered = Alert.recovered_at.is_not(None)
        stmt = stmt.where(recovered if filters["recovered"] else ~recovered)
    if filters.get("since") is not None:
        stmt = stmt.where(Alert.updated_at >= filters["since"])
    return stmt


def active_for_couple(couple_id: uuid.UUID) -> list[Alert]:
    return list(
        uow.session().scalars(
            ALERTS.query()
            .where(Alert.couple_id == couple_id, Alert.status.in_(OPEN_STATUSES))
            .order_by(Alert.created_at)
        )
    )


def get(alert_id: uuid.UUID) -> AlertView:
    """One alert, with each occurrence and its own evidence, oldest first."""
    alert = ALERTS.get(alert_id)
    occurrences = list(
        uow.session().scalars(
            sa.select(AlertOccurrence)
            .where(AlertOccurrence.alert_id == alert.id)
            .order_by(AlertOccurrence.created_at, AlertOccurrence.id)
        )
    )
    return _view(alert, couples.first_names({alert.couple_id}), occurrences)


def wake_snoozed(now: datetime) -> int:
    """Job: snoozes end at their `until`; the alerts are open again (any clinic)."""
    woken = (
        uow.session()
        .scalars(
            sa.update(Alert)
            .where(Alert.status == "snoozed", Alert.snoozed_until <= now)
            .values(status="open")
            .returning(Alert)
        )
        .all()
    )
    for alert in woken:
        publish("alert.updated", alert)
    return len(woken)


def acknowledge(alert_id: uuid.UUID) -> AlertView:
    alert = _open(alert_id)
    alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", utcnow(), _who()
    return _changed(alert, "acknowledge", "alert.updated")


def snooze(alert_id: uuid.UUID, until: datetime) -> AlertView:
    alert = _open(alert_id)
    if not utcnow() < until <= utcnow() + MAX_SNOOZE:
        raise Invalid(
            "Snooze until a moment in the next 90 days.",
            errors={"until": ["Must be in the future, at most 90 days ahead."]},
        )
    alert.status, alert.snoozed_until = "snoozed", until
    return _changed(alert, "snooze", "alert.updated")


def resolve(alert_id: uuid.UUID, note: str | None) -> AlertView:
    alert = _open(alert_id)
    alert.status, alert.resolved_at, alert.resolved_by = "resolved", utcnow(), _who()
    alert.resolution_note, alert.open_key = note, None  # the key is free: never reopened
    return _changed(alert, "resolve", "alert.resolved")


# -- internals ------------------------------------------------------------------------------


def parse_policy(data: dict[str, Any]) -> Policy:
    try:
        return Policy.from_dict(data)
    except PolicyError as exc:
        raise Invalid("The policy has values that make no sense.", errors=exc.errors) from exc


def _policy_record(*, for_update: bool = False) -> AlertPolicy | None:
    stmt = sa.select(AlertPolicy)
    if for_update:
        stmt = stmt.with_for_update()
    return uow.session().scalar(stmt)


def _open(alert_id: uuid.UUID) -> Alert:
    alert = ALERTS.get(alert_id, lock=True, audited=False)
    if alert.status == "resolved":
        raise Conflict(
            "This alert is resolved; a new signal raises a new alert.",
            errors={"status": ["Resolved."]},
        )
    return alert


def _changed(alert: Alert, action: str, topic: str) -> AlertView:
    uow.session().flush()
    audit.record(action, "alert", alert.id)
    publish(topic, alert)
    return present([alert])[0]


def publish(topic: str, alert: Alert) -> None:
    """An event for webhooks and the feed; a safety concern never leaves for integrators."""
    if alert.concern != PRIVATE:
        notifications.enqueue_event(topic, _event(alert), clinic_id=alert.clinic_id)


def _who() -> uuid.UUID | None:
    actor = context.actor()
    return actor.staff_id if actor else None


def _event(alert: Alert) -> dict[str, Any]:
    """Ids, rule and severity only: no names, scores or answers (DESIGN §9)."""
    return {
        "alert_id": str(alert.id),
        "couple_id": str(alert.couple_id),
        "partner_id": str(alert.partner_id) if alert.partner_id else None,
        "concern": alert.concern,
        "rule": alert.rule,
        "severity": alert.severity,
        "status": alert.status,
    }
