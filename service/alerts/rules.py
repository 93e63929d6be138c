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
from typing import Any

from service.alerts.couple_rules import COUPLE_RULES
from service.alerts.partner_rules import PARTNER_RULES
from service.alerts.policy import RULES, Policy
from service.alerts.rule_base import (
    Context,
    Decision,
    Norms,
    Observation,
    PartnerHistory,
    SessionSlot,
)

__all__ = [
    "RULE_VERSION",
    "Decision",
    "Norms",
    "Observation",
    "PartnerHistory",
    "SessionSlot",
    "evaluate",
    "recompute",
]

# Bump a rule's version whenever its meaning changes: evidence names the version it was made by.
RULE_VERSION: dict[str, int] = dict.fromkeys(RULES, 1)
_RULE_TABLE = {name: {**PARTNER_RULES, **COUPLE_RULES}[name] for name in RULES}


def evaluate(
    partners: Sequence[PartnerHistory],
    slots: Sequence[SessionSlot],
    policy: Policy,
    norms: Norms | None = None,
    cutoff_pct: float | None = None,
    *,
    only: Collection[str] | None = None,
) -> list[Decision]:
    """Alert decisions for the NEWEST session (slots[-1]) only, in RULES order then partner
    order. `cutoff_pct` (the instrument's own cutoff) overrides policy.low_alliance.threshold.
    Disabled rules never fire. `only` restricts evaluation to some rules (e.g. just
    missing_feedback when a feedback request expires)."""
    unknown = set(only or ()) - set(RULES)
    if unknown:
        raise ValueError(f"Unknown rule(s): {', '.join(sorted(unknown))}")
    if not slots:
        return []
    context = Context(partners, slots, policy, norms, cutoff_pct)
    decisions = []
    for name in RULES:
        if (only is not None and name not in only) or not policy.rule(name).enabled:
            continue
        rule = _RULE_TABLE[name]
        thresholds = rule.thresholds(context)
        if thresholds is None:
            continue
        for case in rule.cases(context):
            verdict = rule.check(case.inputs, thresholds)
            if verdict.severity is None:
                continue
            evidence = {
                "rule": name,
                "rule_version": RULE_VERSION[name],
                "severity": verdict.severity,
                "inputs": case.inputs,
                "thresholds": dict(thresholds),
                "computed": verdict.computed,
            }
            decisions.append(
                Decision(
                    name,
                    verdict.severity,
                    case.partner_id,
                    str(context.newest.session_id),
                    evidence,
                )
            )
    return decisions


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
