"""Alerts in words a clinician reads without a manual. Pure."""

from __future__ import annotations

# The rule in words a therapist reads in an inbox (DESIGN §8 names).
RULE_WORDS = {
    "low_alliance": "Alliance below the clinic's cutoff",
    "alliance_drop": "A drop in alliance since the previous session",
    "reliable_drop": "A reliable drop in alliance",
    "downward_trend": "Alliance trending down over recent sessions",
    "split_alliance": "The partners experience the therapy very differently",
    "watch_item": "A watched question was answered in its alert range",
    "airtime_imbalance": "One partner had much less of the session's time",
    "missing_feedback": "Feedback has been missing for several sessions",
    "safety_concern": "A partner raised a safety concern",
}
SEVERITY_WORDS = {"info": "Info", "warning": "Warning", "critical": "Critical"}


def rule_words(rule: str) -> str:
    return RULE_WORDS.get(rule, rule.replace("_", " ").capitalize())


def severity_words(severity: str) -> str:
    return SEVERITY_WORDS.get(severity, severity.capitalize())
