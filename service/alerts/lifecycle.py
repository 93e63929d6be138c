"""How a decision changes the open alert for its key: one pure function shared by live
evaluation and the policy backtest, so a preview replays exactly what would be stored.

- no open alert → created;
- an open alert, a new session → updated (one more occurrence), escalated if severity rose;
- the same session evaluated again (the second partner's answers arrive) → refreshed evidence,
  escalated if severity rose, never a second occurrence.
A resolved alert is never reopened: its key is released, and the next decision creates anew.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from service.alerts.policy import SEVERITIES
from service.alerts.rules import Decision


@dataclass(frozen=True)
class AlertState:
    rule: str
    severity: str
    partner_id: str | None
    occurrences: int
    first_session_id: str
    last_session_id: str
    evidence: dict


def key(couple_id: str, decision: Decision) -> str:
    return f"{couple_id}:{decision.partner_id or '-'}:{decision.rule}"


def apply(current: AlertState | None, decision: Decision) -> tuple[AlertState, str]:
    """The alert after this decision, and what happened: created, escalated, updated, same."""
    if current is None:
        return AlertState(
            decision.rule,
            decision.severity,
            decision.partner_id,
            1,
            decision.session_id,
            decision.session_id,
            decision.evidence,
        ), "created"
    new_session = decision.session_id != current.last_session_id
    severity = max(current.severity, decision.severity, key=SEVERITIES.index)
    changed = replace(
        current,
        severity=severity,
        occurrences=current.occurrences + (1 if new_session else 0),
        last_session_id=decision.session_id,
        evidence=decision.evidence,
    )
    if severity != current.severity:
        return changed, "escalated"
    return changed, "updated" if new_session else "same"
