"""One concern, one alert (DESIGN §8): how the decisions of a submission change the open
alerts. Pure: the same functions serve live evaluation, the policy backtest and the bench, so
a preview replays exactly what would be stored.

- The decisions for one partner (or, for couple concerns, the couple) in one submission form a
  *finding* per concern, led by its strongest rule; the others ride along with their evidence.
- No open alert for the finding's key → created. An open one, a new session → a new
  occurrence (escalated if severity rose, relapsed if it had recovered); the same session
  again (the second partner's answers arrive) → refreshed evidence, escalated if severity rose.
  Severity never drops within an alert; a late answer for an older session never moves the
  alert's last session backwards.
- A safety tick is always news: every tick notifies, whatever the alert's state.
- An alert whose condition has not held for two answered sessions running is recovered:
  still open to a person's resolve. A resolved alert is never reopened; its key is released.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from service.alerts.policy import SEVERITIES
from service.alerts.rules import Decision

CONCERNS = {
    "low_alliance": "alliance",
    "alliance_drop": "alliance",
    "reliable_drop": "alliance",
    "personal_drop": "alliance",
    "downward_trend": "alliance",
    "watch_item": "alliance",
    "split_alliance": "split",
    "airtime_imbalance": "airtime",
    "missing_feedback": "silence",
    "couple_silent": "silence",
    "safety_concern": "safety",
}
# A split is one alert per couple; its `partner_id` names the partner who is lower now.
COUPLE_CONCERNS = frozenset({"split"})
# Which rule leads a finding when severities tie: the one that tells the therapist most.
STRENGTH = (
    "safety_concern",
    "reliable_drop",
    "personal_drop",
    "alliance_drop",
    "downward_trend",
    "split_alliance",
    "low_alliance",
    "watch_item",
    "couple_silent",
    "missing_feedback",
    "airtime_imbalance",
)
RECOVERED_AFTER = 2  # answered sessions running without the condition (DESIGN §8)
# What a therapist is told of (emailed): a relapse after recovery is not news by itself, the
# alert never left their inbox, and flicker around a threshold would be noise.
NEWS = frozenset({"created", "escalated", "ticked"})


@dataclass(frozen=True)
class Finding:
    """One concern of one partner (or the couple) in one submission."""

    concern: str
    partner_id: str | None  # who it is about (a split: the lower partner)
    session_id: str
    session_at: datetime
    decisions: tuple[Decision, ...]  # strongest first

    @property
    def key_partner(self) -> str | None:
        return None if self.concern in COUPLE_CONCERNS else self.partner_id

    @property
    def leading(self) -> Decision:
        return self.decisions[0]

    @property
    def severity(self) -> str:
        return self.leading.severity

    @property
    def evidence(self) -> dict[str, Any]:
        """The leading rule's evidence, with the other rules' beside it."""
        return {**self.leading.evidence, "others": [d.evidence for d in self.decisions[1:]]}


@dataclass(frozen=True)
class AlertState:
    concern: str
    rule: str  # the leading rule of the latest finding
    severity: str  # the highest so far
    partner_id: str | None
    occurrences: int
    first_session_id: str
    last_session_id: str
    last_session_at: datetime
    evidence: dict[str, Any]
    status: str = "open"
    snoozed_until: datetime | None = None
    recovered: bool = False


@dataclass(frozen=True)
class Change:
    """What a finding (or a quiet stretch) did to an alert. `occurrence` is the record kept for
    each new session: its session, severity, rules, evidence and why severity rose."""

    kind: str  # created escalated relapsed ticked repeated refreshed recovered
    occurrence: dict[str, Any] | None = None
    previous_severity: str | None = None

    @property
    def is_news(self) -> bool:
        return self.kind in NEWS


@dataclass(frozen=True)
class Step:
    state: AlertState
    change: Change


def findings(decisions: Iterable[Decision], session_at: datetime) -> list[Finding]:
    """Group one submission's decisions by concern and partner; strongest rule first."""
    grouped: dict[tuple[str, str | None], list[Decision]] = {}
    for decision in decisions:
        concern = CONCERNS[decision.rule]
        key_partner = None if concern in COUPLE_CONCERNS else decision.partner_id
        grouped.setdefault((concern, key_partner), []).append(decision)
    return [
        Finding(concern, group[0].partner_id, group[0].session_id, session_at, _strongest(group))
        for (concern, _key), group in grouped.items()
    ]


def key(couple_id: str, concern: str, partner_id: str | None) -> str:
    return f"{couple_id}:{partner_id or '-'}:{concern}"


def apply(current: AlertState | None, finding: Finding, now: datetime) -> Step:
    """The alert after this finding, and what happened to it."""
    if current is None:
        state = AlertState(
            finding.concern,
            finding.leading.rule,
            finding.severity,
            finding.partner_id,
            1,
            finding.session_id,
            finding.session_id,
            finding.session_at,
            finding.evidence,
        )
        return Step(state, Change("created", _occurrence(finding, "created", None)))
    new_session = finding.session_id != current.last_session_id
    severity = max(current.severity, finding.severity, key=SEVERITIES.index)
    kind = _kind(current, finding, severity, new_session)
    later = finding.session_at >= current.last_session_at
    state = replace(
        current,
        rule=finding.leading.rule,
        severity=severity,
        partner_id=finding.partner_id,
        occurrences=current.occurrences + (1 if new_session else 0),
        last_session_id=finding.session_id if later else current.last_session_id,
        last_session_at=finding.session_at if later else current.last_session_at,
        evidence=finding.evidence,
        status="open" if kind in NEWS else _awake(current, now),
        recovered=False,
    )
    occurrence = _occurrence(finding, kind, current.severity) if new_session else None
    return Step(state, Change(kind, occurrence, current.severity))


def quiet(current: AlertState, answered_since: int) -> Step | None:
    """The concern did not fire in the newest answered session: after RECOVERED_AFTER such
    sessions running (counted since the alert's last session), the alert is recovered."""
    if current.recovered or answered_since < RECOVERED_AFTER:
        return None
    return Step(replace(current, recovered=True), Change("recovered"))


def notifies(step: Step) -> bool:
    """Whether this change is worth an email: news (which also wakes a snoozed alert); a
    safety tick always is. Info alerts wait in the inbox."""
    return step.change.is_news and (step.change.kind == "ticked" or step.state.severity != "info")


def answered_since(
    concern: str,
    partner_id: str | None,
    since: datetime,
    answered: Sequence[tuple[datetime, frozenset[str], bool]],
) -> int:
    """Sessions after `since` that count towards recovery: for a partner's concern, those the
    partner answered; for a split, those both answered; for a silent couple, those anyone
    answered; for airtime, those with time shares (`answered`: each session's time, who
    answered, whether time shares were recorded)."""
    count = 0
    for session_at, who, shares in answered:
        if session_at <= since:
            continue
        if concern == "airtime":
            count += shares
        elif concern in COUPLE_CONCERNS:
            count += len(who) >= 2
        elif partner_id is None:
            count += bool(who)
        else:
            count += partner_id in who
    return count


def _kind(current: AlertState, finding: Finding, severity: str, new_session: bool) -> str:
    if finding.concern == "safety" and new_session:
        return "ticked"
    if severity != current.severity:
        return "escalated"
    if current.recovered and new_session:
        return "relapsed"
    return "repeated" if new_session else "refreshed"


def _awake(current: AlertState, now: datetime) -> str:
    """A snooze ends at its `until`: the alert is open again."""
    if current.status == "snoozed" and current.snoozed_until and current.snoozed_until <= now:
        return "open"
    return current.status


def _strongest(group: list[Decision]) -> tuple[Decision, ...]:
    return tuple(
        sorted(group, key=lambda d: (-SEVERITIES.index(d.severity), STRENGTH.index(d.rule)))
    )


def _occurrence(finding: Finding, kind: str, previous_severity: str | None) -> dict[str, Any]:
    return {
        "session_id": finding.session_id,
        "severity": finding.severity,
        "rules": [decision.rule for decision in finding.decisions],
        "kind": kind,
        "severity_rose": None
        if previous_severity in (None, finding.severity)
        or SEVERITIES.index(finding.severity) < SEVERITIES.index(previous_severity)
        else {"from": previous_severity, "to": finding.severity, "because": finding.leading.rule},
        "evidence": finding.evidence,
    }
