"""Replay a couple's history through the engine, submission by submission, as it happened:
before each session the previous session's links expire (its silences are judged), then each
answer arrives in turn. Pure: the policy preview (a clinic's real history) and the bench (a
synthetic caseload) both use it, so what they report is what live evaluation would store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from service.alerts import engine, lifecycle, rules
from service.alerts.lifecycle import AlertState, Step
from service.alerts.policy import WINDOW, Policy


@dataclass(frozen=True)
class Session:
    """A completed session: its answers in the order they arrived."""

    session_id: str
    session_at: datetime
    answers: Sequence[tuple[str, rules.Observation]]  # (partner id, observation)
    time_shares: dict[str, float] | None = None
    asked: frozenset[str] | None = None


@dataclass(frozen=True)
class Event:
    session_index: int
    submission: int | None  # which answer of the session caused it (None: links expired)
    key: str
    step: Step

    @property
    def notified(self) -> bool:
        return lifecycle.notifies(self.step)


@dataclass
class Replay:
    couple_id: str
    partner_ids: Sequence[str]
    policy: Policy
    # The norms and cutoff of an observation's instrument (reliable change; own cutoff).
    instrument: Callable[[str], tuple[rules.Norms | None, float | None]] = lambda _i: (None, None)
    alerts: dict[str, AlertState] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def run(self, sessions: Sequence[Session]) -> list[Event]:
        for index, session in enumerate(sessions):
            if index:
                window = self._window(sessions[:index], None)
                self._record(
                    index - 1,
                    None,
                    engine.judge_silences(window, self.policy, self.alerts, session.session_at),
                )
            for count in range(1, len(session.answers) + 1):
                norms, cutoff = self.instrument(session.answers[count - 1][1].instrument)
                window = dataclasses.replace(
                    self._window(sessions[: index + 1], count), norms=norms, cutoff_pct=cutoff
                )
                steps = engine.judge_submission(
                    window, self.policy, self.alerts, session.session_at
                )
                self._record(index, count, steps)
        return self.events

    def _record(self, index: int, submission: int | None, steps: list[tuple[str, Step]]) -> None:
        for alert_key, step in steps:
            self.alerts[alert_key] = step.state
            self.events.append(Event(index, submission, alert_key, step))

    def _window(self, upto: Sequence[Session], answers_in_newest: int | None) -> engine.Window:
        """The last WINDOW sessions, with only the first answers of the newest when given."""
        recent = list(upto[-WINDOW:])
        if answers_in_newest is not None:
            last = recent[-1]
            recent[-1] = Session(
                last.session_id,
                last.session_at,
                last.answers[:answers_in_newest],
                last.time_shares,
                last.asked,
            )
        histories = [
            rules.PartnerHistory(
                pid, tuple(obs for s in recent for p, obs in s.answers if p == pid)
            )
            for pid in self.partner_ids
        ]
        slots = [
            rules.SessionSlot(
                s.session_id,
                s.session_at,
                frozenset(p for p, _o in s.answers),
                s.time_shares,
                s.asked,
            )
            for s in recent
        ]
        return engine.Window(self.couple_id, histories, slots)
