"""What every alert rule works with (DESIGN §8): the inputs evaluation passes, a rule's
cases and verdicts, and the helpers the rules share. Pure: standard library only."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.alerts.policy import Policy

DECIMALS = 2


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
    # "key@version": rules compare a partner only with earlier answers on the same instrument.
    instrument: str = ""


@dataclass(frozen=True)
class SessionSlot:
    """One completed session of the couple (slots are passed oldest -> newest)."""

    session_id: str
    session_at: datetime
    answered: frozenset[str]  # partner ids who gave feedback for it
    time_shares: Mapping[str, float] | None  # partner id -> percent recorded by the therapist
    # Partner ids who were asked (channel not `none`, not erased); None: every partner.
    asked: frozenset[str] | None = None


@dataclass(frozen=True)
class PartnerHistory:
    partner_id: str
    observations: tuple[Observation, ...]  # oldest -> newest, at most WINDOW


@dataclass(frozen=True)
class Norms:
    sd: float
    reliability: float


@dataclass(frozen=True)
class Decision:
    rule: str
    severity: str
    partner_id: str | None  # None for couple-level rules (split_alliance names the lower one)
    session_id: str  # the session that triggered it (the newest)
    evidence: dict[str, Any]  # JSON-able; recompute(evidence) re-checks it


@dataclass(frozen=True)
class Verdict:
    severity: str | None  # None: the rule does not fire
    computed: dict[str, Any]


@dataclass(frozen=True)
class Case:
    """One candidate for a rule: the partner it is about (None: the couple) and its inputs."""

    partner_id: str | None
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Context:
    partners: Sequence[PartnerHistory]
    slots: Sequence[SessionSlot]
    policy: Policy
    norms: Norms | None
    cutoff_pct: float | None

    @property
    def newest(self) -> SessionSlot:
        return self.slots[-1]

    def position(self, session_id: str) -> int:
        """The session's place in the window (0 = oldest): the x axis of every rule."""
        return next(i for i, slot in enumerate(self.slots) if slot.session_id == session_id)

    def asked(self, slot: SessionSlot, partner_id: str) -> bool:
        return slot.asked is None or partner_id in slot.asked


@dataclass(frozen=True)
class Rule:
    cases: Callable[[Context], list[Case]]
    thresholds: Callable[[Context], dict[str, Any] | None]  # None: cannot run (e.g. no norms)
    check: Callable[[Mapping[str, Any], Mapping[str, Any]], Verdict]


def rounded(value: float) -> float:
    return round(float(value), DECIMALS)


def newest_answer(history: PartnerHistory, context: Context) -> Observation | None:
    """The partner's observation for the newest session. Rules about a partner's scores run only
    when the partner answered it, so an old score never raises an alert for a new session."""
    if history.observations and history.observations[-1].session_id == context.newest.session_id:
        return history.observations[-1]
    return None


def observation_for(history: PartnerHistory, session_id: str) -> Observation | None:
    for observation in reversed(history.observations):
        if observation.session_id == session_id:
            return observation
    return None


def comparable(history: PartnerHistory, current: Observation) -> list[Observation]:
    """The partner's earlier answers on the current answer's instrument, oldest first: a new
    instrument starts a new baseline."""
    earlier = [o for o in history.observations if o.session_at < current.session_at]
    return [o for o in earlier if o.instrument == current.instrument]


def baseline_note(history: PartnerHistory, current: Observation) -> dict[str, Any]:
    """What the evidence says about the comparison: the instrument, and whether earlier answers
    on another instrument were left out (a new baseline)."""
    earlier = [o for o in history.observations if o.session_at < current.session_at]
    others = sum(1 for o in earlier if o.instrument != current.instrument)
    note: dict[str, Any] = {"instrument": current.instrument}
    if others:
        note["new_baseline"] = {"other_instrument_answers_left_out": others}
    return note


def about(history: PartnerHistory, inputs: dict[str, Any]) -> Case:
    """A case about one partner; the evidence names the partner too."""
    partner_id = str(history.partner_id)
    return Case(partner_id, {"partner_id": partner_id, **inputs})


def score(observation: Observation, value: str = "pct") -> dict[str, Any]:
    # float(): the database may hand over Decimals, which are neither JSON nor float-friendly.
    return {"session_id": str(observation.session_id), value: float(getattr(observation, value))}


def placed(observation: Observation, context: Context, value: str = "pct") -> dict[str, Any]:
    """A score with its session's place in the window (for trends and "sessions back")."""
    return {**score(observation, value), "session": context.position(observation.session_id)}


def configured(context: Context, rule: str, **thresholds: Any) -> dict[str, Any]:
    return {**thresholds, "severity": context.policy.rule(rule).severity}


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of `ys` against `xs` (sessions): points per session."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    denominator = sum((x - mean_x) ** 2 for x in xs)
    return numerator / denominator
