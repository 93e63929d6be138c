"""Rules about one partner's own answers (DESIGN §8): low alliance, drops (from the previous
answer, reliable change, from their own baseline), trend, watch items and the private safety
box. A partner is compared only with their earlier answers on the same instrument. Pure:
standard library only."""

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
    baseline_note,
    comparable,
    configured,
    least_squares_slope,
    newest_answer,
    placed,
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


# --- alliance_drop and reliable_drop: the partner's previous answer against the newest ------


def _pair_cases(value: str) -> Callable[[Context], list[Case]]:
    """The newest answer and the partner's previous answered session on the same instrument
    (however many sessions back: the evidence says how many)."""

    def cases(context: Context) -> list[Case]:
        found = []
        for history in context.partners:
            current = newest_answer(history, context)
            earlier = comparable(history, current) if current else []
            if current and earlier:
                previous, now = placed(earlier[-1], context, value), placed(current, context, value)
                inputs = {
                    **baseline_note(history, current),
                    "previous": previous,
                    "current": now,
                    "sessions_back": now["session"] - previous["session"],
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
    """Jacobson-Truax on RAW totals of one instrument: SE = sd·√(1-r), Sdiff = √2·SE, a fall of
    z·Sdiff or more is a reliable deterioration; rc_index = change / Sdiff."""
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
    # Unrounded: rounding raw totals is not scale-free, and a rule must not depend on the
    # instrument's units (the change and threshold scale together).
    fires = change <= -threshold
    return Verdict(thresholds["severity"] if fires else None, computed)


# --- personal_drop: a control chart on the partner's own answers --------------------------


def _personal_drop_cases(context: Context) -> list[Case]:
    needed = context.policy.personal_drop.option("baseline")
    cases = []
    for history in context.partners:
        current = newest_answer(history, context)
        earlier = comparable(history, current) if current else []
        if current and len(earlier) >= needed:
            inputs = {
                **baseline_note(history, current),
                "baseline": [placed(observation, context) for observation in earlier],
                "current": placed(current, context),
            }
            cases.append(about(history, inputs))
    return cases


def _personal_drop_thresholds(context: Context) -> dict[str, Any]:
    settings = context.policy.personal_drop
    return configured(
        context, "personal_drop", spreads=settings.threshold, floor=settings.option("floor")
    )


def _personal_drop_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    """Below the partner's own mean by more than `spreads` times their spread (the standard
    deviation of their earlier answers, never under `floor`: a partner who always answers the
    same is not alarmed by one point)."""
    earlier = [rounded(entry["pct"]) for entry in inputs["baseline"]]
    if len(earlier) < 2:
        raise ValueError("a baseline needs at least two answers")
    mean = sum(earlier) / len(earlier)
    spread = math.sqrt(sum((pct - mean) ** 2 for pct in earlier) / (len(earlier) - 1))
    used = max(spread, thresholds["floor"])
    current = rounded(inputs["current"]["pct"])
    limit = rounded(mean - thresholds["spreads"] * used)
    computed = {
        "baseline": rounded(mean),
        "spread": rounded(spread),
        "spread_used": rounded(used),
        "limit": limit,
        "current": current,
        "below_by": rounded(mean - current),
    }
    return Verdict(thresholds["severity"] if current < limit else None, computed)


# --- downward_trend -------------------------------------------------------------------------


def _downward_trend_cases(context: Context) -> list[Case]:
    window = context.policy.trend_window
    cases = []
    for history in context.partners:
        current = newest_answer(history, context)
        recent = [*comparable(history, current), current][-window:] if current else []
        if current and len(recent) == window:
            inputs = {
                **baseline_note(history, current),
                "scores": [placed(observation, context) for observation in recent],
            }
            cases.append(about(history, inputs))
    return cases


def _downward_trend_thresholds(context: Context) -> dict[str, Any]:
    settings = context.policy.downward_trend
    # The fall over the window must reach `fall` too: a steep slope made of small wiggles is
    # noise, not drift.
    return configured(
        context,
        "downward_trend",
        slope=settings.threshold,
        fall=settings.option("fall"),
        window=context.policy.trend_window,
    )


def _downward_trend_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    """Slope against the session (sessions nobody answered keep their place on the x axis)."""
    points = inputs["scores"]
    if len(points) != thresholds["window"]:
        raise ValueError("the scores do not fill the window")
    xs = [float(point["session"]) for point in points]
    pcts = [rounded(point["pct"]) for point in points]
    slope, fall = rounded(least_squares_slope(xs, pcts)), rounded(pcts[0] - pcts[-1])
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
    "personal_drop": Rule(_personal_drop_cases, _personal_drop_thresholds, _personal_drop_check),
    "downward_trend": Rule(
        _downward_trend_cases, _downward_trend_thresholds, _downward_trend_check
    ),
    "watch_item": Rule(_watch_item_cases, _watch_item_thresholds, _watch_item_check),
    "safety_concern": Rule(
        _safety_concern_cases, _safety_concern_thresholds, _safety_concern_check
    ),
}
