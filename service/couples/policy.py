"""Couple status transitions. Pure rules."""

from __future__ import annotations

STATUSES = ("intake", "active", "paused", "closed")
FEEDBACK_CHANNELS = ("email", "in_clinic", "none")

# A closed couple may come back (re-referral): closed -> active.
TRANSITIONS: dict[str, frozenset[str]] = {
    "intake": frozenset({"active", "closed"}),
    "active": frozenset({"paused", "closed"}),
    "paused": frozenset({"active", "closed"}),
    "closed": frozenset({"active"}),
}


def can_move(current: str, target: str) -> bool:
    return target == current or target in TRANSITIONS.get(current, frozenset())
