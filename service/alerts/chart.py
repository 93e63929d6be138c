"""The alliance chart a therapist reads at a glance: an SVG built from a template, no plotting
library (a render costs well under a millisecond).

Both partners' lines over the couple's completed sessions (named in the legend), the clinic's
cutoff as a line, each active alert marked and labelled by its rule, and each session a
partner did not answer marked on that partner's line. It scales to a phone's width; its
<title> and <desc> say in words what it shows. Every name is text: escaped, never markup.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 640, 340
LEFT, RIGHT, TOP, BOTTOM = 52, 20, 56, 52
COLOURS = ("#1d4ed8", "#b45309")  # blue and amber: told apart with colour blindness too
DASHES = ("", "7 4")
ALERT_COLOUR = "#b91c1c"
LABELS = {
    "low_alliance": "Low",
    "alliance_drop": "Drop",
    "reliable_drop": "Reliable drop",
    "personal_drop": "Below usual",
    "downward_trend": "Trend",
    "split_alliance": "Split",
    "watch_item": "Watch item",
    "airtime_imbalance": "Airtime",
    "missing_feedback": "Missing",
    "couple_silent": "Silent",
    "safety_concern": "Safety",
}


@dataclass(frozen=True)
class _Axes:
    sessions: Sequence[tuple[str, datetime]]  # the couple's completed sessions, in order

    @functools.cached_property
    def _xs(self) -> dict[str, float]:
        """Each session's x, computed once: a long history is drawn in linear time."""
        span = max(1, len(self.sessions) - 1)
        return {
            sid: round(
                LEFT + (WIDTH - LEFT - RIGHT) * (i / span if len(self.sessions) > 1 else 0.5), 1
            )
            for i, (sid, _at) in enumerate(self.sessions)
        }

    def x(self, session_id: object) -> float:
        return self._xs[str(session_id)]

    @staticmethod
    def y(pct: float) -> float:
        return round(TOP + (HEIGHT - TOP - BOTTOM) * (1 - max(0.0, min(100.0, pct)) / 100), 1)


def render(alliance: Any, alerts: Sequence[Any]) -> str:
    axes = _Axes([(str(session_id), at) for session_id, at in alliance.sessions])
    parts = [_frame(alliance, alerts), _grid(axes, alliance.cutoff_pct)]
    for index, partner in enumerate(alliance.partners):
        parts.append(_line(axes, partner, index))
    parts += [_alert(axes, alliance, alert) for alert in alerts if _point_of(alliance, alert)]
    if not any(partner.points for partner in alliance.partners):
        parts.append(_text(WIDTH / 2, HEIGHT / 2, "No feedback yet", anchor="middle"))
    parts.append(_legend(alliance))
    return "\n".join([*parts, "</svg>", ""])


def _frame(alliance: Any, alerts: Sequence[Any]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'role="img" aria-labelledby="chart-title chart-desc" font-family="system-ui, sans-serif" '
        f'font-size="13">\n<title id="chart-title">Alliance by session for both partners</title>\n'
        f'<desc id="chart-desc">{escape(_description(alliance, alerts))}</desc>\n'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>'
    )


def _grid(axes: _Axes, cutoff: float) -> str:
    lines = []
    for pct in (0, 25, 50, 75, 100):
        y = axes.y(pct)
        lines.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="#e5e7eb"/>'
            + _text(LEFT - 8, y + 4, f"{pct}%", anchor="end", fill="#374151")
        )
    y = axes.y(cutoff)
    lines.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="{ALERT_COLOUR}" '
        f'stroke-width="1.5" stroke-dasharray="4 3"><title>Cutoff {cutoff:g}%</title></line>'
        + _text(WIDTH - RIGHT, y - 5, f"Cutoff {cutoff:g}%", anchor="end", fill=ALERT_COLOUR)
    )
    every = max(1, len(axes.sessions) // 6)
    for index, (session_id, at) in enumerate(axes.sessions):
        if index % every == 0 or index == len(axes.sessions) - 1:
            lines.append(
                _text(
                    axes.x(session_id),
                    HEIGHT - BOTTOM + 18,
                    f"{at:%-d %b}",
                    anchor="middle",
                    fill="#374151",
                )
            )
    return "\n".join(lines)


def _line(axes: _Axes, partner: Any, index: int) -> str:
    colour, dash = COLOURS[index % 2], DASHES[index % 2]
    answered = {str(point.session_id) for point in partner.points}
    coords = [(axes.x(p.session_id), axes.y(p.pct)) for p in partner.points]
    parts = []
    if len(coords) > 1:
        path = " ".join(f"{x},{y}" for x, y in coords)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5" '
            f'stroke-dasharray="{dash}"/>'
        )
    name = escape(partner.display_name)
    for point in partner.points:
        x, y = axes.x(point.session_id), axes.y(point.pct)
        parts.append(
            _marker(x, y, colour, index, f"{name}: {point.pct:g}% on {point.session_at:%-d %b %Y}")
        )
    parts += [
        _missed(axes, partner, sid, at, colour, level)
        for sid, at, level in _levels_before(axes, partner)
        if sid not in answered
    ]
    return "\n".join(parts)


def _levels_before(axes: _Axes, partner: Any) -> list[tuple[str, datetime, float]]:
    """Each session with the partner's last answer before it (0 when there is none), in one
    pass over both ordered lists."""
    levels, points, latest = [], iter(partner.points), 0.0
    upcoming = next(points, None)
    for sid, at in axes.sessions:
        while upcoming is not None and upcoming.session_at < at:
            latest, upcoming = upcoming.pct, next(points, None)
        levels.append((sid, at, latest))
    return levels


def _marker(x: float, y: float, colour: str, index: int, label: str) -> str:
    shape = (
        f'<circle cx="{x}" cy="{y}" r="4.5" fill="{colour}">'
        if index % 2 == 0
        else f'<rect x="{x - 4}" y="{y - 4}" width="8" height="8" fill="{colour}">'
    )
    closing = "</circle>" if index % 2 == 0 else "</rect>"
    return f"{shape}<title>{label}</title>{closing}"


def _missed(
    axes: _Axes, partner: Any, session_id: str, at: datetime, colour: str, level: float
) -> str:
    """A session the partner did not answer: a hollow mark on their line (at `level`, their
    last answer's before it, or at the bottom when they never answered)."""
    y = axes.y(level)
    x = axes.x(session_id)
    name = escape(partner.display_name)
    return (
        f'<circle cx="{x}" cy="{y}" r="5" fill="#ffffff" stroke="{colour}" stroke-width="2">'
        f"<title>{name}: no answer on {at:%-d %b %Y}</title></circle>"
    )


def _point_of(alliance: Any, alert: Any) -> tuple[Any, Any] | None:
    for partner in alliance.partners:
        if str(partner.partner_id) == str(alert.partner_id):
            for point in partner.points:
                if str(point.session_id) == str(alert.last_session_id):
                    return partner, point
    return None


def _alert(axes: _Axes, alliance: Any, alert: Any) -> str:
    partner, point = _point_of(alliance, alert)
    x, y = axes.x(point.session_id), axes.y(point.pct)
    label = LABELS.get(alert.rule, alert.rule.replace("_", " "))
    return (
        f'<g><circle cx="{x}" cy="{y}" r="10" fill="none" stroke="{ALERT_COLOUR}" '
        f'stroke-width="2.5"/>'
        + _text(
            x,
            max(TOP - 6, y - 15),
            f"{label} ({alert.severity})",
            anchor="middle",
            fill=ALERT_COLOUR,
            weight="600",
        )
        + f"<title>Active alert for {escape(partner.display_name)}: {escape(label)}</title></g>"
    )


def _legend(alliance: Any) -> str:
    items, x = [], LEFT
    for index, partner in enumerate(alliance.partners):
        colour = COLOURS[index % 2]
        items.append(
            f'<line x1="{x}" x2="{x + 22}" y1="22" y2="22" stroke="{colour}" stroke-width="2.5" '
            f'stroke-dasharray="{DASHES[index % 2]}"/>'
            + _marker(x + 11, 22, colour, index, escape(partner.display_name))
            + _text(x + 28, 26, partner.display_name)
        )
        x += 40 + 8 * min(24, len(partner.display_name))
    return "\n".join(items)


def _text(
    x: float,
    y: float,
    words: str,
    *,
    anchor: str = "start",
    fill: str = "#111827",
    weight: str = "400",
) -> str:
    return (
        f'<text x="{x}" y="{y}" text-anchor={quoteattr(anchor)} fill="{fill}" '
        f'font-weight="{weight}">{escape(words)}</text>'
    )


def _description(alliance: Any, alerts: Sequence[Any]) -> str:
    parts = []
    for partner in alliance.partners:
        if partner.points:
            last = partner.points[-1]
            parts.append(
                f"{partner.display_name}: {len(partner.points)} of {len(alliance.sessions)} "
                f"sessions answered, latest {last.pct:g}% on {last.session_at:%d %b %Y}."
            )
        else:
            parts.append(f"{partner.display_name}: no feedback yet.")
    if alliance.gaps:
        parts.append(f"Latest gap between partners: {alliance.gaps[-1].gap_pct:g} points.")
    parts.append(f"Cutoff: {alliance.cutoff_pct:g}%.")
    if alerts:
        words = ", ".join(f"{a.rule.replace('_', ' ')} ({a.severity})" for a in alerts)
        parts.append(f"Active alerts: {words}.")
    return " ".join(parts)
