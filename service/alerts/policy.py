"""A clinic's alert policy (DESIGN §8): which rules are on, their thresholds, severities and the
few rule-specific options. Pure: parsed from JSON and checked here, so evaluation never sees a
policy that makes no sense.

Every default cites its source: DESIGN §8 for what each rule means, the SRS convention where
it applies, and otherwise `bench/alert_quality.py` (a synthetic caseload shaped like real
session-rating data), whose table in `bench/README.md` shows the default meeting the budgets.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

RULES = (
    "low_alliance",
    "alliance_drop",
    "reliable_drop",
    "personal_drop",
    "downward_trend",
    "split_alliance",
    "watch_item",
    "airtime_imbalance",
    "missing_feedback",
    "couple_silent",
    "safety_concern",
)
SEVERITIES = ("info", "warning", "critical")  # ordered: a later one is more severe
# How many sessions evaluation reads (the newest last); also the longest run a rule may ask for.
WINDOW = 8
# Rules whose threshold does not come from the policy (norms; a box ticked or not).
NO_THRESHOLD = ("reliable_drop", "safety_concern")
SETTING_FIELDS = ("enabled", "threshold", "severity")


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
    options: Mapping[str, float] = field(default_factory=dict)  # rule-specific (see OPTIONS)

    def option(self, name: str) -> float:
        return self.options[name]


@dataclass(frozen=True)
class Range:
    """Allowed values of one setting, with the message that explains them."""

    low: float
    high: float
    message: str
    low_open: bool = False
    high_open: bool = False
    whole: bool = False

    def admits(self, value: Any) -> bool:
        if not _is_number(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and (not self.whole or value == int(value))


_POINTS = "percentage points"
THRESHOLDS = {
    "low_alliance": Range(0, 100, "Must be a cutoff from 0 to 100 (percent of scale)."),
    # A zero drop would fire on an unchanged score.
    "alliance_drop": Range(
        0, 100, f"Must be a fall of more than 0 and at most 100 {_POINTS}.", low_open=True
    ),
    "personal_drop": Range(0, 10, "Must be more than 0 and at most 10 spreads.", low_open=True),
    # A slope of 0 or above would fire on flat or rising scores.
    "downward_trend": Range(
        -100,
        0,
        f"Must be a negative slope ({_POINTS} per session), not below -100.",
        high_open=True,
    ),
    # A zero gap would fire on equal scores, and no partner would be the lower one.
    "split_alliance": Range(
        0, 100, f"Must be a gap of more than 0 and at most 100 {_POINTS}.", low_open=True
    ),
    "watch_item": Range(0, 100, "Must be from 0 to 100 (percent of the item's range)."),
    # Two partners share 100 %: above 50 one of them is always below the threshold.
    "airtime_imbalance": Range(0, 50, "Must be a time share from 0 to 50 percent."),
    "missing_feedback": Range(
        1, WINDOW, f"Must be a whole number of sessions from 1 to {WINDOW}.", whole=True
    ),
    "couple_silent": Range(
        1, WINDOW, f"Must be a whole number of sessions from 1 to {WINDOW}.", whole=True
    ),
}
OPTIONS: dict[str, dict[str, Range]] = {
    "personal_drop": {
        "floor": Range(
            0, 50, f"Must be a spread of more than 0 and at most 50 {_POINTS}.", low_open=True
        ),
        "baseline": Range(
            2, WINDOW - 1, f"Must be a whole number of answers from 2 to {WINDOW - 1}.", whole=True
        ),
    },
    "downward_trend": {
        "fall": Range(
            0, 100, f"Must be a fall of more than 0 and at most 100 {_POINTS}.", low_open=True
        ),
    },
    "split_alliance": {
        "widen": Range(0, 100, f"Must be more than 0 and at most 100 {_POINTS}.", low_open=True),
    },
}
TREND_WINDOW = Range(
    2, WINDOW, f"Must be a whole number of sessions from 2 to {WINDOW}.", whole=True
)


@dataclass(frozen=True)
class Policy:
    """A clinic's alert policy. Always valid: building one with nonsense raises PolicyError."""

    # The SRS convention is 36/40 (90 %), but session ratings sit mostly at 85-100 %, so 90
    # flags partners at their usual level; a normed instrument brings its own cutoff, which
    # overrides this one. 75: bench.
    low_alliance: RuleSettings = RuleSettings(threshold=75)  # pct < cutoff fires
    # A fall from the partner's previous answered session. Two answers differ by about 6
    # points from noise alone (bench), so smaller falls are the personal baseline's. 18: bench.
    alliance_drop: RuleSettings = RuleSettings(threshold=18)  # fall >= fires
    # Jacobson-Truax on the instrument's norms (DESIGN §8).
    reliable_drop: RuleSettings = RuleSettings(severity="critical")
    # Below the partner's own mean by `threshold` spreads (the SD of their earlier answers on
    # the instrument, never under `floor`, from at least `baseline` answers). 2.75 x 3.5
    # points: a steady partner's 10-point fall is seen, a swinging partner's noise is not.
    personal_drop: RuleSettings = RuleSettings(
        threshold=2.75, options={"floor": 3.5, "baseline": 3}
    )
    # Least-squares slope over `trend_window` answered sessions, and a total fall. Bench.
    downward_trend: RuleSettings = RuleSettings(threshold=-3, options={"fall": 12.0})
    # |pctA - pctB| >= gap; critical when the same partner stays lower, or the gap widens by
    # `widen` (DESIGN §8: 5). 20: bench (partners of one couple usually sit within 5 points).
    split_alliance: RuleSettings = RuleSettings(threshold=20, options={"widen": 5.0})
    # A watch item (openness, balance, airtime) below this % of its range. Bench.
    watch_item: RuleSettings = RuleSettings(threshold=50)
    # A therapist-recorded share below this, two sessions running (DESIGN §8).
    airtime_imbalance: RuleSettings = RuleSettings(threshold=35, severity="info")
    # Silent this many completed sessions running while the other answered (DESIGN §8).
    missing_feedback: RuleSettings = RuleSettings(threshold=2)
    # Both asked partners silent this many completed sessions running (DESIGN §8).
    couple_silent: RuleSettings = RuleSettings(threshold=2)
    safety_concern: RuleSettings = RuleSettings(severity="critical")  # always on, critical
    trend_window: int = 4

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        for rule in RULES:
            errors.update(_settings_problems(rule, _as_fields(self.rule(rule))))
        errors.update(_trend_window_problems(self.trend_window))
        if errors:
            raise PolicyError(errors)

    @classmethod
    @functools.cache  # frozen, so one value serves every caller
    def default(cls) -> Policy:
        return cls()

    def rule(self, name: str) -> RuleSettings:
        if name not in RULES:
            raise KeyError(name)
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for storage and the API. Rules without a policy threshold omit it."""
        data: dict[str, Any] = {rule: _entry(rule, self.rule(rule)) for rule in RULES}
        data["trend_window"] = self.trend_window
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """A policy from (partial) JSON: a missing rule or field keeps its default. Raises
        PolicyError naming every field that makes no sense, all at once."""
        if not isinstance(data, Mapping):
            raise PolicyError({"_schema": ["Must be an object."]})
        errors = {str(k): ["Unknown setting."] for k in data if k not in (*RULES, "trend_window")}
        default, rules = cls(), {}
        for rule in RULES:
            raw = data.get(rule, {})
            if not isinstance(raw, Mapping):
                errors[rule] = ["Must be an object."]
                continue
            errors.update(_unknown_fields(rule, raw))
            merged = {**_as_fields(default.rule(rule)), **_known_fields(rule, raw)}
            problems = _settings_problems(rule, merged)
            errors.update(problems)
            if not problems:
                rules[rule] = _settings(rule, merged)
        trend_window = data.get("trend_window", default.trend_window)
        errors.update(_trend_window_problems(trend_window))
        if errors:
            raise PolicyError(errors)
        return cls(**rules, trend_window=int(trend_window))


def with_setting(policy: Policy, rule: str, **changes: Any) -> Policy:
    """The policy with some of one rule's settings (fields or options) changed."""
    fields = {**_as_fields(policy.rule(rule)), **changes}
    return replace(policy, **{rule: _settings(rule, fields)})


def _as_fields(settings: RuleSettings) -> dict[str, Any]:
    return {
        "enabled": settings.enabled,
        "threshold": settings.threshold,
        "severity": settings.severity,
        **settings.options,
    }


def _settings(rule: str, fields: Mapping[str, Any]) -> RuleSettings:
    return RuleSettings(
        enabled=fields["enabled"],
        threshold=_plain_number(fields["threshold"]),
        severity=fields["severity"],
        options={name: _plain_number(fields[name]) for name in OPTIONS.get(rule, {})},
    )


def _entry(rule: str, settings: RuleSettings) -> dict[str, Any]:
    entry: dict[str, Any] = {"enabled": settings.enabled, "severity": settings.severity}
    if rule not in NO_THRESHOLD:
        entry["threshold"] = settings.threshold
    return {**entry, **settings.options}


def _unknown_fields(rule: str, raw: Mapping[str, Any]) -> dict[str, list[str]]:
    errors = {}
    for name in raw:
        if name not in (*SETTING_FIELDS, *OPTIONS.get(rule, {})):
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
    known = (*SETTING_FIELDS, *OPTIONS.get(rule, {}))
    return {
        name: value
        for name, value in raw.items()
        if name in known and not (name == "threshold" and rule in NO_THRESHOLD)
    }


def _settings_problems(rule: str, settings: Mapping[str, Any]) -> dict[str, list[str]]:
    problems = {
        "enabled": _enabled_problem(rule, settings["enabled"]),
        "severity": _severity_problem(rule, settings["severity"]),
        "threshold": None
        if rule in NO_THRESHOLD
        else _range_problem(THRESHOLDS[rule], settings["threshold"]),
        **{
            name: _range_problem(limits, settings.get(name))
            for name, limits in OPTIONS.get(rule, {}).items()
        },
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


def _range_problem(limits: Range, value: Any) -> str | None:
    return None if limits.admits(value) else limits.message


def _trend_window_problems(value: Any) -> dict[str, list[str]]:
    problem = _range_problem(TREND_WINDOW, value)
    return {"trend_window": [problem]} if problem else {}


def _is_number(value: Any) -> bool:
    # bool is an int in Python, but `true` is no threshold.
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _plain_number(value: float) -> float:
    """2.0 from JSON stays a whole number of sessions when it is one."""
    return int(value) if value == int(value) else value
