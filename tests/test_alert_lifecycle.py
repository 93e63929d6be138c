"""One concern, one alert (service.alerts.lifecycle and engine), without a database: findings,
occurrences, recovery, safety ticks, snoozes ending, and the lifecycle's invariants over random
sequences of submissions, acknowledgements, snoozes and resolves."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from service.alerts import engine, lifecycle
from service.alerts.policy import SEVERITIES, Policy
from service.alerts.replay import Replay, Session
from service.alerts.rules import Observation

A, B = "partner-a", "partner-b"
START = datetime(2026, 1, 5, 9, tzinfo=UTC)
WATCH = ("openness", "balance", "airtime")


def answer(session: int, pct: float, *, safety: bool = False) -> Observation:
    return Observation(
        session_id=f"s{session}",
        session_at=START + timedelta(weeks=session),
        total=round(pct * 0.8, 2),
        pct=pct,
        items=dict.fromkeys(WATCH, 10.0),
        watch_ranges=dict.fromkeys(WATCH, (0.0, 10.0)),
        safety_concern=safety,
        instrument="sac-8@1",
    )


def sessions(*pairs, safety: dict[int, str] | None = None) -> list[Session]:
    """(pct of A, pct of B) per session, None for no answer; A answers first."""
    made = []
    for index, (a, b) in enumerate(pairs):
        answers = [
            (who, answer(index, pct, safety=(safety or {}).get(index) == who))
            for who, pct in ((A, a), (B, b))
            if pct is not None
        ]
        made.append(Session(f"s{index}", START + timedelta(weeks=index), answers))
    return made


def replayed(*pairs, **kwargs) -> Replay:
    replay = Replay("couple", [A, B], Policy())
    replay.run(sessions(*pairs, **kwargs))
    return replay


def test_several_rules_for_one_partner_are_one_finding_led_by_the_strongest():
    replay = replayed((100, 100), (100, 100), (100, 100), (60, 100))
    alliance = replay.alerts[lifecycle.key("couple", "alliance", A)]
    assert alliance.rule == "personal_drop"
    assert {o["rule"] for o in alliance.evidence["others"]} >= {"alliance_drop", "low_alliance"}
    news = [e for e in replay.events if e.step.change.is_news]
    assert [(e.key, e.step.change.kind) for e in news if "alliance" in e.key] == [
        (lifecycle.key("couple", "alliance", A), "created")
    ]


def test_a_repeat_is_an_occurrence_and_an_escalation_keeps_why_severity_rose():
    replay = replayed((100, 78), (100, 78), (100, 78))  # Ben lower three sessions running
    split_events = [e for e in replay.events if e.key.endswith(":-:split")]
    kinds = [e.step.change.kind for e in split_events]
    assert kinds == ["created", "escalated", "repeated"]
    escalation = split_events[1].step.change.occurrence
    assert escalation["severity_rose"] == {
        "from": "warning",
        "to": "critical",
        "because": "split_alliance",
    }
    state = replay.alerts[lifecycle.key("couple", "split", None)]
    assert (state.occurrences, state.severity, state.partner_id) == (3, "critical", B)


def test_an_alert_recovers_after_two_answered_sessions_without_its_condition():
    replay = replayed((70, 90), (90, 90), (90, 90))
    state = replay.alerts[lifecycle.key("couple", "alliance", A)]
    assert state.recovered
    kinds = [e.step.change.kind for e in replay.events if e.key.endswith(":alliance")]
    # "refreshed": the second partner's answer re-judges the same session, no new occurrence.
    assert [kind for kind in kinds if kind != "refreshed"] == ["created", "recovered"]


def test_a_relapse_clears_recovery_but_is_not_news():
    replay = replayed((70, 90), (90, 90), (90, 90), (70, 90))
    state = replay.alerts[lifecycle.key("couple", "alliance", A)]
    assert not state.recovered and state.occurrences == 2
    last = [e for e in replay.events if e.key.endswith(":alliance") and e.step.change.occurrence][
        -1
    ]
    assert last.step.change.kind == "relapsed" and not last.notified


def test_every_safety_tick_is_news_whatever_the_alert_state():
    replay = Replay("couple", [A, B], Policy())
    first = sessions((90, 90), safety={0: A})
    replay.run(first)
    key = lifecycle.key("couple", "safety", A)
    for status in ("acknowledged", "snoozed"):
        replay.alerts[key] = dataclasses.replace(
            replay.alerts[key], status=status, snoozed_until=START + timedelta(days=365)
        )
        more = sessions(*[(90, 90)] * (len(first) + 1), safety={len(first): A})
        replay.events.clear()
        replay.run(more[len(first) :])
        [tick] = [e for e in replay.events if e.key == key and e.step.change.occurrence]
        assert tick.step.change.kind == "ticked" and tick.notified
        assert tick.step.state.status == "open"
        first = more


def test_a_snooze_ends_at_its_until():
    state = lifecycle.AlertState(
        "alliance",
        "low_alliance",
        "warning",
        A,
        1,
        "s0",
        "s0",
        START,
        {},
        status="snoozed",
        snoozed_until=START + timedelta(days=3),
    )
    finding = lifecycle.findings(
        [d for d in _decisions((70, 90), (70, 90)) if d.partner_id == A], START + timedelta(weeks=1)
    )[0]
    during = lifecycle.apply(state, finding, START + timedelta(days=2))
    after = lifecycle.apply(state, finding, START + timedelta(days=4))
    assert during.state.status == "snoozed" and after.state.status == "open"


def _decisions(*pairs):
    from service.alerts import rules

    made = sessions(*pairs)
    replay = Replay("couple", [A, B], Policy())
    window = replay._window(made, None)
    return rules.evaluate(window.partners, window.slots, Policy())


def test_a_late_answer_never_moves_the_last_session_back():
    state = replayed((70, 90), (70, 90)).alerts[lifecycle.key("couple", "alliance", A)]
    older = lifecycle.Finding("alliance", A, "s-1", START - timedelta(weeks=1), state_decisions())
    moved = lifecycle.apply(state, older, START + timedelta(weeks=3)).state
    assert (moved.last_session_id, moved.last_session_at) == ("s1", START + timedelta(weeks=1))
    assert moved.occurrences == state.occurrences + 1


def state_decisions():
    return tuple(d for d in _decisions((70, 90)) if d.partner_id == A)


# --- invariants over random sequences ----------------------------------------------------

ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("session"),
            st.one_of(st.none(), st.integers(40, 100)),
            st.one_of(st.none(), st.integers(40, 100)),
            st.booleans(),
        ),
        st.tuples(st.sampled_from(["acknowledge", "snooze", "resolve"]), st.integers(0, 5)),
    ),
    min_size=1,
    max_size=24,
)


def one_session(index: int, a: int | None, b: int | None, tick: bool) -> Session:
    answers = [
        (who, answer(index, float(pct), safety=tick and who == A))
        for who, pct in ((A, a), (B, b))
        if pct is not None
    ]
    return Session(f"s{index}", START + timedelta(weeks=index), answers)


@settings(max_examples=60, deadline=None)
@given(ACTIONS)
def test_the_lifecycle_keeps_its_promises(actions):
    """Over random submissions, acknowledgements, snoozes and resolves: one open alert per key
    (each step names a key once), severity never drops within an alert, and after a resolve
    the key's next finding creates a new alert: a resolved one never reopens."""
    open_alerts: dict[str, lifecycle.AlertState] = {}
    resolved_keys: set[str] = set()
    history: list[Session] = []
    for action in actions:
        if action[0] == "session":
            history.append(one_session(len(history), *action[1:]))
            for count in range(1, len(history[-1].answers) + 1):
                window = Replay("couple", [A, B], Policy())._window(history, count)
                steps = engine.judge_submission(
                    window, Policy(), open_alerts, history[-1].session_at
                )
                assert len({key for key, _ in steps}) == len(steps)
                for key, step in steps:
                    before = open_alerts.get(key)
                    if before is None:
                        assert step.change.kind == "created"
                    else:
                        assert SEVERITIES.index(step.state.severity) >= SEVERITIES.index(
                            before.severity
                        )
                    resolved_keys.discard(key)
                    open_alerts[key] = step.state
            continue
        verb, pick = action
        if not open_alerts:
            continue
        key = sorted(open_alerts)[pick % len(open_alerts)]
        if verb == "resolve":
            open_alerts.pop(key)
            resolved_keys.add(key)
        else:
            until = START + timedelta(weeks=len(history) + 1)
            status = "acknowledged" if verb == "acknowledge" else "snoozed"
            open_alerts[key] = dataclasses.replace(
                open_alerts[key], status=status, snoozed_until=until
            )
    assert not resolved_keys & set(open_alerts)
