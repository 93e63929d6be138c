"""The alliance chart a therapist reads at a glance, drawn by matplotlib as SVG.

Both partners' lines over sessions, the band below the cutoff, the gap between the partners
shaded, and an accessible <title> and <desc> describing what the chart shows.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib import dates as mdates
from matplotlib.figure import Figure

SVG = "http://www.w3.org/2000/svg"
COLOURS = ("#1d4ed8", "#c2410c")  # blue and orange: distinguishable with colour blindness
STYLES = ("-", "--")
MARKERS = ("o", "s")

ET.register_namespace("", SVG)
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")


def render(alliance: Any, alerts: list[Any]) -> str:
    figure = Figure(figsize=(8, 4.2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.axhspan(
        0,
        alliance.cutoff_pct,
        color="#dc2626",
        alpha=0.07,
        label=f"Below cutoff ({alliance.cutoff_pct:g}%)",
    )
    for index, partner in enumerate(alliance.partners):
        if not partner.points:
            continue
        axes.plot(
            [p.session_at for p in partner.points],
            [p.pct for p in partner.points],
            STYLES[index % 2],
            marker=MARKERS[index % 2],
            color=COLOURS[index % 2],
            linewidth=2,
            label=partner.display_name,
        )
    _shade_gaps(axes, alliance)
    _mark_alerts(axes, alliance, alerts)
    axes.set_ylim(0, 100)
    axes.set_ylabel("Alliance (% of scale)")
    axes.set_title("Alliance by session")
    axes.grid(axis="y", alpha=0.3)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %Y"))
    figure.autofmt_xdate()
    if any(partner.points for partner in alliance.partners):
        axes.legend(loc="lower left", fontsize="small")
    else:
        axes.text(0.5, 0.5, "No feedback yet", ha="center", transform=axes.transAxes)
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "alliance"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return _accessible(buffer.getvalue(), alliance, alerts)


def _shade_gaps(axes: Any, alliance: Any) -> None:
    by_session = {p.session_id: p for p in alliance.partners[0].points} if alliance.partners else {}
    pairs = [
        (by_session[p.session_id], p)
        for partner in alliance.partners[1:]
        for p in partner.points
        if p.session_id in by_session
    ]
    if pairs:
        axes.fill_between(
            [a.session_at for a, _ in pairs],
            [a.pct for a, _ in pairs],
            [b.pct for _, b in pairs],
            color="#6b7280",
            alpha=0.18,
            label="Gap between partners",
        )


def _mark_alerts(axes: Any, alliance: Any, alerts: list[Any]) -> None:
    """Ring the points where a partner's active alert was last raised."""
    points = {
        (str(partner.partner_id), str(point.session_id)): point
        for partner in alliance.partners
        for point in partner.points
    }
    marked = [
        points[key]
        for key in ((str(a.partner_id), str(a.last_session_id)) for a in alerts if a.partner_id)
        if key in points
    ]
    if marked:
        axes.scatter(
            [p.session_at for p in marked],
            [p.pct for p in marked],
            s=160,
            facecolors="none",
            edgecolors="#b91c1c",
            linewidths=2,
            zorder=5,
            label="Active alert",
        )


def _accessible(svg: str, alliance: Any, alerts: list[Any]) -> str:
    root = ET.fromstring(svg.encode())  # noqa: S314 - our own matplotlib output
    root.set("role", "img")
    root.set("aria-labelledby", "chart-title chart-desc")
    title = ET.Element(f"{{{SVG}}}title", {"id": "chart-title"})
    title.text = "Alliance by session for both partners"
    desc = ET.Element(f"{{{SVG}}}desc", {"id": "chart-desc"})
    desc.text = _description(alliance, alerts)
    root.insert(0, desc)
    root.insert(0, title)
    return ET.tostring(root, encoding="unicode")


def _description(alliance: Any, alerts: list[Any]) -> str:
    parts = []
    for partner in alliance.partners:
        if partner.points:
            last = partner.points[-1]
            parts.append(
                f"{partner.display_name}: {len(partner.points)} sessions, latest "
                f"{last.pct:g}% on {last.session_at:%d %b %Y}."
            )
        else:
            parts.append(f"{partner.display_name}: no feedback yet.")
    if alliance.gaps:
        parts.append(f"Latest gap between partners: {alliance.gaps[-1].gap_pct:g} points.")
    parts.append(f"Cutoff: {alliance.cutoff_pct:g}%.")
    if alerts:
        parts.append(
            "Active alerts: "
            + ", ".join(f"{a.rule.replace('_', ' ')} ({a.severity})" for a in alerts)
            + "."
        )
    return " ".join(parts)
