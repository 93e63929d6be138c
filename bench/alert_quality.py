"""Alert quality on a synthetic caseload shaped like real session-rating data (DESIGN §8).

    .venv/bin/python -m bench.alert_quality [--couples 200] [--sessions 12] [--seed 7]

The caseload (documented, reproducible from the seed):
- couples share a level (uniform 86-98 % of scale); each partner sits near it (normal, SD
  2.5) and has their own session-to-session noise (uniform 3-6 points, about 4.5 on
  average); answers are SAC-8 items (0-10), so scores are ceiling-bounded at 100 % and move
  in steps of 1.25 points;
- injected events, recorded as ground truth: ruptures of 10-30 points lasting 1-3 sessions
  (a third of couples, one partner), slow drifts of 2-3.5 points per session over 4-6
  sessions (1 partner in 10), a watch item answered low (1 couple in 20), a ticked safety
  box (1 partner-session in 200), one partner who stops answering (1 couple in 30) and
  couples who drop out (1 in 25);
- besides events, answers go missing at random (6 % of partner-sessions), and the
  therapist records time shares around 50/50.

It drives the real rules and lifecycle (`service.alerts.replay`, the same code the API and the
policy preview use) with the default policy (or a JSON policy file), 20 couples per
therapist, and prints per leading rule and in total: alerts raised per 100 couple-sessions,
alert emails per therapist-week, the share of injected ruptures detected in the session they
happen and by the next one, and the share of partner-sessions without any event that raised
an alert — each against its budget.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from service.alerts.policy import RULES, Policy
from service.alerts.replay import Event, Replay, Session
from service.alerts.rules import Observation

ITEMS = ("heard", "respect", "openness", "goals", "approach", "balance", "airtime", "confidence")
WATCH = ("openness", "balance", "airtime")
START = datetime(2026, 1, 5, 9, tzinfo=UTC)
COUPLES_PER_THERAPIST = 20
BUDGETS = {"detected_by_next": 0.80, "false_alarm_share": 0.03, "emails_per_therapist_week": 5}


@dataclass
class Partner:
    partner_id: str
    baseline: float
    noise: float
    shift: dict[int, float] = field(default_factory=dict)  # session -> points off the baseline
    events: set[int] = field(default_factory=set)  # sessions with an injected event
    silent: set[int] = field(default_factory=set)  # sessions without an answer
    watch_low: dict[int, str] = field(default_factory=dict)  # session -> watch item answered low
    safety: set[int] = field(default_factory=set)
    ruptures: list[int] = field(default_factory=list)  # first session of each rupture


@dataclass
class Couple:
    couple_id: str
    therapist: int
    partners: tuple[Partner, Partner]
    shares: dict[int, float] = field(default_factory=dict)  # session -> partner A's time share


def caseload(couples: int, sessions: int, rng: random.Random) -> list[Couple]:
    return [_couple(n, sessions, rng) for n in range(couples)]


def _couple(n: int, sessions: int, rng: random.Random) -> Couple:
    level = rng.uniform(86, 98)
    partners = tuple(
        Partner(
            str(uuid.UUID(int=rng.getrandbits(128))),
            min(100.0, rng.gauss(level, 2.5)),
            rng.uniform(3, 6),
        )
        for _ in range(2)
    )
    couple = Couple(f"couple-{n}", n // COUPLES_PER_THERAPIST, partners)  # type: ignore[arg-type]
    for session in range(sessions):
        couple.shares[session] = min(65.0, max(35.0, rng.gauss(50, 6)))
        for partner in partners:
            if rng.random() < 0.06:
                partner.silent.add(session)
    _inject(couple, sessions, rng)
    return couple


def _inject(couple: Couple, sessions: int, rng: random.Random) -> None:
    first, second = couple.partners
    if rng.random() < 1 / 3:
        partner = rng.choice(couple.partners)
        start, length, depth = rng.randint(3, sessions - 2), rng.randint(1, 3), rng.uniform(10, 30)
        partner.ruptures.append(start)
        for session in range(start, min(sessions, start + length)):
            partner.shift[session] = -depth
            partner.events.add(session)
            partner.silent.discard(session)
    for partner in couple.partners:
        if rng.random() < 0.10:
            start, length, rate = rng.randint(2, 6), rng.randint(4, 6), rng.uniform(2, 3.5)
            for step, session in enumerate(range(start, min(sessions, start + length)), 1):
                partner.shift[session] = partner.shift.get(session, 0) - rate * step
                partner.events.add(session)
        for session in range(sessions):
            if rng.random() < 1 / 200:
                partner.safety.add(session)
                partner.events.add(session)
    if rng.random() < 1 / 20:
        partner, session = rng.choice(couple.partners), rng.randint(1, sessions - 1)
        partner.watch_low[session] = rng.choice(WATCH)
        partner.events.add(session)
    if rng.random() < 1 / 30:
        _stop_answering([rng.choice(couple.partners)], rng.randint(3, sessions - 3), sessions)
    elif rng.random() < 1 / 25:
        _stop_answering([first, second], rng.randint(3, sessions - 3), sessions)


def _stop_answering(partners: list[Partner], start: int, sessions: int) -> None:
    for partner in partners:
        for session in range(start, sessions):
            partner.silent.add(session)
            partner.events.add(session)


def observation(partner: Partner, session: int, rng: random.Random) -> Observation:
    """SAC-8 answers around the partner's level for this session; pct from the items."""
    level = min(100.0, max(0.0, partner.baseline + partner.shift.get(session, 0.0)))
    centre = (level + rng.gauss(0, partner.noise)) / 10
    items = {key: float(min(10, max(0, round(centre + rng.gauss(0, 0.5))))) for key in ITEMS}
    if session in partner.watch_low:
        items[partner.watch_low[session]] = float(rng.randint(2, 4))
    total = sum(items.values())
    return Observation(
        session_id=f"s{session}",
        session_at=START + timedelta(weeks=session),
        total=total,
        pct=round(100 * total / 80, 2),
        items=items,
        watch_ranges=dict.fromkeys(WATCH, (0.0, 10.0)),
        safety_concern=session in partner.safety,
        instrument="sac-8@1",
    )


def history(couple: Couple, sessions: int, rng: random.Random) -> list[Session]:
    a, b = couple.partners
    out = []
    for session in range(sessions):
        answers = [
            (p.partner_id, observation(p, session, rng))
            for p in rng.sample(couple.partners, 2)
            if session not in p.silent
        ]
        share = couple.shares[session]
        out.append(
            Session(
                f"s{session}",
                START + timedelta(weeks=session),
                answers,
                {a.partner_id: share, b.partner_id: round(100 - share, 2)},
            )
        )
    return out


@dataclass
class Tally:
    couple_sessions: int = 0
    partner_sessions_quiet: int = 0  # answered, without an event
    false_alarms: int = 0
    ruptures: int = 0
    detected_now: int = 0
    detected_by_next: int = 0
    raised: Counter = field(default_factory=Counter)  # leading rule -> alerts raised
    false_by_rule: Counter = field(default_factory=Counter)  # leading rule -> false alarms
    emails: Counter = field(default_factory=Counter)  # therapist -> emails


def measure(couples: list[Couple], sessions: int, policy: Policy, rng: random.Random) -> Tally:
    tally = Tally()
    for couple in couples:
        replay = Replay(couple.couple_id, [p.partner_id for p in couple.partners], policy)
        events = replay.run(history(couple, sessions, rng))
        _count(tally, couple, sessions, events)
    return tally


def _count(tally: Tally, couple: Couple, sessions: int, events: list[Event]) -> None:
    tally.couple_sessions += sessions
    raised = [e for e in events if e.step.change.is_news]
    for event in raised:
        tally.raised[event.step.state.rule] += 1
    emailed = {(e.session_index, e.submission) for e in events if e.notified}
    tally.emails[couple.therapist] += len(emailed)  # at most one email per submission
    for partner in couple.partners:
        for session in range(sessions):
            if session in partner.silent or session in partner.events:
                continue
            tally.partner_sessions_quiet += 1
            false = [e for e in raised if _about(e, partner, session)]
            tally.false_alarms += bool(false)
            tally.false_by_rule.update(e.step.state.rule for e in false)
        for start in partner.ruptures:
            tally.ruptures += 1
            now = any(_noticed(e, partner, start) for e in events)
            tally.detected_now += now
            tally.detected_by_next += now or any(_noticed(e, partner, start + 1) for e in events)


def _about(event: Event, partner: Partner, session: int) -> bool:
    """An alert raised in this session about this partner (or about the couple)."""
    about = event.step.state.partner_id
    return event.session_index == session and about in (partner.partner_id, None)


def _noticed(event: Event, partner: Partner, session: int) -> bool:
    """The therapist learns of it: an alert about this partner's alliance (or a split with them
    lower) created, escalated, back, or given a new occurrence in that session."""
    state = event.step.state
    return (
        event.session_index == session
        and state.partner_id == partner.partner_id
        and state.concern in ("alliance", "split")
        and event.step.change.occurrence is not None
    )


def report(tally: Tally, therapists: int, sessions: int) -> dict[str, float]:
    per_100 = 100 / tally.couple_sessions
    figures = {
        "alerts_per_100_couple_sessions": round(sum(tally.raised.values()) * per_100, 2),
        "emails_per_therapist_week": round(sum(tally.emails.values()) / therapists / sessions, 2),
        "detected_in_session": round(tally.detected_now / max(1, tally.ruptures), 3),
        "detected_by_next": round(tally.detected_by_next / max(1, tally.ruptures), 3),
        "false_alarm_share": round(tally.false_alarms / max(1, tally.partner_sessions_quiet), 4),
    }
    quiet = 100 / max(1, tally.partner_sessions_quiet)
    print(f"{'rule':<20} {'alerts / 100 couple-sessions':>30} {'% of event-free answers':>25}")
    for rule in RULES:
        print(
            f"{rule:<20} {tally.raised[rule] * per_100:>30.2f}"
            f" {tally.false_by_rule[rule] * quiet:>25.2f}"
        )
    print(
        f"{'total':<20} {figures['alerts_per_100_couple_sessions']:>30.2f}"
        f" {100 * figures['false_alarm_share']:>25.2f}"
    )
    print()
    print(f"ruptures injected:                     {tally.ruptures}")
    for name, value in figures.items():
        budget = BUDGETS.get(name)
        verdict = ""
        if budget is not None:
            ok = value >= budget if name == "detected_by_next" else value <= budget
            verdict = f"   budget {'>=' if name == 'detected_by_next' else '<='} {budget}: " + (
                "PASS" if ok else "FAIL"
            )
        print(f"{name:<38} {value}{verdict}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--couples", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--policy", help="a JSON policy file (default: the default policy)")
    args = parser.parse_args()
    policy = Policy()
    if args.policy:
        with open(args.policy, encoding="utf-8") as source:
            policy = Policy.from_dict(json.load(source))
    rng = random.Random(args.seed)
    couples = caseload(args.couples, args.sessions, rng)
    therapists = len({couple.therapist for couple in couples})
    report(measure(couples, args.sessions, policy, rng), therapists, args.sessions)


if __name__ == "__main__":
    main()
