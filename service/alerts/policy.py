"""A clinic's alert policy (DESIGN §8): which rules are on, their thresholds and severities.
Pure: parsed from JSON and checked here, so evaluation never sees a policy that makes no
sense. The defaults cite their source in DESIGN §8.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RULES = (
    "low_alliance",
    "alliance_drop",
    "reliable_drop",
    "downward_trend",
    "split_alliance",
    "watch_item",
    "airtime_imbalance",
    "missing_feedback",
    "safety_concern",
)
SEVERITIES = ("info", "warning", "critical")  # ordered: a later one is more severe
# How many sessions evaluation reads (the newest last); also the longest run a rule may ask for.
WINDOW = 8
# Rules whose threshold does not come from the policy (norms; a box ticked or not).
NO_THRESHOLD = ("reliable_drop", "safety_concern")


class PolicyError(ValueError):
    """A policy that makes no sense; `errors` maps a field such as "split_alliance.threshold" to
    messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(f"{len(errors)} policy setting(s) make no sense")
        self.errors = errors


@dataclass(frozen=True)
class RuleSettings:
    enabled: bool = True
    threshold: float = 0.0
    severity: str = "warning"


@dataclass(frozen=True)
class _Range:
    """Allowed thresholds of one rule, with the message that explains them."""

    low: float
    high: float
    message: str
    low_open: bool = False
    high_open: bool = False
    whole: bool = False

    def admits(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and (not self.whole or value == int(value))


_THRESHOLDS = {
    "low_alliance": _Range(0, 100, "Must be a cutoff from 0 to 100 (percent of scale)."),
    # A zero drop would fire on an unchanged score.
    "alliance_drop": _Range(
        0, 100, "Must be a fall of more than 0 and at most 100 percentage points.", low_open=True
    ),
    # A slope of 0 or above would fire on flat or rising scores.
    "downward_trend": _Range(
        -100,
        0,
        "Must be a negative slope (percentage points per session), not below -100.",
        high_open=True,
    ),
    # A zero gap would fire on equal scores, and no partner would be the lower one.
    "split_alliance": _Range(
        0, 100, "Must be a gap of more than 0 and at most 100 percentage points.", low_open=True
    ),
    "watch_item": _Range(0, 100, "Must be from 0 to 100 (percent of the item's range)."),
    # Two partners share 100 %: above 50 one of them is always below the threshold.
    "airtime_imbalance": _Range(0, 50, "Must be a time share from 0 to 50 percent."),
    "missing_feedback": _Range(
        1, WINDOW, f"Must be a whole number of sessions from 1 to {WINDOW}.", whole=True
    ),
}
_TREND_WINDOW = _Range(
    2, WINDOW, f"Must be a whole number of sessions from 2 to {WINDOW}.", whole=True
)
_SETTING_FIELDS = ("enabled", "threshold", "severity")


@dataclass(frozen=True)
class Policy:
    """A clinic's alert policy. The defaults are the table of DESIGN §8. Always valid: building
    one with nonsense raises PolicyError, so evaluation never sees it."""

    low_alliance: RuleSettings = RuleSettings(threshold=90)  # fires when pct < cutoff
    alliance_drop: RuleSettings = RuleSettings(threshold=5)  # fall in pct points, >= fires
    reliable_drop: RuleSettings = RuleSettings(severity="critical")  # threshold from the norms
    downward_trend: RuleSettings = RuleSettings(threshold=-2.5)  # slope pct/session, <= fires
    split_alliance: RuleSettings = RuleSettings(threshold=10)  # |pctA - pctB|, >= fires
    watch_item: RuleSettings = RuleSettings(threshold=70)  # % of the item's range, < fires
    airtime_imbalance: RuleSettings = RuleSettings(threshold=35, severity="info")  # share, <
    missing_feedback: RuleSettings = RuleSettings(threshold=2)  # sessions running, >= fires
    safety_concern: RuleSettings = RuleSettings(severity="critical")  # always on, critical
    trend_window: int = 4

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        for rule in RULES:
            settings = self.rule(rule)
            errors.update(_settings_problems(rule, vars(settings)))
        errors.update(_trend_window_problems(self.trend_window))
        if errors:
            raise PolicyError(errors)

    @classmethod
    def default(cls) -> Policy:
        return cls()

    def rule(self, name: str) -> RuleSettings:
        if name not in RULES:
            raise KeyError(name)
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for storage and the API. Rules without a policy threshold omit it."""
        data: dict[str, Any] = {}
        for rule in RULES:
            settings = self.rule(rule)
            entry: dict[str, Any] = {"enabled": settings.enabled, "severity": settings.severity}
            if rule not in NO_THRESHOLD:
                entry["threshold"] = settings.threshold
            data[rule] = entry
        data["trend_window"] = self.trend_window
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """A policy from (partial) JSON: a missing rule or field keeps its default. Raises
        PolicyError naming every field that makes no sense, all at once."""
        if not isinstance(data, Mapping):
            raise PolicyError({"_schema": ["Must be an object."]})
        errors: dict[str, list[str]] = {
            str(key): ["Unknown setting."]
            for key in data
            if key not in RULES and key != "trend_window"
        }
        default = cls()
        rules: dict[str, RuleSettings] = {}
        for rule in RULES:
            raw = data.get(rule, {})
            if not isinstance(raw, Mapping):
                errors[rule] = ["Must be an object."]
                continue
            errors.update(_unknown_fields(rule, raw))
            merged = {**vars(default.rule(rule)), **_known_fields(rule, raw)}
            problems = _settings_problems(rule, merged)
            errors.update(problems)
            if not problems:
                rules[rule] = RuleSettings(
                    enabled=merged["enabled"],
                    threshold=_plain_number(merged["threshold"]),
                    severity=merged["severity"],
                )
        trend_window = data.get("trend_window", default.trend_window)
        errors.update(_trend_window_problems(trend_window))
        if errors:
            raise PolicyError(errors)
        return cls(**rules, trend_window=int(trend_window))


def _unknown_fields(rule: str, raw: Mapping[str, Any]) -> dict[str, list[str]]:
    errors = {}
    for name in raw:
        if name not in _SETTING_FIELDS:
            errors[f"{rule}.{name}"] = ["Unknown field."]
        elif name == "threshold" and rule in NO_THRESHOLD and raw[name] is not None:
            reason = (
                "it comes from the instrument's norms."
                if rule == "reliable_drop"
                else "it fires whenever the box is ticked."
            )
            errors[f"{rule}.threshold"] = [f"This rule has no threshold: {reason}"]
    return errors


def _known_fields(rule: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in raw.items()
        if name in _SETTING_FIELDS and not (name == "threshold" and rule in NO_THRESHOLD)
    }


def _settings_problems(rule: str, settings: Mapping[str, Any]) -> dict[str, list[str]]:
    problems = {
        "enabled": _enabled_problem(rule, settings["enabled"]),
        "severity": _severity_problem(rule, settings["severity"]),
        "threshold": (
            None if rule in NO_THRESHOLD else _threshold_problem(rule, settings["threshold"])
        ),
    }
    return {f"{rule}.{name}": [message] for name, message in problems.items() if message}


def _enabled_problem(rule: str, value: Any) -> str | None:
    if not isinstance(value, bool):
        return "Must be true or false."
    if rule == "safety_concern" and not value:
        # A partner who asks to talk about their safety must always reach the therapist.
        return "The safety concern alert cannot be switched off."
    return None


def _severity_problem(rule: str, value: Any) -> str | None:
    if value not in SEVERITIES:
        return f"Must be one of: {', '.join(SEVERITIES)}."
    if rule == "safety_concern" and value != "critical":
        return "The safety concern alert is always critical."
    return None


def _threshold_problem(rule: str, value: Any) -> str | None:
    limits = _THRESHOLDS[rule]
    if not _is_number(value) or not limits.admits(value):
        return limits.message
    return None


def _trend_window_problems(value: Any) -> dict[str, list[str]]:
    if not _is_number(value) or not _TREND_WINDOW.admits(value):
        return {"trend_window": [_TREND_WINDOW.message]}
    return {}


def _is_number(value: Any) -> bool:
    # bool is an int in Python, but `true` is no threshold.
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _plain_number(value: float) -> float:
    """2.0 from JSON stays a whole number of sessions when it is one."""
    return int(value) if value == int(value) else value
