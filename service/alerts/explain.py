"""Alerts in words a clinician reads without a manual (DESIGN §8). Pure.

`summary` is one line, `explanation` the numbers behind it, both built from the evidence. First
names appear only here, for the clinician-facing API and pages; emails, webhooks and the events
feed carry `rule_words` alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The rule in words a therapist reads in an inbox (DESIGN §8 names).
RULE_WORDS = {
    "low_alliance": "Alliance below the clinic's cutoff",
    "alliance_drop": "A drop in alliance since the previous session",
    "reliable_drop": "A reliable drop in alliance",
    "personal_drop": "Alliance well below the partner's usual level",
    "downward_trend": "Alliance trending down over recent sessions",
    "split_alliance": "The partners experience the therapy very differently",
    "watch_item": "A watched question was answered in its alert range",
    "airtime_imbalance": "One partner had much less of the session's time",
    "missing_feedback": "Feedback has been missing for several sessions",
    "couple_silent": "Neither partner has given feedback for several sessions",
    "safety_concern": "A partner raised a safety concern",
}
SEVERITY_WORDS = {"info": "Info", "warning": "Warning", "critical": "Critical"}
SOMEONE = "A partner"


def rule_words(rule: str) -> str:
    return RULE_WORDS.get(rule, rule.replace("_", " ").capitalize())


def severity_words(severity: str) -> str:
    return SEVERITY_WORDS.get(severity, severity.capitalize())


def summary(evidence: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """One line about the leading rule, e.g. "Riley's rating fell 29 points"."""
    words = _Words(evidence, names)
    return _SUMMARIES.get(str(evidence.get("rule")), lambda w: rule_words(w.rule))(words)


def explanation(evidence: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """The numbers behind the leading rule, then those of the other rules that fired."""
    parts = [_explain(evidence, names)]
    parts += [_explain(other, names) for other in evidence.get("others") or []]
    return " ".join(part for part in parts if part)


class _Words:
    """Reads evidence safely: a missing value reads as "?" rather than failing a page."""

    def __init__(self, evidence: Mapping[str, Any], names: Mapping[str, str]) -> None:
        self.rule = str(evidence.get("rule", ""))
        self.inputs = evidence.get("inputs") or {}
        self.thresholds = evidence.get("thresholds") or {}
        self.computed = evidence.get("computed") or {}
        self.names = names

    def name(self, partner_id: object = None) -> str:
        return self.names.get(str(partner_id or self.inputs.get("partner_id")), SOMEONE)

    def number(self, source: Mapping[str, Any], key: str) -> str:
        value = source.get(key)
        return f"{value:g}" if isinstance(value, int | float) else "?"

    def c(self, key: str) -> str:
        return self.number(self.computed, key)

    def t(self, key: str) -> str:
        return self.number(self.thresholds, key)


def _explain(evidence: Mapping[str, Any], names: Mapping[str, str]) -> str:
    words = _Words(evidence, names)
    explain = _EXPLANATIONS.get(words.rule)
    return explain(words) if explain else rule_words(words.rule) + "."


def _sessions(count: object) -> str:
    return "1 session" if count == 1 else f"{count} sessions"


def _split(w: _Words) -> str:
    lower, higher = (
        w.name(w.computed.get("lower_partner_id")),
        w.name(w.computed.get("higher_partner_id")),
    )
    text = (
        f"{lower} rated this session {w.c('lower_pct')} % and {higher} {w.c('higher_pct')} %: "
        f"a gap of {w.c('gap')} points (the clinic's split threshold is {w.t('gap')})."
    )
    if w.computed.get("persists"):
        text += f" {lower} was the lower partner last session too."
    if w.computed.get("widened"):
        text += f" The gap widened from {w.c('previous_gap')} points."
    return text


_SUMMARIES: dict[str, Callable[[_Words], str]] = {
    "low_alliance": lambda w: f"{w.name()}'s alliance rating is low",
    "alliance_drop": lambda w: f"{w.name()}'s rating fell {w.c('drop')} points",
    "reliable_drop": lambda w: f"{w.name()}'s rating fell by more than measurement error",
    "personal_drop": lambda w: f"{w.name()} rated this session well below their usual level",
    "downward_trend": lambda w: f"{w.name()}'s rating has been falling for several sessions",
    "split_alliance": lambda w: (
        f"{w.name(w.computed.get('lower_partner_id'))} and "
        f"{w.name(w.computed.get('higher_partner_id'))} experience the therapy very differently"
    ),
    "watch_item": lambda w: f"{w.name()} answered a watched question low",
    "airtime_imbalance": lambda w: f"{w.name()} had little of the session's time",
    "missing_feedback": lambda w: (
        f"{w.name()} has not given feedback for {_sessions(w.computed.get('silent_sessions'))}"
    ),
    "couple_silent": lambda w: (
        f"Neither partner has given feedback for {_sessions(w.computed.get('silent_sessions'))}"
    ),
    "safety_concern": lambda w: f"{w.name()} would like to talk alone about their safety",
}
_EXPLANATIONS: dict[str, Callable[[_Words], str]] = {
    "low_alliance": lambda w: (
        f"{w.name()} rated this session {w.c('pct')} % of the scale, below the "
        f"{'instrument' if w.thresholds.get('cutoff_source') == 'instrument' else 'clinic'}"
        f"'s cutoff of {w.t('cutoff')} %."
    ),
    "alliance_drop": lambda w: (
        f"{w.name()}'s rating fell from {w.c('previous')} % to {w.c('current')} % since their "
        f"previous answer, {_sessions(w.inputs.get('sessions_back'))} earlier; the clinic's "
        f"drop threshold is {w.t('drop')} points."
    ),
    "reliable_drop": lambda w: (
        f"{w.name()}'s total fell from {w.c('previous')} to {w.c('current')}; on this "
        f"instrument a fall of {w.c('threshold')} or more is beyond measurement error "
        f"(Jacobson-Truax reliable change index {w.c('rc_index')})."
    ),
    "personal_drop": lambda w: (
        f"{w.name()} rated this session {w.c('current')} %, {w.c('below_by')} points below "
        f"their usual {w.c('baseline')} % (their answers usually vary by "
        f"{w.c('spread_used')} points; the clinic alerts below {w.c('limit')} %)."
    ),
    "downward_trend": lambda w: (
        f"Over their last {w.t('window')} answered sessions {w.name()}'s rating went from "
        f"{w.c('first')} % to {w.c('last')} %, about {w.c('slope')} points a session."
    ),
    "split_alliance": _split,
    "watch_item": lambda w: (
        f"{w.name()} answered {', '.join(sorted(w.computed.get('low_items') or {})) or '?'} "
        f"below {w.t('pct')} % of the question's range."
    ),
    "airtime_imbalance": lambda w: (
        f"The therapist recorded less than {w.t('share')} % of the talking time for "
        f"{w.name()} in each of the last {w.t('sessions')} sessions."
    ),
    "missing_feedback": lambda w: (
        f"{w.name()} was asked but gave no feedback for "
        f"{_sessions(w.computed.get('silent_sessions'))} running, while their partner did."
    ),
    "couple_silent": lambda w: (
        f"Both partners were asked and neither answered for "
        f"{_sessions(w.computed.get('silent_sessions'))} running: the usual shape of dropping "
        f"out."
    ),
    "safety_concern": lambda w: (
        f"{w.name()} ticked the private box asking to talk with their therapist alone about "
        f"their safety. Only clinicians see this."
    ),
}


# -- the evidence as a table ----------------------------------------------------------------

FACT_LABELS = {
    "pct": "Rating (%)",
    "cutoff": "Cutoff (%)",
    "previous": "Previous",
    "current": "This session",
    "drop": "Drop (points)",
    "threshold": "Threshold",
    "rc_index": "Reliable change index",
    "baseline": "Usual level (%)",
    "spread_used": "Usual variation (points)",
    "below_by": "Below usual by (points)",
    "limit": "Alerts below (%)",
    "first": "First (%)",
    "last": "Last (%)",
    "slope": "Change per session (points)",
    "window": "Sessions looked at",
    "lower_pct": "Lower partner (%)",
    "higher_pct": "Higher partner (%)",
    "gap": "Gap (points)",
    "previous_gap": "Previous gap (points)",
    "persists": "Same lower partner as last session",
    "widened": "Gap widened",
    "low_items": "Questions in the alert range",
    "share": "Talking time under (%)",
    "sessions": "Sessions",
    "silent_sessions": "Sessions without feedback",
}
HIDDEN_FACTS = {"severity", "cutoff_source"}


@dataclass(frozen=True)
class Fact:
    """One rule of a finding, for the evidence table: what it measured against what limit."""

    rule: str
    severity: str
    measured: list[tuple[str, str]]
    limits: list[tuple[str, str]]


def facts(evidence: Mapping[str, Any]) -> list[Fact]:
    """The leading rule's evidence, then the other rules of the finding."""
    return [_fact(entry) for entry in [evidence, *(evidence.get("others") or [])]]


def _fact(evidence: Mapping[str, Any]) -> Fact:
    thresholds = evidence.get("thresholds") or {}
    return Fact(
        rule_words(str(evidence.get("rule", ""))),
        severity_words(str(thresholds.get("severity", ""))),
        _readable(evidence.get("computed") or {}),
        _readable(thresholds),
    )


def _readable(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in values.items():
        shown = _value(value)
        if key not in HIDDEN_FACTS and not key.endswith("_id") and shown is not None:
            rows.append((FACT_LABELS.get(key, key.replace("_", " ").capitalize()), shown))
    return rows


def _value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {_value(item)}" for key, item in sorted(value.items())) or None
    return None
