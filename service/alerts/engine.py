"""One submission through the rules and the lifecycle (DESIGN §8). Pure: live evaluation reads
the window from the database and calls these; the policy preview and `bench/alert_quality.py`
replay histories through the very same functions.

A submission is judged on its session (every rule but the silences), and the silences on the
session before it: the newest session's links may still be answered. When a session's links
expire its silences are final, and `judge_silences` judges them on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from service.alerts import lifecycle, rules
from service.alerts.lifecycle import AlertState, Finding, Step
from service.alerts.policy import RULES, Policy

SILENCES = frozenset({"missing_feedback", "couple_silent"})


@dataclass(frozen=True)
class Window:
    """What the rules read for one couple: its last completed sessions, oldest first."""

    couple_id: str
    partners: Sequence[rules.PartnerHistory]
    slots: Sequence[rules.SessionSlot]
    norms: rules.Norms | None = None  # of the newest answer's instrument
    cutoff_pct: float | None = None  # of the newest answer's instrument

    def without_newest(self) -> Window:
        newest = self.slots[-1].session_id
        partners = [
            dataclasses.replace(
                p, observations=tuple(o for o in p.observations if o.session_id != newest)
            )
            for p in self.partners
        ]
        return dataclasses.replace(self, partners=partners, slots=self.slots[:-1])


def judge_submission(
    window: Window, policy: Policy, alerts: Mapping[str, AlertState], now: datetime
) -> list[tuple[str, Step]]:
    """A new answer for the newest session: what it changes."""
    if not window.slots:
        return []
    steps = _judge(window, policy, alerts, now, set(RULES) - SILENCES)
    if len(window.slots) > 1:
        steps += _judge(window.without_newest(), policy, alerts, now, SILENCES)
    return steps


def judge_silences(
    window: Window, policy: Policy, alerts: Mapping[str, AlertState], now: datetime
) -> list[tuple[str, Step]]:
    """The newest session's links expired: its silences are final."""
    return _judge(window, policy, alerts, now, SILENCES) if window.slots else []


def _judge(
    window: Window,
    policy: Policy,
    alerts: Mapping[str, AlertState],
    now: datetime,
    only: Collection[str],
) -> list[tuple[str, Step]]:
    assessment = rules.assess(
        window.partners, window.slots, policy, window.norms, window.cutoff_pct, only=only
    )
    newest = window.slots[-1]
    found = lifecycle.findings(assessment.decisions, newest.session_at)
    steps = [_applied(window.couple_id, finding, alerts, now) for finding in found]
    fired = {key for key, _step in steps}
    steps += _recoveries(window, assessment, alerts, fired)
    return steps


def _applied(
    couple_id: str, finding: Finding, alerts: Mapping[str, AlertState], now: datetime
) -> tuple[str, Step]:
    alert_key = lifecycle.key(couple_id, finding.concern, finding.key_partner)
    return alert_key, lifecycle.apply(alerts.get(alert_key), finding, now)


def _recoveries(
    window: Window,
    assessment: rules.Assessment,
    alerts: Mapping[str, AlertState],
    fired: set[str],
) -> list[tuple[str, Step]]:
    """Open alerts whose concern was looked at and did not fire."""
    checked = {
        _checked_key(window.couple_id, rule, partner) for rule, partner in assessment.checked
    }
    sessions = [
        (slot.session_at, slot.answered, slot.time_shares is not None) for slot in window.slots
    ]
    steps = []
    for alert_key in sorted(checked - fired):
        state = alerts.get(alert_key)
        if state is None:
            continue
        partner = alert_key.split(":")[1]
        since = lifecycle.answered_since(
            state.concern, None if partner == "-" else partner, state.last_session_at, sessions
        )
        step = lifecycle.quiet(state, since)
        if step is not None:
            steps.append((alert_key, step))
    return steps


def _checked_key(couple_id: str, rule: str, partner_id: str | None) -> str:
    concern = lifecycle.CONCERNS[rule]
    key_partner = None if concern in lifecycle.COUPLE_CONCERNS else partner_id
    return lifecycle.key(couple_id, concern, key_partner)
