"""Scoring: validate one response against an instrument's items, then total and percent of
scale. Pure: the standard library only.

`pct = 100 · (total - min_total) / (max_total - min_total)` so one alert policy serves every
instrument (DESIGN §7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Item:
    key: str
    min: float
    max: float
    step: float = 1
    watch: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Item:
        return cls(
            key=str(data["key"]),
            min=data["min"],
            max=data["max"],
            step=data.get("step", 1),
            watch=bool(data.get("watch", False)),
        )


@dataclass(frozen=True)
class Score:
    total: float
    pct: float
    min_total: float
    max_total: float
    answers: dict[str, float]


class AnswerErrors(Exception):
    """Answers that do not fit the instrument; `errors` names each item and why."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(f"{len(errors)} answer(s) do not fit the instrument")
        self.errors = errors


def pct_of(total: float, min_total: float, max_total: float) -> float:
    return round(100 * (total - min_total) / (max_total - min_total), 2)


def score(items: Sequence[Item], answers: Mapping[str, Any]) -> Score:
    errors: dict[str, list[str]] = {}
    for extra in sorted(set(answers) - {item.key for item in items}):
        errors[extra] = ["Not an item of this instrument."]
    accepted: dict[str, float] = {}
    for item in items:
        if item.key not in answers:
            errors[item.key] = ["Missing answer."]
            continue
        problem = _problem(item, answers[item.key])
        if problem:
            errors[item.key] = [problem]
        else:
            accepted[item.key] = answers[item.key]
    if errors:
        raise AnswerErrors(errors)
    total = sum(accepted.values())
    min_total = sum(item.min for item in items)
    max_total = sum(item.max for item in items)
    return Score(total, pct_of(total, min_total, max_total), min_total, max_total, accepted)


def _problem(item: Item, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "Must be a number."
    if value != value or not item.min <= value <= item.max:  # NaN compares unequal to itself
        return f"Must be between {item.min:g} and {item.max:g}."
    offset = Decimal(str(value)) - Decimal(str(item.min))
    if offset % Decimal(str(item.step)) != 0:
        return f"Must be in steps of {item.step:g} from {item.min:g}."
    return None
