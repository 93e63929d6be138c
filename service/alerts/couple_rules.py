"""Rules about the couple (DESIGN §8): a split between the partners (about the lower one),
airtime, and asked partners who stay silent (one, or both). Pure: standard library only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.alerts.policy import WINDOW
from service.alerts.rule_base import (
    Case,
    Context,
    PartnerHistory,
    Rule,
    Verdict,
    about,
    configured,
    observation_for,
    rounded,
)

AIRTIME_SESSIONS = 2  # "two sessions running" (DESIGN §8); not a policy setting


# --- split_alliance -------------------------------------------------------------------------


def _pcts_for(partners: Sequence[PartnerHistory], session_id: str) -> dict[str, float] | None:
    """Both partners' pct for a session, keyed by partner id; None unless both answered it."""
    pcts = {}
    for history in partners:
        observation = observation_for(history, session_id)
        if observation is None:
            return None
        pcts[str(history.partner_id)] = float(observation.pct)
    return dict(sorted(pcts.items()))  # sorted: the same evidence whatever the partner order


def _split_alliance_cases(context: Context) -> list[Case]:
    if len(context.partners) != 2:  # a couple: exactly two partners
        return []
    newest = context.newest.session_id
    current = _pcts_for(context.partners, newest)
    if current is None:
        return []
    previous = None
    # The last earlier session both partners answered: the same partner lower there too (the
    # session right before) or a gap that widened since makes this one critical.
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
    return [Case(_lower(current)[0], inputs)]


def _split_alliance_thresholds(context: Context) -> dict[str, Any]:
    settings = context.policy.split_alliance
    return configured(
        context, "split_alliance", gap=settings.threshold, widen=settings.option("widen")
    )


def _gap(pcts: Mapping[str, float]) -> float:
    low, high = sorted(rounded(pct) for pct in pcts.values())
    return rounded(high - low)


def _lower(pcts: Mapping[str, float]) -> tuple[str, str]:
    """(lower partner id, higher partner id); ties go by id, so the evidence is stable."""
    ordered = sorted(pcts.items(), key=lambda pair: (rounded(pair[1]), pair[0]))
    return ordered[0][0], ordered[1][0]


def _split_alliance_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    current = inputs["current"]["pcts"]
    if len(current) != 2:
        raise ValueError("a split needs exactly two partners")
    lower_id, higher_id = _lower(current)
    gap, limit = _gap(current), thresholds["gap"]
    previous = inputs["previous"]
    previous_gap = _gap(previous["pcts"]) if previous else None
    # Only a split with the same partner lower counts: when the lower partner flips, the
    # therapist hears of the new lower partner at the usual severity, nothing more.
    same_lower = previous_gap is not None and _lower(previous["pcts"])[0] == lower_id
    was_split = same_lower and previous_gap >= limit
    persists = was_split and previous["consecutive"]
    widened = was_split and gap - previous_gap >= thresholds["widen"]
    computed = {
        "gap": gap,
        "lower_partner_id": lower_id,
        "lower_pct": rounded(current[lower_id]),
        "higher_partner_id": higher_id,
        "higher_pct": rounded(current[higher_id]),
        "previous_gap": previous_gap,
        "same_partner_lower": bool(same_lower),
        "persists": bool(persists),
        "widened": bool(widened),
    }
    if gap < limit:
        return Verdict(None, computed)
    return Verdict("critical" if persists or widened else thresholds["severity"], computed)


# --- airtime_imbalance ----------------------------------------------------------------------


def _airtime_imbalance_cases(context: Context) -> list[Case]:
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
            cases.append(about(history, {"shares": shares}))
    return cases


def _airtime_imbalance_thresholds(context: Context) -> dict[str, Any]:
    return configured(
        context,
        "airtime_imbalance",
        share=context.policy.airtime_imbalance.threshold,
        sessions=AIRTIME_SESSIONS,
    )


def _airtime_imbalance_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    shares = [rounded(entry["share"]) for entry in inputs["shares"]]
    below = sum(share < thresholds["share"] for share in shares)
    fires = len(shares) == thresholds["sessions"] and below == len(shares)
    computed = {"shares": shares, "sessions_below": below}
    return Verdict(thresholds["severity"] if fires else None, computed)


# --- missing_feedback and couple_silent: asked partners who stay silent ----------------------


def _sessions(context: Context) -> list[dict[str, Any]]:
    partner_ids = sorted(str(history.partner_id) for history in context.partners)
    return [
        {
            "session_id": str(slot.session_id),
            "answered": sorted(str(p) for p in slot.answered),
            "asked": [p for p in partner_ids if context.asked(slot, p)],
        }
        for slot in context.slots[-WINDOW:]
    ]


def _missing_feedback_cases(context: Context) -> list[Case]:
    sessions = _sessions(context)
    partner_ids = [str(history.partner_id) for history in context.partners]
    cases = []
    for partner_id in partner_ids:
        others = [other for other in partner_ids if other != partner_id]
        inputs = {"others": others, "sessions": sessions}
        if others:
            cases.append(Case(partner_id, {"partner_id": partner_id, **inputs}))
    return cases


def _silent_run(partner_id: str, inputs: Mapping[str, Any]) -> int:
    """Sessions running, newest back, the partner was asked and gave no feedback while every
    other partner did. A session the partner was not asked for, or nobody answered, ends the
    run: then nothing is missing from them in particular."""
    run = 0
    for session in reversed(inputs["sessions"]):
        answered = set(session["answered"])
        asked = partner_id in session.get("asked", [partner_id])
        if not asked or partner_id in answered or not set(inputs["others"]) <= answered:
            break
        run += 1
    return run


def _missing_feedback_thresholds(context: Context) -> dict[str, Any]:
    return configured(
        context, "missing_feedback", sessions=context.policy.missing_feedback.threshold
    )


def _missing_feedback_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    if not inputs["others"]:
        raise ValueError("missing feedback needs another partner who answered")
    run = _silent_run(inputs["partner_id"], inputs)
    fires = run >= thresholds["sessions"]
    return Verdict(thresholds["severity"] if fires else None, {"silent_sessions": run})


def _couple_silent_cases(context: Context) -> list[Case]:
    sessions = _sessions(context)
    return [Case(None, {"sessions": sessions})] if any(s["asked"] for s in sessions) else []


def _couple_silent_run(sessions: list[dict[str, Any]]) -> int:
    """Sessions running, newest back, in which someone was asked and no one asked answered."""
    run = 0
    for session in reversed(sessions):
        if not session["asked"] or set(session["asked"]) & set(session["answered"]):
            break
        run += 1
    return run


def _couple_silent_thresholds(context: Context) -> dict[str, Any]:
    return configured(context, "couple_silent", sessions=context.policy.couple_silent.threshold)


def _couple_silent_check(inputs: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    run = _couple_silent_run(inputs["sessions"])
    fires = run >= thresholds["sessions"]
    return Verdict(thresholds["severity"] if fires else None, {"silent_sessions": run})


COUPLE_RULES: dict[str, Rule] = {
    "split_alliance": Rule(
        _split_alliance_cases, _split_alliance_thresholds, _split_alliance_check
    ),
    "airtime_imbalance": Rule(
        _airtime_imbalance_cases, _airtime_imbalance_thresholds, _airtime_imbalance_check
    ),
    "missing_feedback": Rule(
        _missing_feedback_cases, _missing_feedback_thresholds, _missing_feedback_check
    ),
    "couple_silent": Rule(_couple_silent_cases, _couple_silent_thresholds, _couple_silent_check),
}
