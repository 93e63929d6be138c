"""Alert rules (pure, DESIGN §8): every rule at, just below and just above its thresholds, the
Jacobson-Truax vector, split-alliance escalation, the policy, and properties over random
histories. No database and no app: these tests need neither PostgreSQL nor fixtures."""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.alerts import rules
from service.alerts.policy import RULES, SEVERITIES, WINDOW, Policy, PolicyError, RuleSettings
from service.alerts.rules import (
    RULE_VERSION,
    Norms,
    Observation,
    PartnerHistory,
    SessionSlot,
    evaluate,
    recompute,
)

A, B = "partner-a", "partner-b"
START = datetime(2026, 1, 5, 17, tzinfo=UTC)
WATCH = ("openness", "balance", "airtime")  # the SAC-8 watch items, 0-10 each
HIGH_WATCH = dict.fromkeys(WATCH, 10.0)
DEFAULT = Policy()
# Round thresholds for the boundary tests (the defaults are calibrated on the bench and
# checked in test_default_policy_is_the_design_table).
TABLE = Policy.from_dict(
    {
        "low_alliance": {"threshold": 90},
        "alliance_drop": {"threshold": 5},
        "downward_trend": {"threshold": -2.5, "fall": 5},
        "split_alliance": {"threshold": 10},
        "watch_item": {"threshold": 70},
    }
)
JT_NORMS = Norms(sd=6.14, reliability=0.75)  # SE 3.07: the DESIGN §8 test vector
PROPERTY = settings(max_examples=75, deadline=None)


def couple(a, b, *, shares=None, totals=None, watch=None, safety=()):
    """A couple's bounded history, oldest session first.

    a, b: each partner's pct per completed session, None where that partner gave no feedback.
    shares: partner A's recorded time share per session (B has the rest), None if unrecorded.
    totals: raw totals per partner id, aligned with the sessions (default pct · 0.8, SAC-8).
    watch: watch-item answers per partner id for the newest session (default all 10).
    safety: partner ids who ticked the safety box in the newest session.
    """
    count = len(a)
    assert len(b) == count
    histories = []
    for partner_id, pcts in ((A, a), (B, b)):
        raw = (totals or {}).get(partner_id, [None] * count)
        observations = tuple(
            Observation(
                session_id=f"s{index}",
                session_at=START + timedelta(weeks=index),
                total=round(pct * 0.8, 2) if raw[index] is None else raw[index],
                pct=pct,
                items=(watch or {}).get(partner_id, HIGH_WATCH) if index == count - 1 else {},
                watch_ranges=dict.fromkeys(WATCH, (0.0, 10.0)),
                safety_concern=partner_id in safety and index == count - 1,
            )
            for index, pct in enumerate(pcts)
            if pct is not None
        )
        histories.append(PartnerHistory(partner_id, observations))
    slots = [
        SessionSlot(
            session_id=f"s{index}",
            session_at=START + timedelta(weeks=index),
            answered=frozenset(p for p, pcts in ((A, a), (B, b)) if pcts[index] is not None),
            time_shares=None
            if shares is None or shares[index] is None
            else {A: shares[index], B: round(100 - shares[index], 2)},
        )
        for index in range(count)
    ]
    return histories, slots


def fired(rule, history, policy=TABLE, norms=None, cutoff_pct=None):
    """(partner id, severity) of each decision of one rule."""
    partners, slots = history
    decisions = evaluate(partners, slots, policy, norms, cutoff_pct)
    return [(d.partner_id, d.severity) for d in decisions if d.rule == rule]


def only_decision(rule, history, policy=TABLE, norms=None, cutoff_pct=None):
    partners, slots = history
    decisions = evaluate(partners, slots, policy, norms, cutoff_pct)
    [decision] = [d for d in decisions if d.rule == rule]
    return decision


def with_rule(policy, rule, **changes):
    return replace(policy, **{rule: replace(policy.rule(rule), **changes)})


# --- each rule at, just below and just above its thresholds ---------------------------------

WARN_A = [(A, "warning")]
WARN_B = [(B, "warning")]


@pytest.mark.parametrize(
    ("pct", "expected"),
    [
        pytest.param(89.99, WARN_A, id="pct 89.99 just below the cutoff 90 fires"),
        pytest.param(90.0, [], id="pct 90 at the cutoff does not fire"),
        pytest.param(90.01, [], id="pct 90.01 just above the cutoff does not fire"),
    ],
)
def test_low_alliance_fires_below_the_cutoff(pct, expected):
    assert fired("low_alliance", couple([pct], [95])) == expected


@pytest.mark.parametrize(
    ("newest", "expected"),
    [
        pytest.param(75.01, [], id="fall 4.99 just below the drop threshold 5 does not fire"),
        pytest.param(75.0, WARN_A, id="fall 5 at the drop threshold fires"),
        pytest.param(74.99, WARN_A, id="fall 5.01 just above the drop threshold fires"),
    ],
)
def test_alliance_drop_fires_on_a_fall_from_the_previous_score(newest, expected):
    assert fired("alliance_drop", couple([80, newest], [95, 95])) == expected


@pytest.mark.parametrize(
    ("a", "totals", "expected"),
    [
        pytest.param([80, 70, 70], [35, 20, 20], [], id="level with the previous score: no drop"),
        pytest.param(
            [70, 80, 75],
            [20, 35, 24],
            [(A, "alliance_drop"), (A, "reliable_drop")],
            id="a fall from the previous score, not from the first",
        ),
        pytest.param(
            [80, None, 74],
            [35, None, 24],
            [(A, "alliance_drop"), (A, "reliable_drop")],
            id="the previous score across a session the partner skipped",
        ),
    ],
)
def test_drops_compare_with_the_partners_previous_score(a, totals, expected):
    partners, slots = couple(a, [95] * len(a), totals={A: totals})
    decisions = evaluate(partners, slots, TABLE, JT_NORMS)
    drops = [
        (d.partner_id, d.rule) for d in decisions if d.rule in ("alliance_drop", "reliable_drop")
    ]
    assert drops == expected


@pytest.mark.parametrize(
    ("newest_total", "expected"),
    [
        pytest.param(26.5, [], id="change -8.50 just short of the threshold 8.51 does not fire"),
        pytest.param(26.49, [(A, "critical")], id="change -8.51 at the threshold fires"),
        pytest.param(26.48, [(A, "critical")], id="change -8.52 beyond the threshold fires"),
    ],
)
def test_reliable_drop_fires_at_the_jacobson_truax_threshold(newest_total, expected):
    history = couple([60, 50], [95, 95], totals={A: [35, newest_total]})
    assert fired("reliable_drop", history, norms=JT_NORMS) == expected


@pytest.mark.parametrize(
    ("pcts", "expected"),
    [
        pytest.param([80, 77.51, 75.02, 72.53], [], id="slope -2.49 just above -2.5 no fire"),
        pytest.param([80, 77.5, 75, 72.5], WARN_A, id="slope -2.5 at the threshold fires"),
        pytest.param([80, 77.49, 74.98, 72.47], WARN_A, id="slope -2.51 just below fires"),
        pytest.param([90, 85, 75, 85.01], [], id="steep but fall 4.99 below the drop 5 no fire"),
        pytest.param([90, 85, 75, 85], WARN_A, id="steep and fall 5 at the drop threshold fires"),
        pytest.param([90, 85, 75, 84.99], WARN_A, id="steep and fall 5.01 fires"),
        pytest.param([80, 60, 40], [], id="three scores do not fill the window of 4"),
    ],
)
def test_downward_trend_needs_a_steep_slope_and_a_real_fall(pcts, expected):
    assert fired("downward_trend", couple(pcts, [95] * len(pcts))) == expected


@pytest.mark.parametrize(
    ("b_pct", "expected"),
    [
        pytest.param(89.99, [], id="gap 9.99 just below 10 does not fire"),
        pytest.param(90.0, [(A, "warning")], id="gap 10 at the threshold fires (A lower)"),
        pytest.param(90.01, [(A, "warning")], id="gap 10.01 just above fires (A lower)"),
    ],
)
def test_split_alliance_fires_on_the_gap_between_partners(b_pct, expected):
    assert fired("split_alliance", couple([80], [b_pct])) == expected


@pytest.mark.parametrize(
    ("balance", "expected"),
    [
        pytest.param(6.99, WARN_A, id="balance 69.9 % just below 70 % fires"),
        pytest.param(7.0, [], id="balance 70 % at the threshold does not fire"),
        pytest.param(7.01, [], id="balance 70.1 % just above does not fire"),
    ],
)
def test_watch_item_fires_on_a_low_watch_item(balance, expected):
    watch = {A: {**HIGH_WATCH, "balance": balance}}
    assert fired("watch_item", couple([95], [95], watch=watch)) == expected


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        pytest.param([34.99, 34.99], [(A, "info")], id="34.99 % two sessions running fires"),
        pytest.param([35, 35], [], id="35 % at the threshold does not fire"),
        pytest.param([35.01, 35.01], [], id="35.01 % just above does not fire"),
        pytest.param([50, 34.99], [], id="low in the newest session only does not fire"),
        pytest.param([None, 20], [], id="the session before not recorded does not fire"),
        pytest.param([20, None], [], id="the newest session not recorded does not fire"),
    ],
)
def test_airtime_imbalance_fires_two_sessions_running(shares, expected):
    assert fired("airtime_imbalance", couple([95, 95], [95, 95], shares=shares)) == expected


@pytest.mark.parametrize(
    ("b", "expected"),
    [
        pytest.param([90, 90, None], [], id="one silent session, below 2, does not fire"),
        pytest.param([90, None, None], WARN_B, id="two silent sessions, at 2, fires"),
        pytest.param([None, None, None], WARN_B, id="three silent sessions, above 2, fires"),
    ],
)
def test_missing_feedback_fires_on_sessions_running_without_feedback(b, expected):
    assert fired("missing_feedback", couple([90, 90, 90], b)) == expected


def test_missing_feedback_needs_the_other_partner_to_have_answered():
    # s1: nobody answered (the session, not partner B, is silent), so B's run is 1 only.
    assert fired("missing_feedback", couple([90, None, 90], [90, None, None])) == []
    assert fired("missing_feedback", couple([90, None, None], [90, None, None])) == []


@pytest.mark.parametrize(
    ("safety", "expected"),
    [
        pytest.param({A}, [(A, "critical")], id="box ticked fires critical"),
        pytest.param(set(), [], id="box not ticked does not fire"),
    ],
)
def test_safety_concern_is_critical_at_once(safety, expected):
    assert fired("safety_concern", couple([100], [100], safety=safety)) == expected


@pytest.mark.parametrize(
    ("rule", "threshold", "history", "quiet", "alarming"),
    [
        pytest.param("low_alliance", 80, lambda v: couple([v], [95]), 80.01, 79.99, id="cutoff 80"),
        pytest.param(
            "alliance_drop", 12, lambda v: couple([80, 80 - v], [95, 95]), 11.99, 12, id="drop 12"
        ),
        pytest.param(
            "downward_trend",
            -4,
            lambda v: couple([80 + v * k for k in range(4)], [95] * 4),
            -3.99,
            -4,
            id="slope -4",
        ),
        pytest.param(
            "split_alliance", 20, lambda v: couple([70], [70 + v]), 19.99, 20, id="gap 20"
        ),
        pytest.param(
            "watch_item",
            50,
            lambda v: couple([95], [95], watch={A: {"airtime": v / 10}}),
            50,
            49.9,
            id="watch 50 %",
        ),
        pytest.param(
            "airtime_imbalance",
            25,
            lambda v: couple([95, 95], [95, 95], shares=[v, v]),
            25,
            24.99,
            id="share 25 %",
        ),
        pytest.param(
            "missing_feedback",
            3,
            lambda v: couple([90] * 4, [90] * (4 - v) + [None] * v),
            2,
            3,
            id="3 sessions",
        ),
    ],
)
def test_a_clinic_threshold_replaces_the_default(rule, threshold, history, quiet, alarming):
    # quiet: just on the calm side of the clinic's threshold; alarming: at or just past it.
    policy = with_rule(TABLE, rule, threshold=threshold)
    assert fired(rule, history(quiet), policy) == []
    assert fired(rule, history(alarming), policy) != []


# --- evidence -------------------------------------------------------------------------------


def test_jacobson_truax_vector_35_to_24_is_a_reliable_drop():
    history = couple([60, 40], [95, 95], totals={A: [35, 24]})
    decision = only_decision("reliable_drop", history, norms=JT_NORMS)
    computed = decision.evidence["computed"]
    assert (decision.severity, decision.partner_id, decision.session_id) == ("critical", A, "s1")
    assert computed["se"] == pytest.approx(3.07, abs=0.01)
    assert computed["threshold"] == pytest.approx(8.51, abs=0.01)
    assert computed["rc_index"] == pytest.approx(-2.53, abs=0.01)
    assert (computed["previous"], computed["current"], computed["change"]) == (35, 24, -11)
    inputs = decision.evidence["inputs"]
    assert inputs["previous"] == {"session_id": "s0", "total": 35, "session": 0}
    assert inputs["current"] == {"session_id": "s1", "total": 24, "session": 1}
    assert inputs["sessions_back"] == 1
    assert decision.evidence["thresholds"] == {
        "sd": 6.14,
        "reliability": 0.75,
        "z": 1.96,
        "severity": "critical",
    }


def test_jacobson_truax_35_to_27_is_no_reliable_drop():
    history = couple([60, 45], [95, 95], totals={A: [35, 27]})
    assert fired("reliable_drop", history, norms=JT_NORMS) == []


def test_reliable_drop_needs_norms():
    assert fired("reliable_drop", couple([60, 40], [95, 95], totals={A: [35, 24]})) == []


# A steady partner A who falls, is side-lined and unsafe: every rule but the silences fires
# (with JT_NORMS and the TABLE policy).
EVERY_RULE_BUT_SILENCES = couple(
    [95, 95, 95, 80],
    [95, 95, 96, 98],
    shares=[30, 30, 30, 30],
    totals={A: [35, 33, 35, 24]},
    watch={A: {"openness": 10, "balance": 5, "airtime": 6}},
    safety={A},
)


def test_evidence_is_complete_for_every_rule():
    history = EVERY_RULE_BUT_SILENCES
    partners, slots = history
    decisions = evaluate(partners, slots, TABLE, JT_NORMS)
    assert {d.rule for d in decisions} == set(RULES) - {"missing_feedback", "couple_silent"}
    for decision in decisions:
        evidence = decision.evidence
        assert set(evidence) == {
            "rule",
            "rule_version",
            "severity",
            "inputs",
            "thresholds",
            "computed",
        }
        assert evidence["rule"] == decision.rule
        assert evidence["rule_version"] == RULE_VERSION[decision.rule]
        assert evidence["severity"] == decision.severity
        assert '"session_id": "s3"' in json.dumps(evidence["inputs"])
    watch = only_decision("watch_item", history)
    assert watch.evidence["computed"]["low_items"] == {"balance": 50, "airtime": 60}
    assert watch.evidence["computed"]["item_pcts"]["openness"] == 100


def test_split_records_who_is_lower_and_both_scores():
    decision = only_decision("split_alliance", couple([92], [75.5]))
    assert decision.partner_id == B  # the alert is about the lower partner
    assert decision.evidence["inputs"]["current"] == {"session_id": "s0", "pcts": {A: 92, B: 75.5}}
    computed = decision.evidence["computed"]
    assert computed["lower_partner_id"] == B and computed["higher_partner_id"] == A
    assert (computed["lower_pct"], computed["higher_pct"], computed["gap"]) == (75.5, 92, 16.5)


@pytest.mark.parametrize(
    ("a", "b", "severity", "persists", "widened"),
    [
        pytest.param([80], [95], "warning", False, False, id="first split: warning"),
        pytest.param(
            [85, 80], [90, 95], "warning", False, False, id="after a gap of 5, not a split: warning"
        ),
        pytest.param(
            [80, 80], [95, 92], "critical", True, False, id="persists 2 sessions running: critical"
        ),
        pytest.param(
            [80, 85, 80],
            [92, None, 97],
            "critical",
            False,
            True,
            id="5 wider than the last split, a session between: critical",
        ),
        pytest.param(
            [80, 85, 80],
            [92, None, 96],
            "warning",
            False,
            False,
            id="only 4 wider than the last split, a session between: warning",
        ),
        pytest.param(
            [80, 95], [95, 80], "warning", False, False, id="the lower partner flips: warning"
        ),
        pytest.param(
            [80, 85, 80],
            [95, None, 92],
            "warning",
            False,
            False,
            id="narrower than the last split, a session between: warning",
        ),
    ],
)
def test_split_alliance_is_critical_when_it_persists_or_widens(a, b, severity, persists, widened):
    decision = only_decision("split_alliance", couple(a, b))
    assert decision.severity == severity
    assert decision.evidence["computed"]["persists"] is persists
    assert decision.evidence["computed"]["widened"] is widened


def test_split_escalates_to_critical_whatever_the_configured_severity():
    policy = with_rule(TABLE, "split_alliance", severity="info")
    assert fired("split_alliance", couple([80], [95]), policy) == [(A, "info")]
    assert fired("split_alliance", couple([80, 80], [95, 95]), policy) == [(A, "critical")]


def test_old_scores_raise_nothing_for_a_session_the_partner_did_not_answer():
    # A scored low in s0 but gave no feedback for s1: no low, safety or split alert for s1.
    history = couple([40, None], [95, 95], watch={A: {"balance": 0}}, safety={A})
    assert fired("low_alliance", history) == []
    assert fired("safety_concern", history) == []
    assert fired("split_alliance", history) == []


def test_no_sessions_no_decisions():
    partners, _ = couple([40], [95])
    assert evaluate(partners, [], DEFAULT) == []


def test_only_restricts_the_rules_evaluated():
    partners, slots = couple([40, 40, 40], [95, None, None])
    decisions = evaluate(partners, slots, DEFAULT, only={"missing_feedback"})
    assert [(d.rule, d.partner_id) for d in decisions] == [("missing_feedback", B)]
    with pytest.raises(ValueError, match="no_such_rule"):
        evaluate(partners, slots, DEFAULT, only={"no_such_rule"})


# --- disabled rules and the instrument cutoff -----------------------------------------------

FIRING = {  # one history per rule that fires it under the TABLE policy
    "low_alliance": couple([80], [95]),
    "alliance_drop": couple([95, 89], [95, 95]),
    "reliable_drop": couple([95, 94], [95, 95], totals={A: [35, 24]}),
    "personal_drop": couple([95, 95, 95, 84], [95] * 4),
    "downward_trend": couple([100, 97, 94, 91], [95] * 4),
    "split_alliance": couple([95], [80]),
    "watch_item": couple([95], [95], watch={B: {"openness": 2}}),
    "airtime_imbalance": couple([95, 95], [95, 95], shares=[70, 70]),
    "missing_feedback": couple([95, 95], [None, None]),
    "couple_silent": couple([95, None, None], [95, None, None]),
    "safety_concern": couple([95], [95], safety={B}),
}


@pytest.mark.parametrize("rule", [r for r in RULES if r != "safety_concern"])
def test_a_disabled_rule_never_fires(rule):
    partners, slots = FIRING[rule]
    enabled = evaluate(partners, slots, TABLE, JT_NORMS)
    disabled = evaluate(partners, slots, with_rule(TABLE, rule, enabled=False), JT_NORMS)
    assert rule in {d.rule for d in enabled}
    assert [d for d in enabled if d.rule != rule] == disabled


def test_the_safety_concern_cannot_be_disabled():
    with pytest.raises(PolicyError) as caught:
        Policy.from_dict({"safety_concern": {"enabled": False}})
    assert caught.value.errors == {
        "safety_concern.enabled": ["The safety concern alert cannot be switched off."]
    }
    with pytest.raises(PolicyError):  # nor by building the policy directly
        with_rule(DEFAULT, "safety_concern", enabled=False)
    assert fired("safety_concern", FIRING["safety_concern"]) == [(B, "critical")]


@pytest.mark.parametrize(
    ("pct", "cutoff_pct", "expected"),
    [
        pytest.param(85, 80, [], id="85 above the instrument cutoff 80: no fire though below 90"),
        pytest.param(80, 80, [], id="80 at the instrument cutoff: no fire"),
        pytest.param(79.99, 80, WARN_A, id="79.99 just below the instrument cutoff fires"),
        pytest.param(92, 95, WARN_A, id="92 below the instrument cutoff 95 fires though above 90"),
    ],
)
def test_the_instrument_cutoff_overrides_the_policy(pct, cutoff_pct, expected):
    assert fired("low_alliance", couple([pct], [100]), cutoff_pct=cutoff_pct) == expected


def test_the_instrument_cutoff_is_in_the_evidence_and_does_not_enable_the_rule():
    decision = only_decision("low_alliance", couple([70], [95]), cutoff_pct=75)
    assert decision.evidence["thresholds"]["cutoff"] == 75
    assert decision.evidence["thresholds"]["cutoff_source"] == "instrument"
    disabled = with_rule(DEFAULT, "low_alliance", enabled=False)
    assert fired("low_alliance", couple([70], [95]), disabled, cutoff_pct=75) == []


# --- recompute ------------------------------------------------------------------------------


def test_recompute_confirms_stored_evidence_and_rejects_tampered_evidence():
    decision = only_decision("reliable_drop", FIRING["reliable_drop"], norms=JT_NORMS)
    evidence = json.loads(json.dumps(decision.evidence))  # as stored
    assert recompute(evidence)
    tampered = [
        {**evidence, "severity": "warning"},
        {**evidence, "rule_version": RULE_VERSION["reliable_drop"] + 1},
        {**evidence, "rule": "no_such_rule"},
        {**evidence, "computed": {**evidence["computed"], "rc_index": -9}},
        {**evidence, "thresholds": {**evidence["thresholds"], "sd": 60}},
        {**evidence, "inputs": {**evidence["inputs"], "current": {"session_id": "s1"}}},
        {key: value for key, value in evidence.items() if key != "inputs"},
    ]
    assert [recompute(bad) for bad in tampered] == [False] * len(tampered)


# --- policy ---------------------------------------------------------------------------------


def test_default_policy_is_the_design_table():
    assert Policy.default() == Policy() == Policy.from_dict({})
    assert Policy.default().to_dict() == {
        "low_alliance": {"enabled": True, "threshold": 75, "severity": "warning"},
        "alliance_drop": {"enabled": True, "threshold": 18, "severity": "warning"},
        "reliable_drop": {"enabled": True, "severity": "critical"},
        "personal_drop": {
            "enabled": True,
            "threshold": 2.75,
            "severity": "warning",
            "floor": 3.5,
            "baseline": 3,
        },
        "downward_trend": {"enabled": True, "threshold": -3, "severity": "warning", "fall": 12},
        "split_alliance": {"enabled": True, "threshold": 20, "severity": "warning", "widen": 5},
        "watch_item": {"enabled": True, "threshold": 50, "severity": "warning"},
        "airtime_imbalance": {"enabled": True, "threshold": 35, "severity": "info"},
        "missing_feedback": {"enabled": True, "threshold": 2, "severity": "warning"},
        "couple_silent": {"enabled": True, "threshold": 2, "severity": "warning"},
        "safety_concern": {"enabled": True, "severity": "critical"},
        "trend_window": 4,
    }


def test_missing_keys_fall_back_to_the_defaults():
    policy = Policy.from_dict({"split_alliance": {"threshold": 12}, "missing_feedback": {}})
    assert policy.split_alliance == RuleSettings(
        enabled=True, threshold=12, severity="warning", options={"widen": 5}
    )
    assert replace(policy, split_alliance=DEFAULT.split_alliance) == DEFAULT


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param({"split_alliance": {"threshold": -1}}, "split_alliance.threshold", "gap"),
        pytest.param({"split_alliance": {"threshold": 0}}, "split_alliance.threshold", "gap"),
        pytest.param({"alliance_drop": {"threshold": -5}}, "alliance_drop.threshold", "fall"),
        pytest.param({"alliance_drop": {"threshold": "5"}}, "alliance_drop.threshold", "fall"),
        pytest.param({"low_alliance": {"threshold": 101}}, "low_alliance.threshold", "0 to 100"),
        pytest.param({"low_alliance": {"threshold": -0.1}}, "low_alliance.threshold", "cutoff"),
        pytest.param({"downward_trend": {"threshold": 0}}, "downward_trend.threshold", "negative"),
        pytest.param({"watch_item": {"threshold": 120}}, "watch_item.threshold", "item's range"),
        pytest.param(
            {"airtime_imbalance": {"threshold": 60}}, "airtime_imbalance.threshold", "0 to 50"
        ),
        pytest.param(
            {"missing_feedback": {"threshold": 1.5}}, "missing_feedback.threshold", "whole"
        ),
        pytest.param({"missing_feedback": {"threshold": 0}}, "missing_feedback.threshold", "1 to"),
        pytest.param(
            {"missing_feedback": {"threshold": True}}, "missing_feedback.threshold", "whole"
        ),
        pytest.param({"reliable_drop": {"threshold": 3}}, "reliable_drop.threshold", "norms"),
        pytest.param({"safety_concern": {"threshold": 1}}, "safety_concern.threshold", "ticked"),
        pytest.param({"safety_concern": {"severity": "info"}}, "safety_concern.severity", "always"),
        pytest.param({"alliance_drop": {"severity": "urgent"}}, "alliance_drop.severity", "one of"),
        pytest.param({"alliance_drop": {"enabled": "yes"}}, "alliance_drop.enabled", "true or"),
        pytest.param({"alliance_drop": {"colour": "red"}}, "alliance_drop.colour", "Unknown"),
        pytest.param({"alliance_drop": 5}, "alliance_drop", "object"),
        pytest.param({"no_such_rule": {}}, "no_such_rule", "Unknown"),
        pytest.param({"trend_window": 1}, "trend_window", "2 to 8"),
        pytest.param({"trend_window": 9}, "trend_window", "2 to 8"),
        pytest.param({"trend_window": float("nan")}, "trend_window", "whole"),
        pytest.param(
            {"split_alliance": {"threshold": float("inf")}}, "split_alliance.threshold", "gap"
        ),
        pytest.param(
            {"alliance_drop": {"threshold": float("nan")}}, "alliance_drop.threshold", "fall"
        ),
    ],
)
def test_nonsense_policies_are_refused_naming_the_field(data, field, message):
    with pytest.raises(PolicyError) as caught:
        Policy.from_dict(data)
    assert list(caught.value.errors) == [field]
    assert message in caught.value.errors[field][0]


def test_every_nonsense_field_is_named_at_once():
    data = {
        "split_alliance": {"threshold": -1, "severity": "loud"},
        "trend_window": 0,
        "extra": 1,
    }
    with pytest.raises(PolicyError) as caught:
        Policy.from_dict(data)
    assert set(caught.value.errors) == {
        "split_alliance.threshold",
        "split_alliance.severity",
        "trend_window",
        "extra",
    }
    with pytest.raises(PolicyError):
        Policy.from_dict([("split_alliance", {})])


# --- properties -----------------------------------------------------------------------------

pcts = st.one_of(
    st.integers(0, 100).map(float),
    st.floats(0, 100).map(lambda value: round(value, 2)),
)
norms = st.one_of(
    st.none(),
    st.builds(Norms, sd=st.floats(0.5, 20), reliability=st.floats(0, 0.95)),
)
cutoffs = st.one_of(st.none(), st.integers(0, 100).map(float))


@st.composite
def walks(draw, count):
    """A partner's pct over sessions: a random walk, so drops, trends and plateaus all occur."""
    scores = [draw(pcts)]
    for _ in range(count - 1):
        step = draw(st.one_of(st.integers(-15, 8), st.floats(-15, 8)))
        scores.append(round(min(100.0, max(0.0, scores[-1] + step)), 2))
    return scores


@st.composite
def histories(draw):
    """Random couples: any scores, partners sometimes silent, shares sometimes recorded."""
    count = draw(st.integers(1, WINDOW))
    who = st.sampled_from(["both", "both", "both", "a", "b", "none"])
    answered = draw(st.lists(who, min_size=count, max_size=count))
    a = [
        pct if w in ("both", "a") else None
        for w, pct in zip(answered, draw(walks(count)), strict=True)
    ]
    b = [
        pct if w in ("both", "b") else None
        for w, pct in zip(answered, draw(walks(count)), strict=True)
    ]
    share = st.integers(0, 100).map(float)
    shares = draw(st.lists(st.one_of(st.none(), share), min_size=count, max_size=count))
    if draw(st.booleans()):  # most therapists record every session or none
        shares = draw(st.lists(share, min_size=count, max_size=count))
    items = st.fixed_dictionaries({key: st.integers(0, 10).map(float) for key in WATCH})
    watch = {A: draw(items), B: draw(items)}
    safety = draw(st.sets(st.sampled_from([A, B])))
    return couple(a, b, shares=shares, watch=watch, safety=safety)


THRESHOLDS = {  # realistic ranges, so that rules fire often enough to be tested
    "low_alliance": st.integers(50, 100),
    "alliance_drop": st.floats(0.5, 30).map(lambda value: round(value, 2)),
    "personal_drop": st.floats(0.5, 4).map(lambda value: round(value, 2)),
    "downward_trend": st.floats(-20, -0.5).map(lambda value: round(value, 2)),
    "split_alliance": st.floats(0.5, 40).map(lambda value: round(value, 2)),
    "watch_item": st.integers(0, 100),
    "airtime_imbalance": st.integers(0, 50),
    "missing_feedback": st.integers(1, 4),
    "couple_silent": st.integers(1, 4),
}
OPTION_VALUES = {  # realistic ranges of the rules' own options
    "personal_drop": {
        "floor": st.floats(0.5, 8).map(lambda value: round(value, 2)),
        "baseline": st.integers(2, 5),
    },
    "downward_trend": {"fall": st.floats(0.5, 30).map(lambda value: round(value, 2))},
    "split_alliance": {"widen": st.floats(0.5, 20).map(lambda value: round(value, 2))},
}


@st.composite
def policies(draw):
    rules = {
        rule: RuleSettings(
            enabled=draw(st.sampled_from([True, True, True, False])),
            threshold=draw(THRESHOLDS[rule]),
            severity=draw(st.sampled_from(SEVERITIES)),
            options={name: draw(values) for name, values in OPTION_VALUES.get(rule, {}).items()},
        )
        for rule in THRESHOLDS
    }
    reliable = RuleSettings(enabled=draw(st.booleans()), severity=draw(st.sampled_from(SEVERITIES)))
    return Policy(**rules, reliable_drop=reliable, trend_window=draw(st.integers(2, WINDOW)))


def with_examples(*cases):
    """Hypothesis examples that always run: histories known to fire every rule."""

    def decorate(test):
        for case in cases:
            test = example(*case)(test)
        return test

    return decorate


KNOWN_CASES = [  # (history, policy, norms, cutoff_pct)
    (EVERY_RULE_BUT_SILENCES, TABLE, JT_NORMS, None),
    (FIRING["missing_feedback"], TABLE, None, None),
    (FIRING["couple_silent"], TABLE, None, None),
    (couple([80, 80], [95, 92]), TABLE, None, 85.0),  # a persisting split: critical
]


def by_key(decisions):
    return sorted(decisions, key=lambda d: (d.rule, d.partner_id or ""))


def severities(decisions):
    return {(d.rule, d.partner_id): SEVERITIES.index(d.severity) for d in decisions}


@PROPERTY
@given(histories(), policies(), norms, cutoffs)
@with_examples(*KNOWN_CASES)
def test_swapping_the_partners_changes_no_decision(history, policy, norms, cutoff_pct):
    partners, slots = history
    forward = evaluate(partners, slots, policy, norms, cutoff_pct)
    backward = evaluate(partners[::-1], slots, policy, norms, cutoff_pct)
    assert by_key(forward) == by_key(backward)
    splits = [d for d in forward if d.rule == "split_alliance"]
    for split in splits:  # the lower partner is the one with the lower score, either way round
        computed = split.evidence["computed"]
        assert computed["lower_pct"] <= computed["higher_pct"]


@PROPERTY
@given(
    st.integers(1, WINDOW),
    st.floats(95, 100).map(lambda value: round(value, 2)),
    st.floats(95, 100).map(lambda value: round(value, 2)),
    st.integers(7, 10).map(float),
    norms,
)
def test_constant_high_scores_raise_nothing(sessions, a_pct, b_pct, watch_value, norms):
    watch = dict.fromkeys(WATCH, watch_value)
    partners, slots = couple(
        [a_pct] * sessions,
        [b_pct] * sessions,
        shares=[50.0] * sessions,
        watch={A: watch, B: watch},
    )
    assert evaluate(partners, slots, DEFAULT, norms) == []


# +1: a higher threshold is stricter (a bigger fall/gap/silence is needed); -1: a lower one is
# (the score, slope, item or share must sink further below it).
STRICTER = {
    "low_alliance": -1,
    "alliance_drop": +1,
    "personal_drop": +1,
    "downward_trend": -1,
    "split_alliance": +1,
    "watch_item": -1,
    "airtime_imbalance": -1,
    "missing_feedback": +1,
    "couple_silent": +1,
}
LIMITS = {
    "low_alliance": 0,
    "alliance_drop": 100,
    "personal_drop": 10,
    "downward_trend": -100,
    "split_alliance": 100,
    "watch_item": 0,
    "airtime_imbalance": 0,
    "missing_feedback": WINDOW,
    "couple_silent": WINDOW,
}


@PROPERTY
@given(histories(), policies(), norms, st.sampled_from(sorted(STRICTER)), st.floats(0, 1))
@with_examples(
    *[(EVERY_RULE_BUT_SILENCES, TABLE, JT_NORMS, rule, 0.5) for rule in STRICTER],
    (FIRING["missing_feedback"], TABLE, None, "missing_feedback", 1.0),
    (FIRING["couple_silent"], TABLE, None, "couple_silent", 1.0),
)
def test_a_stricter_threshold_never_adds_or_raises_alerts(history, policy, norms, rule, fraction):
    # fraction: how far the threshold moves from the policy's value towards the strictest one.
    current = policy.rule(rule).threshold
    moved = current + fraction * (LIMITS[rule] - current)
    whole = rule in ("missing_feedback", "couple_silent")
    stricter_threshold = round(moved) if whole else round(moved, 2)
    stricter = with_rule(policy, rule, threshold=stricter_threshold)
    partners, slots = history
    before = severities(evaluate(partners, slots, policy, norms))
    after = severities(evaluate(partners, slots, stricter, norms))
    assert after.keys() <= before.keys()
    assert all(after[key] <= before[key] for key in after)


@PROPERTY
@given(histories(), policies(), norms, cutoffs, st.sampled_from(RULES[:-1]))
@with_examples(*[(*case, rule) for case in KNOWN_CASES for rule in RULES[:-1]])
def test_disabling_a_rule_removes_only_its_alerts(history, policy, norms, cutoff_pct, rule):
    partners, slots = history
    decisions = evaluate(partners, slots, policy, norms, cutoff_pct)
    assert all(policy.rule(d.rule).enabled for d in decisions)
    disabled = with_rule(policy, rule, enabled=False)
    remaining = evaluate(partners, slots, disabled, norms, cutoff_pct)
    assert remaining == [d for d in decisions if d.rule != rule]


@PROPERTY
@given(histories(), policies(), norms, cutoffs)
@with_examples(*KNOWN_CASES)
def test_every_decision_recomputes_from_its_evidence(history, policy, norms, cutoff_pct):
    partners, slots = history
    for decision in evaluate(partners, slots, policy, norms, cutoff_pct):
        stored = json.loads(json.dumps(decision.evidence, allow_nan=False))
        assert recompute(decision.evidence)
        assert recompute(stored)
        assert stored["severity"] == decision.severity
        assert decision.session_id == slots[-1].session_id


@PROPERTY
@given(policies())
def test_a_policy_survives_the_round_trip_through_json(policy):
    assert Policy.from_dict(json.loads(json.dumps(policy.to_dict()))) == policy


PURE = ("rules", "rule_base", "partner_rules", "couple_rules", "policy", "lifecycle")


@pytest.mark.parametrize("module", PURE)
def test_the_rules_import_only_the_standard_library(module):
    """Besides the standard library, the rules read only each other (all pure)."""
    tree = ast.parse((Path(rules.__file__).parent / f"{module}.py").read_text())
    imported = {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
        )
    }
    outside = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    assert outside <= {"__future__"} | {f"service.alerts.{pure}" for pure in PURE}, outside


# --- a partner is compared only with themselves, on one instrument --------------------------


def test_a_steady_partners_fall_is_seen_against_their_own_baseline():
    """98, 98, 98, then 88: ten points is noise for most partners, not for this one."""
    decision = only_decision("personal_drop", couple([98, 98, 98, 88], [95] * 4), DEFAULT)
    computed = decision.evidence["computed"]
    assert (computed["baseline"], computed["spread"], computed["spread_used"]) == (98, 0, 3.5)
    assert computed["limit"] == 88.38 and computed["below_by"] == 10
    assert fired("alliance_drop", couple([98, 98, 98, 88], [95] * 4), DEFAULT) == []


def test_one_noisy_session_of_a_swinging_partner_does_not_fire():
    history = couple([95, 75, 92, 80, 90, 76], [95] * 6)
    assert fired("personal_drop", history, DEFAULT) == []


def instrument_switch(before: float, after: float, *, sessions: int = 3):
    """A partner answering sac-8, then an SRS-shaped instrument (its own raw totals)."""
    partners, slots = couple([before] * sessions + [after], [95] * (sessions + 1))
    a = partners[0]
    switched = tuple(
        replace(o, instrument="srs@1", total=round(o.pct * 0.4, 2))
        if i == sessions
        else replace(o, instrument="sac-8@1")
        for i, o in enumerate(a.observations)
    )
    return [replace(a, observations=switched), partners[1]], slots


def test_a_new_instrument_starts_a_new_baseline():
    partners, slots = instrument_switch(90, 60)  # 72/80 three times, then 24/40
    decisions = evaluate(partners, slots, TABLE, JT_NORMS)
    assert {d.rule for d in decisions if d.partner_id == A} & {
        "alliance_drop",
        "reliable_drop",
        "personal_drop",
        "downward_trend",
    } == set()
    low = next(d for d in decisions if d.rule == "low_alliance")  # the level itself still counts
    assert low.evidence["inputs"]["pct"] == 60


def test_the_evidence_says_when_a_new_baseline_started():
    partners, slots = couple([90, 90, 90, 60, 50], [95] * 5)
    a = partners[0]
    switched = tuple(
        replace(o, instrument="srs@1" if i >= 3 else "sac-8@1")
        for i, o in enumerate(a.observations)
    )
    decision = only_decision(
        "alliance_drop", ([replace(a, observations=switched), partners[1]], slots)
    )
    assert decision.evidence["inputs"]["instrument"] == "srs@1"
    assert decision.evidence["inputs"]["new_baseline"] == {"other_instrument_answers_left_out": 3}
    assert decision.evidence["computed"]["previous"] == 60


def test_the_trend_counts_sessions_not_answers():
    """Answers in sessions 0, 1, 2 and 5: the x axis keeps the sessions the partner skipped."""
    history = couple([100, 95, 90, None, None, 80], [95] * 6)
    decision = only_decision("downward_trend", history)
    assert [p["session"] for p in decision.evidence["inputs"]["scores"]] == [0, 1, 2, 5]
    assert decision.evidence["computed"]["slope"] == -3.93  # -2.5 had the answers been adjacent


def test_missing_feedback_only_for_partners_who_are_asked():
    partners, slots = couple([90, 90, 90], [90, None, None])
    unasked = [replace(slot, asked=frozenset({A})) for slot in slots]
    assert fired("missing_feedback", (partners, slots)) == [(B, "warning")]
    assert fired("missing_feedback", (partners, unasked)) == []


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param([90, None, None], [90, None, None], [(None, "warning")], id="both silent 2"),
        pytest.param([90, 90, None], [90, None, None], [], id="one silent session: not yet"),
        pytest.param([90, None, 90], [90, None, None], [], id="one answered: not the couple"),
    ],
)
def test_couple_silent_when_both_asked_partners_stop_answering(a, b, expected):
    assert fired("couple_silent", couple(a, b)) == expected


# --- properties of the new rules ----------------------------------------------------------


def raised(history, delta: float):
    """The same history with partner A's newest answer `delta` points higher (capped)."""
    partners, slots = history
    a = partners[0]
    if not a.observations or a.observations[-1].session_id != slots[-1].session_id:
        return history
    last = a.observations[-1]
    pct = min(100.0, round(last.pct + delta, 2))
    items = {key: min(10.0, value + delta / 10) for key, value in last.items.items()}
    higher = replace(last, pct=pct, total=round(pct * 0.8, 2), items=items)
    return [replace(a, observations=(*a.observations[:-1], higher)), partners[1]], slots


@PROPERTY
@given(histories(), policies(), norms, cutoffs, st.floats(0, 30))
@with_examples((EVERY_RULE_BUT_SILENCES, TABLE, JT_NORMS, None, 10.0))
def test_higher_answers_never_raise_more_alerts_about_that_partner(
    history, policy, norms, cutoff_pct, delta
):
    partners, slots = history
    about_a = lambda found: {d.rule for d in found if d.partner_id == A}  # noqa: E731
    before = about_a(evaluate(partners, slots, policy, norms, cutoff_pct))
    after = about_a(evaluate(*raised(history, delta), policy, norms, cutoff_pct))
    assert after <= before


@PROPERTY
@given(
    histories(),
    policies(),
    norms,
    cutoffs,
    st.sampled_from([0.25, 0.5, 2.0, 4.0]),  # exact in binary: the comparison is not blurred
    st.integers(-50, 50),
)
@with_examples((EVERY_RULE_BUT_SILENCES, TABLE, JT_NORMS, None, 2.5, 10.0))
def test_rules_do_not_depend_on_an_instruments_scale_or_offset(
    history, policy, norms, cutoff_pct, scale, offset
):
    """Raw totals rescaled (with the norms' SD rescaled alike): the same decisions."""
    partners, slots = history
    moved = [
        replace(
            p,
            observations=tuple(replace(o, total=o.total * scale + offset) for o in p.observations),
        )
        for p in partners
    ]
    rescaled = replace(norms, sd=norms.sd * scale) if norms else None
    key = lambda found: [(d.rule, d.partner_id, d.severity) for d in found]  # noqa: E731
    assert key(evaluate(partners, slots, policy, norms, cutoff_pct)) == key(
        evaluate(moved, slots, policy, rescaled, cutoff_pct)
    )
