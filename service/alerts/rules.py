"""Alert rules (DESIGN §8): pure functions from a couple's recent feedback to alert decisions.

Standard library only, so the same code runs in the submit transaction, in the policy backtest
and in tests, and stored evidence can be re-checked at any time (`recompute`).

How it fits together: for each rule, `evaluate` gathers the rule's *inputs* from the histories
(JSON-able, with session ids), takes its *thresholds* from the policy, and asks the rule's
*check* whether it fires. The evidence stores exactly those inputs and thresholds plus what the
check computed, so `recompute` runs the very same check on the stored evidence.

Every computed quantity (pct, drop, gap, slope, ...) is rounded to 2 decimals *before* it is
compared with its threshold. The decision then follows from the numbers a clinician sees in the
evidence (a drop shown as 5 against a threshold of 5 fires), and float noise such as
80 - 75.01 = 4.98999... cannot flip a decision at a boundary.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.alerts.couple_rules import COUPLE_RULES
from service.alerts.partner_rules import PARTNER_RULES
from service.alerts.policy import RULES, Policy
from service.alerts.rule_base import (
    Case,
    Context,
    Decision,
    Norms,
    Observation,
    PartnerHistory,
    SessionSlot,
    Verdict,
)

__all__ = [
    "RULE_VERSION",
    "Assessment",
    "Decision",
    "Norms",
    "Observation",
    "PartnerHistory",
    "SessionSlot",
    "assess",
    "evaluate",
    "recompute",
]

# Bump a rule's version whenever its meaning changes: evidence names the version it was made by.
RULE_VERSION: dict[str, int] = dict.fromkeys(RULES, 1) | {
    # 2: same instrument only, "previous" = previous answered session, x axis = session,
    # split names the lower partner (issue "Alerts a therapist can trust").
    "alliance_drop": 2,
    "reliable_drop": 2,
    "downward_trend": 2,
    "split_alliance": 2,
    "missing_feedback": 2,
}
_RULE_TABLE = {name: {**PARTNER_RULES, **COUPLE_RULES}[name] for name in RULES}


@dataclass(frozen=True)
class Assessment:
    """What the rules decided for the newest session, and which (rule, partner) they looked at
    (fired or not): a rule that looked and did not fire is how an alert learns it recovered."""

    decisions: list[Decision]
    checked: frozenset[tuple[str, str | None]]


def evaluate(
    partners: Sequence[PartnerHistory],
    slots: Sequence[SessionSlot],
    policy: Policy,
    norms: Norms | None = None,
    cutoff_pct: float | None = None,
    *,
    only: Collection[str] | None = None,
) -> list[Decision]:
    """Alert decisions for the NEWEST session (slots[-1]) only (see `assess`)."""
    return assess(partners, slots, policy, norms, cutoff_pct, only=only).decisions


def assess(
    partners: Sequence[PartnerHistory],
    slots: Sequence[SessionSlot],
    policy: Policy,
    norms: Norms | None = None,
    cutoff_pct: float | None = None,
    *,
    only: Collection[str] | None = None,
) -> Assessment:
    """The rules on the NEWEST session (slots[-1]), in RULES order then partner order.
    `cutoff_pct` (the instrument's own cutoff) overrides policy.low_alliance.threshold.
    Disabled rules never fire. `only` restricts evaluation to some rules (e.g. the silence
    rules, judged when a session's links expire)."""
    unknown = set(only or ()) - set(RULES)
    if unknown:
        raise ValueError(f"Unknown rule(s): {', '.join(sorted(unknown))}")
    if not slots:
        return Assessment([], frozenset())
    context = Context(partners, slots, policy, norms, cutoff_pct)
    decisions, checked = [], set()
    for name in RULES:
        if (only is not None and name not in only) or not policy.rule(name).enabled:
            continue
        rule = _RULE_TABLE[name]
        thresholds = rule.thresholds(context)
        if thresholds is None:
            continue
        for case in rule.cases(context):
            checked.add((name, case.partner_id))
            verdict = rule.check(case.inputs, thresholds)
            if verdict.severity is not None:
                decisions.append(_decision(name, case, thresholds, verdict, context))
    return Assessment(decisions, frozenset(checked))


def _decision(
    name: str, case: Case, thresholds: Mapping[str, Any], verdict: Verdict, context: Context
) -> Decision:
    evidence = {
        "rule": name,
        "rule_version": RULE_VERSION[name],
        "severity": verdict.severity,
        "inputs": case.inputs,
        "thresholds": dict(thresholds),
        "computed": verdict.computed,
    }
    return Decision(
        name, verdict.severity, case.partner_id, str(context.newest.session_id), evidence
    )


def recompute(evidence: Mapping[str, Any]) -> bool:
    """Re-run the rule named in the evidence on the evidence's own inputs and thresholds; True if
    it fires with the severity and computed values recorded. Evidence of an unknown rule or of
    another rule version, or malformed evidence, cannot be vouched for: False."""
    try:
        name = evidence["rule"]
        if name not in _RULE_TABLE or evidence["rule_version"] != RULE_VERSION[name]:
            return False
        verdict = _RULE_TABLE[name].check(evidence["inputs"], evidence["thresholds"])
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return False
    return (
        verdict.severity is not None
        and verdict.severity == evidence.get("severity")
        and verdict.computed == evidence.get("computed")
    )
