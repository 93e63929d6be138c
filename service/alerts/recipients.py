"""Who gets which alert email, and when (DESIGN §9). Pure: no database, no clock.

- A new alert, or one whose severity rose, goes to the couple's therapist by their preference:
  `immediate` → one email, held until the end of the clinic's quiet hours; `hourly`/`daily`
  → nothing now, the next digest carries it.
- `safety_concern` goes to the therapist and every active supervisor at once, ignoring
  digests and quiet hours. So does any alert whose therapist can no longer sign in
  (deactivated): an alert that reaches nobody is worse than none.
- Unacknowledged critical alerts escalate to the supervisors, once (the caller marks them).
- The content (rendered by service.notifications) is the rule in words, the severity and a
  link; the couple's label only when the clinic opted in. Never names, scores or answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

SAFETY = "safety_concern"
DIGESTS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


@dataclass(frozen=True)
class Person:
    staff_id: uuid.UUID
    email: str
    role: str
    alert_emails: str = "immediate"
    active: bool = True


@dataclass(frozen=True)
class Delivery:
    """One email to send: to whom, why, and not before when."""

    to: Person
    reason: str  # "therapist" | "supervisor"
    not_before: datetime


@dataclass(frozen=True)
class EmailPolicy:
    include_couple_label: bool = False
    quiet_start: time | None = None
    quiet_end: time | None = None

    @classmethod
    def from_dict(cls, data: dict | None) -> EmailPolicy:
        data = data or {}
        quiet = data.get("quiet_hours") or {}
        start, end = _time(quiet.get("start")), _time(quiet.get("end"))
        return cls(
            include_couple_label=data.get("include_couple_label") is True,
            quiet_start=start if start and end and start != end else None,
            quiet_end=end if start and end and start != end else None,
        )


def plan_alert(
    *,
    rule: str,
    therapist: Person | None,
    supervisors: Callable[[], list[Person]],  # asked only when they are to be told
    policy: EmailPolicy,
    timezone: str,
    now: datetime,
) -> list[Delivery]:
    """The emails an alert's news causes right now (digest readers get none)."""
    reachable = therapist is not None and therapist.active
    if rule == SAFETY or not reachable:
        people = ([(therapist, "therapist")] if reachable else []) + [
            (person, "supervisor") for person in supervisors() if person.active
        ]
        return _unique([Delivery(person, reason, now) for person, reason in people])
    if therapist.alert_emails in DIGESTS:
        return []
    return [Delivery(therapist, "therapist", quiet_until(now, policy, timezone))]


def one_per_person(deliveries: list[Delivery]) -> list[Delivery]:
    """One email per address for everything one submission changed: as early as its most
    urgent alert allows, as a therapist if any of it is about their own couple."""
    merged: dict[str, Delivery] = {}
    for delivery in deliveries:
        address = delivery.to.email.lower()
        seen = merged.get(address)
        if seen is None:
            merged[address] = delivery
            continue
        reason = "therapist" if "therapist" in (seen.reason, delivery.reason) else seen.reason
        merged[address] = Delivery(seen.to, reason, min(seen.not_before, delivery.not_before))
    return list(merged.values())


def plan_escalation(supervisors: list[Person], now: datetime) -> list[Delivery]:
    return _unique([Delivery(p, "supervisor", now) for p in supervisors if p.active])


def digest_window(
    preference: str, last_until: datetime | None, now: datetime
) -> tuple[datetime, datetime] | None:
    """(since, until) of the digest due now for this preference, or None when not due.
    The next window starts where the last digest ended, so no alert falls between two."""
    period = DIGESTS.get(preference)
    if period is None:
        return None
    if last_until is None:
        return now - period, now
    if now - last_until < period:
        return None
    return last_until, now


def quiet_until(now: datetime, policy: EmailPolicy, timezone: str) -> datetime:
    """`now`, or the end of the clinic's quiet hours (in its timezone) when inside them."""
    start, end = policy.quiet_start, policy.quiet_end
    if start is None or end is None:
        return now
    zone = _zone(timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:  # e.g. 12:00-14:00, within one day
        inside, end_day = start <= clock < end, local.date()
    else:  # e.g. 21:00-07:00, across midnight
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return now
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)


def _unique(deliveries: list[Delivery]) -> list[Delivery]:
    """One email per address (a therapist who is also a supervisor gets one)."""
    seen: set[str] = set()
    kept = []
    for delivery in deliveries:
        address = delivery.to.email.lower()
        if address not in seen:
            seen.add(address)
            kept.append(delivery)
    return kept


def _time(value: object) -> time | None:
    if not isinstance(value, str):
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        return None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        return ZoneInfo("UTC")
