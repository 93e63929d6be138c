"""Rules about one partner's own answers (DESIGN §8): low alliance, drops, reliable change,
trend, watch items and the private safety box. Pure: standard library only."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from service.alerts.rule_base import (
    Case,
    Context,
    Rule,
    Verdict,
    about,
    configured,
    least_squares_slope,
    newest_answer,
    rounded,
    score,
)

Z_95 = 1.96  # two-sided 95 % for the Jacobson-Truax reliable change


# --- low_alliance ---------------------------------------------------------------------------


def _low_alliance_cases(context: Context) -> list[Case]:
    cases = []
    for history in context.partners:
        current = newest_answer(history, context)
        if current:
            cases.append(about(history, score(current)))
    return cases


def _low_alliance_thresholds(context: Context) -> dict[str, Any]:
    if context.cutoff_pct is not None:
        return configured(
            context, "low_alliance", cutoff=float(context.cutoff_pct), cutoff_source="instrument"
        )
    cutoff = context.policy.low_alliance.threshold
    return configured(context, "low_alliance", cutoff=cutoff, cutoff_source="policy")


def _low_alliance_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    pct, cutoff = rounded(inputs["pct"]), thresholds["cutoff"]
    fires = pct < cutoff
    return Verdict(thresholds["severity"] if fires else None, {"pct": pct, "cutoff": cutoff})


# --- alliance_drop and reliable_drop: the partner's previous score against the newest ---------


def _pair_cases(value: str) -> Callable[[Context], list[Case]]:
    def cases(context: Context) -> list[Case]:
        found = []
        for history in context.partners:
            current = newest_answer(history, context)
            if current and len(history.observations) >= 2:
                inputs = {
                    "previous": score(history.observations[-2], value),
                    "current": score(current, value),
                }
                found.append(about(history, inputs))
        return found

    return cases


def _alliance_drop_thresholds(context: Context) -> dict[str, Any]:
    return configured(context, "alliance_drop", drop=context.policy.alliance_drop.threshold)


def _alliance_drop_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    previous, current = rounded(inputs["previous"]["pct"]), rounded(inputs["current"]["pct"])
    drop = rounded(previous - current)
    fires = drop >= thresholds["drop"]
    computed = {"previous": previous, "current": current, "drop": drop}
    return Verdict(thresholds["severity"] if fires else None, computed)


def _reliable_drop_thresholds(context: Context) -> dict[str, Any] | None:
    norms = context.norms
    # Without norms (or with norms that give no measurement error) there is no reliable change.
    if norms is None or not (norms.sd > 0 and 0 <= norms.reliability < 1):
        return None
    return configured(
        context,
        "reliable_drop",
        sd=float(norms.sd),
        reliability=float(norms.reliability),
        z=Z_95,
    )


def _reliable_drop_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    """Jacobson-Truax on RAW totals: SE = sd·√(1-r), Sdiff = √2·SE, a fall of z·Sdiff or more is
    a reliable deterioration; rc_index = change / Sdiff."""
    previous, current = float(inputs["previous"]["total"]), float(inputs["current"]["total"])
    standard_error = thresholds["sd"] * math.sqrt(1 - thresholds["reliability"])
    sdiff = math.sqrt(2) * standard_error
    change = current - previous
    threshold = thresholds["z"] * sdiff
    computed = {
        "previous": rounded(previous),
        "current": rounded(current),
        "change": rounded(change),
        "se": rounded(standard_error),
        "sdiff": rounded(sdiff),
        "threshold": rounded(threshold),
        "rc_index": rounded(change / sdiff),
    }
    fires = computed["change"] <= -computed["threshold"]
    return Verdict(thresholds["severity"] if fires else None, computed)


# --- downward_trend -------------------------------------------------------------------------


def _downward_trend_cases(context: Context) -> list[Case]:
    window = context.policy.trend_window
    cases = []
    for history in context.partners:
        if newest_answer(history, context) and len(history.observations) >= window:
            scores = [score(observation) for observation in history.observations[-window:]]
            cases.append(about(history, {"scores": scores}))
    return cases


def _downward_trend_thresholds(context: Context) -> dict[str, Any]:
    policy = context.policy
    # The fall over the window must also reach the drop threshold: a steep slope made of small
    # wiggles is noise, not drift.
    return configured(
        context,
        "downward_trend",
        slope=policy.downward_trend.threshold,
        fall=policy.alliance_drop.threshold,
        window=policy.trend_window,
    )


def _downward_trend_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    pcts = [rounded(score["pct"]) for score in inputs["scores"]]
    if len(pcts) != thresholds["window"]:
        raise ValueError("the scores do not fill the window")
    slope, fall = rounded(least_squares_slope(pcts)), rounded(pcts[0] - pcts[-1])
    fires = slope <= thresholds["slope"] and fall >= thresholds["fall"]
    computed = {"slope": slope, "fall": fall, "first": pcts[0], "last": pcts[-1]}
    return Verdict(thresholds["severity"] if fires else None, computed)


# --- watch_item -----------------------------------------------------------------------------


def _watch_item_cases(context: Context) -> list[Case]:
    cases = []
    for history in context.partners:
        current = newest_answer(history, context)
        if current is None:
            continue
        items = {
            key: {"value": float(current.items[key]), "min": float(low), "max": float(high)}
            for key, (low, high) in sorted(current.watch_ranges.items())
            if key in current.items and high > low
        }
        if items:
            inputs = {"session_id": str(current.session_id), "items": items}
            cases.append(about(history, inputs))
    return cases


def _watch_item_thresholds(context: Context) -> dict[str, Any]:
    return configured(context, "watch_item", pct=context.policy.watch_item.threshold)


def _watch_item_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    item_pcts = {
        key: rounded(100 * (item["value"] - item["min"]) / (item["max"] - item["min"]))
        for key, item in inputs["items"].items()
    }
    low = {key: pct for key, pct in item_pcts.items() if pct < thresholds["pct"]}
    computed = {"item_pcts": item_pcts, "low_items": low}
    return Verdict(thresholds["severity"] if low else None, computed)


# --- safety_concern -------------------------------------------------------------------------


def _safety_concern_cases(context: Context) -> list[Case]:
    cases = []
    for history in context.partners:
        current = newest_answer(history, context)
        if current:
            inputs = {
                "session_id": str(current.session_id),
                "safety_concern": bool(current.safety_concern),
            }
            cases.append(about(history, inputs))
    return cases


def _safety_concern_thresholds(context: Context) -> dict[str, Any]:
    return {}  # no threshold, no configurable severity: the box ticked is always critical


def _safety_concern_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    return Verdict("critical" if inputs["safety_concern"] is True else None, {})


PARTNER_RULES: dict[str, Rule] = {
    "low_alliance": Rule(_low_alliance_cases, _low_alliance_thresholds, _low_alliance_check),
    "alliance_drop": Rule(_pair_cases("pct"), _alliance_drop_thresholds, _alliance_drop_check),
    "reliable_drop": Rule(_pair_cases("total"), _reliable_drop_thresholds, _reliable_drop_check),
    "downward_trend": Rule(
        _downward_trend_cases, _downward_trend_thresholds, _downward_trend_check
    ),
    "watch_item": Rule(_watch_item_cases, _watch_item_thresholds, _watch_item_check),
    "safety_concern": Rule(
        _safety_concern_cases, _safety_concern_thresholds, _safety_concern_check
    ),
}
