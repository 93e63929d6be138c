"""A couple's alliance over time: each partner's series and the gap between them. Pure."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Point:
    session_id: uuid.UUID
    session_at: datetime
    total: float
    pct: float
    items: dict[str, float]
    source: str


@dataclass
class PartnerSeries:
    partner_id: uuid.UUID
    position: int
    display_name: str
    points: list[Point] = field(default_factory=list)


@dataclass(frozen=True)
class Gap:
    session_id: uuid.UUID
    session_at: datetime
    gap_pct: float
    lower_partner_id: uuid.UUID | None  # None when both gave the same score


def build(
    partners: Iterable[Any], responses: Iterable[Any]
) -> tuple[list[PartnerSeries], list[Gap]]:
    """`partners` have id, position, display_name; `responses` are in session order."""
    series = {p.id: PartnerSeries(p.id, p.position, p.display_name) for p in partners}
    by_session: dict[uuid.UUID, list[tuple[uuid.UUID, Point]]] = {}
    for response in responses:
        point = Point(
            response.session_id,
            response.session_at,
            response.total,
            response.pct,
            dict(response.answers),
            response.source,
        )
        series[response.partner_id].points.append(point)
        by_session.setdefault(response.session_id, []).append((response.partner_id, point))
    gaps = [_gap(pair) for pair in by_session.values() if len(pair) == 2]
    ordered = sorted(series.values(), key=lambda s: s.position)
    return ordered, sorted(gaps, key=lambda gap: gap.session_at)


def _gap(pair: list[tuple[uuid.UUID, Point]]) -> Gap:
    (first_id, first), (second_id, second) = pair
    lower = None if first.pct == second.pct else (first_id if first.pct < second.pct else second_id)
    return Gap(first.session_id, first.session_at, round(abs(first.pct - second.pct), 2), lower)
