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

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
# Bump a rule's version whenever its meaning changes: evidence names the version it was made by.
RULE_VERSION: dict[str, int] = dict.fromkeys(RULES, 1)

# How many observations per partner and session slots the caller should pass (the newest last).
# Evaluation reads nothing else, so its cost is flat in a couple's history; always passing the
# same window keeps live evaluation and the backtest identical.
WINDOW = 8
DECIMALS = 2
Z_95 = 1.96  # two-sided 95 % for the Jacobson-Truax reliable change
AIRTIME_SESSIONS = 2  # "two sessions running" (DESIGN §8); not a policy setting
# Rules whose threshold does not come from the policy (norms; a box ticked or not).
NO_THRESHOLD = ("reliable_drop", "safety_concern")


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One partner's feedback for one completed session."""

    session_id: str
    session_at: datetime  # aware UTC
    total: float  # raw instrument total
    pct: float  # percent of scale, 0-100
    items: Mapping[str, float]  # item key -> answer
    watch_ranges: Mapping[str, tuple[float, float]]  # watch item key -> (min, max) of its scale
    safety_concern: bool = False


@dataclass(frozen=True)
class SessionSlot:
    """One completed session of the couple (slots are passed oldest -> newest)."""

    session_id: str
    session_at: datetime
    answered: frozenset[str]  # partner ids who gave feedback for it
    time_shares: Mapping[str, float] | None  # partner id -> percent recorded by the therapist


@dataclass(frozen=True)
class PartnerHistory:
    partner_id: str
    observations: tuple[Observation, ...]  # oldest -> newest, at most WINDOW


@dataclass(frozen=True)
class Norms:
    sd: float
    reliability: float


# --- policy ---------------------------------------------------------------------------------


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


# --- decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    rule: str
    severity: str
    partner_id: str | None  # None for couple-level rules (split_alliance names the lower one)
    session_id: str  # the session that triggered it (the newest)
    evidence: dict[str, Any]  # JSON-able; recompute(evidence) re-checks it


@dataclass(frozen=True)
class _Verdict:
    severity: str | None  # None: the rule does not fire
    computed: dict[str, Any]


@dataclass(frozen=True)
class _Case:
    """One candidate for a rule: the partner it is about (None: the couple) and its inputs."""

    partner_id: str | None
    inputs: dict[str, Any]


@dataclass(frozen=True)
class _Context:
    partners: Sequence[PartnerHistory]
    slots: Sequence[SessionSlot]
    policy: Policy
    norms: Norms | None
    cutoff_pct: float | None

    @property
    def newest(self) -> SessionSlot:
        return self.slots[-1]


@dataclass(frozen=True)
class _Rule:
    cases: Callable[[_Context], list[_Case]]
    thresholds: Callable[[_Context], dict[str, Any] | None]  # None: cannot run (e.g. no norms)
    check: Callable[[Mapping[str, Any], Mapping[str, Any]], _Verdict]


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
    context = _Context(partners, slots, policy, norms, cutoff_pct)
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


# --- shared helpers -------------------------------------------------------------------------


def _r(value: float) -> float:
    return round(float(value), DECIMALS)


def _current(history: PartnerHistory, context: _Context) -> Observation | None:
    """The partner's observation for the newest session. Rules about a partner's scores run only
    when the partner answered it, so an old score never raises an alert for a new session."""
    if history.observations and history.observations[-1].session_id == context.newest.session_id:
        return history.observations[-1]
    return None


def _observation_for(history: PartnerHistory, session_id: str) -> Observation | None:
    for observation in reversed(history.observations):
        if observation.session_id == session_id:
            return observation
    return None


def _about(history: PartnerHistory, inputs: dict[str, Any]) -> _Case:
    """A case about one partner; the evidence names the partner too."""
    partner_id = str(history.partner_id)
    return _Case(partner_id, {"partner_id": partner_id, **inputs})


def _score(observation: Observation, value: str = "pct") -> dict[str, Any]:
    # float(): the database may hand over Decimals, which are neither JSON nor float-friendly.
    return {"session_id": str(observation.session_id), value: float(getattr(observation, value))}


def _configured(context: _Context, rule: str, **thresholds: Any) -> dict[str, Any]:
    return {**thresholds, "severity": context.policy.rule(rule).severity}


def _slope(values: Sequence[float]) -> float:
    """Least-squares slope of values against their position (per session)."""
    count = len(values)
    mean_x = (count - 1) / 2
    mean_y = sum(values) / count
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    denominator = sum((x - mean_x) ** 2 for x in range(count))
    return numerator / denominator


# --- low_alliance ---------------------------------------------------------------------------


def _low_alliance_cases(context: _Context) -> list[_Case]:
    cases = []
    for history in context.partners:
        current = _current(history, context)
        if current:
            cases.append(_about(history, _score(current)))
    return cases


def _low_alliance_thresholds(context: _Context) -> dict[str, Any]:
    if context.cutoff_pct is not None:
        return _configured(
            context, "low_alliance", cutoff=float(context.cutoff_pct), cutoff_source="instrument"
        )
    cutoff = context.policy.low_alliance.threshold
    return _configured(context, "low_alliance", cutoff=cutoff, cutoff_source="policy")


def _low_alliance_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> _Verdict:
    pct, cutoff = _r(inputs["pct"]), thresholds["cutoff"]
    fires = pct < cutoff
    return _Verdict(thresholds["severity"] if fires else None, {"pct": pct, "cutoff": cutoff})


# --- alliance_drop and reliable_drop: the partner's previous score against the newest ---------


def _pair_cases(value: str) -> Callable[[_Context], list[_Case]]:
    def cases(context: _Context) -> list[_Case]:
        found = []
        for history in context.partners:
            current = _current(history, context)
            if current and len(history.observations) >= 2:
                inputs = {
                    "previous": _score(history.observations[-2], value),
                    "current": _score(current, value),
                }
                found.append(_about(history, inputs))
        return found

    return cases


def _alliance_drop_thresholds(context: _Context) -> dict[str, Any]:
    return _configured(context, "alliance_drop", drop=context.policy.alliance_drop.threshold)


def _alliance_drop_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> _Verdict:
    previous, current = _r(inputs["previous"]["pct"]), _r(inputs["current"]["pct"])
    drop = _r(previous - current)
    fires = drop >= thresholds["drop"]
    computed = {"previous": previous, "current": current, "drop": drop}
    return _Verdict(thresholds["severity"] if fires else None, computed)


def _reliable_drop_thresholds(context: _Context) -> dict[str, Any] | None:
    norms = context.norms
    # Without norms (or with norms that give no measurement error) there is no reliable change.
    if norms is None or not (norms.sd > 0 and 0 <= norms.reliability < 1):
        return None
    return _configured(
        context,
        "reliable_drop",
        sd=float(norms.sd),
        reliability=float(norms.reliability),
        z=Z_95,
    )


def _reliable_drop_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> _Verdict:
    """Jacobson-Truax on RAW totals: SE = sd·√(1-r), Sdiff = √2·SE, a fall of z·Sdiff or more is
    a reliable deterioration; rc_index = change / Sdiff."""
    previous, current = float(inputs["previous"]["total"]), float(inputs["current"]["total"])
    standard_error = thresholds["sd"] * math.sqrt(1 - thresholds["reliability"])
    sdiff = math.sqrt(2) * standard_error
    change = current - previous
    threshold = thresholds["z"] * sdiff
    computed = {
        "previous": _r(previous),
        "current": _r(current),
        "change": _r(change),
        "se": _r(standard_error),
        "sdiff": _r(sdiff),
        "threshold": _r(threshold),
        "rc_index": _r(change / sdiff),
    }
    fires = computed["change"] <= -computed["threshold"]
    return _Verdict(thresholds["severity"] if fires else None, computed)


# --- downward_trend -------------------------------------------------------------------------


def _downward_trend_cases(context: _Context) -> list[_Case]:
    window = context.policy.trend_window
    cases = []
    for history in context.partners:
        if _current(history, context) and len(history.observations) >= window:
            scores = [_score(observation) for observation in history.observations[-window:]]
            cases.append(_about(history, {"scores": scores}))
    return cases


def _downward_trend_thresholds(context: _Context) -> dict[str, Any]:
    policy = context.policy
    # The fall over the window must also reach the drop threshold: a steep slope made of small
    # wiggles is noise, not drift.
    return _configured(
        context,
        "downward_trend",
        slope=policy.downward_trend.threshold,
        fall=policy.alliance_drop.threshold,
        window=policy.trend_window,
    )


def _downward_trend_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> _Verdict:
    pcts = [_r(score["pct"]) for score in inputs["scores"]]
    if len(pcts) != thresholds["window"]:
        raise ValueError("the scores do not fill the window")
    slope, fall = _r(_slope(pcts)), _r(pcts[0] - pcts[-1])
    fires = slope <= thresholds["slope"] and fall >= thresholds["fall"]
    computed = {"slope": slope, "fall": fall, "first": pcts[0], "last": pcts[-1]}
    return _Verdict(thresholds["severity"] if fires else None, computed)


# --- split_alliance -------------------------------------------------------------------------


def _pcts_for(partners: Sequence[PartnerHistory], session_id: str) -> dict[str, float] | None:
    """Both partners' pct for a session, keyed by partner id; None unless both answered it."""
    pcts = {}
    for history in partners:
        observation = _observation_for(history, session_id)
        if observation is None:
            return None
        pcts[str(history.partner_id)] = float(observation.pct)
    return dict(sorted(pcts.items()))  # sorted: the same evidence whatever the partner order


def _split_alliance_cases(context: _Context) -> list[_Case]:
    if len(context.partners) != 2:  # a couple: exactly two partners
        return []
    newest = context.newest.session_id
    current = _pcts_for(context.partners, newest)
    if current is None:
        return []
    previous = None
    # The last earlier session both partners answered: a split there that persists (the session
    # right before) or that the newest gap exceeds makes this one critical.
    for distance, slot in enumerate(reversed(context.slots[:-1])):
        pcts = _pcts_for(context.partners, slot.session_id)
        if pcts is not None:
            previous = {
                "session_id": str(slot.session_id),
                "pcts": pcts,
                "consecutive": distance == 0,
            }
            break
    inputs = {"current": {"session_id": str(newest), "pcts": current}, "previous": previous}
    return [_Case(None, inputs)]


def _split_alliance_thresholds(context: _Context) -> dict[str, Any]:
    return _configured(context, "split_alliance", gap=context.policy.split_alliance.threshold)


def _gap(pcts: Mapping[str, float]) -> float:
    low, high = sorted(_r(pct) for pct in pcts.values())
    return _r(high - low)


def _split_alliance_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> _Verdict:
    current = inputs["current"]["pcts"]
    if len(current) != 2:
        raise ValueError("a split needs exactly two partners")
    (lower_id, lower_pct), (higher_id, higher_pct) = sorted(
        ((partner_id, _r(pct)) for partner_id, pct in current.items()),
        key=lambda pair: (pair[1], pair[0]),
    )
    gap, limit = _gap(current), thresholds["gap"]
    previous = inputs["previous"]
    previous_gap = _gap(previous["pcts"]) if previous else None
    was_split = previous_gap is not None and previous_gap >= limit
    persists = was_split and previous["consecutive"]
    widened = was_split and gap > previous_gap
    computed = {
        "gap": gap,
        "lower_partner_id": lower_id,
        "lower_pct": lower_pct,
        "higher_partner_id": higher_id,
        "higher_pct": higher_pct,
        "previous_gap": previous_gap,
        "persists": bool(persists),
        "widened": bool(widened),
    }
    if gap < limit:
        return _Verdict(None, computed)
    return _Verdict("critical" if persists or widened else thresholds["severity"], computed)


# --- watch_item -----------------------------------------------------------------------------


def _watch_item_cases(context: _Context) -> list[_Case]:
    cases = []
    for history in context.partners:
        current = _current(history, context)
        if current is None:
            continue
        items = {
            key: {"value": float(current.items[key]), "min": float(low), "max": float(high)}
            for key, (low, high) in sorted(current.watch_ranges.items())
            if key in current.items and high > low
        }
        if items:
            inputs = {"session_id": str(current.session_id), "items": items}
            cases.append(_about(history, inputs))
    return cases


def _watch_item_thresholds(context: _Context) -> dict[str, Any]:
    return _configured(context, "watch_item", pct=context.policy.watch_item.threshold)


def _watch_item_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> _Verdict:
    item_pcts = {
        key: _r(100 * (item["value"] - item["min"]) / (item["max"] - item["min"]))
        for key, item in inputs["items"].items()
    }
    low = {key: pct for key, pct in item_pcts.items() if pct < thresholds["pct"]}
    computed = {"item_pcts": item_pcts, "low_items": low}
    return _Verdict(thresholds["severity"] if low else None, computed)


# --- airtime_imbalance ----------------------------------------------------------------------


def _airtime_imbalance_cases(context: _Context) -> list[_Case]:
    recent = context.slots[-AIRTIME_SESSIONS:]
    if len(recent) < AIRTIME_SESSIONS or any(slot.time_shares is None for slot in recent):
        return []
    cases = []
    for history in context.partners:
        if all(history.partner_id in slot.time_shares for slot in recent):
            shares = [
                {
                    "session_id": str(slot.session_id),
                    "share": float(slot.time_shares[history.partner_id]),
                }
                for slot in recent
            ]
            cases.append(_about(history, {"shares": shares}))
    return cases


def _airtime_imbalance_thresholds(context: _Context) -> dict[str, Any]:
    return _configured(
        context,
        "airtime_imbalance",
        share=context.policy.airtime_imbalance.threshold,
        sessions=AIRTIME_SESSIONS,
    )


def _airtime_imbalance_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> _Verdict:
    shares = [_r(entry["share"]) for entry in inputs["shares"]]
    below = sum(share < thresholds["share"] for share in shares)
    fires = len(shares) == thresholds["sessions"] and below == len(shares)
    computed = {"shares": shares, "sessions_below": below}
    return _Verdict(thresholds["severity"] if fires else None, computed)


# --- missing_feedback -----------------------------------------------------------------------


def _missing_feedback_cases(context: _Context) -> list[_Case]:
    partner_ids = [str(history.partner_id) for history in context.partners]
    sessions = [
        {"session_id": str(slot.session_id), "answered": sorted(str(p) for p in slot.answered)}
        for slot in context.slots[-WINDOW:]
    ]
    cases = []
    for partner_id in partner_ids:
        others = [other for other in partner_ids if other != partner_id]
        inputs = {"others": others, "sessions": sessions}
        if others and _silent_run(partner_id, inputs) > 0:
            cases.append(_Case(partner_id, {"partner_id": partner_id, **inputs}))
    return cases


def _silent_run(partner_id: str, inputs: Mapping[str, Any]) -> int:
    """Sessions running, newest back, the partner gave no feedback while every other partner
    did. A session nobody answered ends the run: then the session, not the partner, is silent."""
    run = 0
    for session in reversed(inputs["sessions"]):
        answered = set(session["answered"])
        if partner_id in answered or not set(inputs["others"]) <= answered:
            break
        run += 1
    return run


def _missing_feedback_thresholds(context: _Context) -> dict[str, Any]:
    return _configured(
        context, "missing_feedback", sessions=context.policy.missing_feedback.threshold
    )


def _missing_feedback_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> _Verdict:
    if not inputs["others"]:
        raise ValueError("missing feedback needs another partner who answered")
    run = _silent_run(inputs["partner_id"], inputs)
    fires = run >= thresholds["sessions"]
    return _Verdict(thresholds["severity"] if fires else None, {"silent_sessions": run})


# --- safety_concern -------------------------------------------------------------------------


def _safety_concern_cases(context: _Context) -> list[_Case]:
    cases = []
    for history in context.partners:
        current = _current(history, context)
        if current:
            inputs = {
                "session_id": str(current.session_id),
                "safety_concern": bool(current.safety_concern),
            }
            cases.append(_about(history, inputs))
    return cases


def _safety_concern_thresholds(context: _Context) -> dict[str, Any]:
    return {}  # no threshold, no configurable severity: the box ticked is always critical


def _safety_concern_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> _Verdict:
    return _Verdict("critical" if inputs["safety_concern"] is True else None, {})


_RULE_TABLE: dict[str, _Rule] = {
    "low_alliance": _Rule(_low_alliance_cases, _low_alliance_thresholds, _low_alliance_check),
    "alliance_drop": _Rule(_pair_cases("pct"), _alliance_drop_thresholds, _alliance_drop_check),
    "reliable_drop": _Rule(_pair_cases("total"), _reliable_drop_thresholds, _reliable_drop_check),
    "downward_trend": _Rule(
        _downward_trend_cases, _downward_trend_thresholds, _downward_trend_check
    ),
    "split_alliance": _Rule(
        _split_alliance_cases, _split_alliance_thresholds, _split_alliance_check
    ),
    "watch_item": _Rule(_watch_item_cases, _watch_item_thresholds, _watch_item_check),
    "airtime_imbalance": _Rule(
        _airtime_imbalance_cases, _airtime_imbalance_thresholds, _airtime_imbalance_check
    ),
    "missing_feedback": _Rule(
        _missing_feedback_cases, _missing_feedback_thresholds, _missing_feedback_check
    ),
    "safety_concern": _Rule(
        _safety_concern_cases, _safety_concern_thresholds, _safety_concern_check
    ),
}
assert tuple(_RULE_TABLE) == RULES  # every rule has exactly one implementation
