"""One source of time for the whole process: `utcnow()` (always timezone-aware UTC) and
`monotonic()` (for intervals and caches).

The clock is injectable: tests install a `TravelClock` and move it forward (a link's expiry,
an idle session, a settle delay) instead of sleeping.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

# The instants and days the service accepts from callers: a week inside what `datetime` holds,
# so moving one into any time zone (offsets stay within a day) and the day arithmetic on bounds
# (a day's end is the next midnight) never overflow.
EARLIEST = datetime(1, 1, 8, tzinfo=UTC)
LATEST = datetime(9999, 12, 24, tzinfo=UTC)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class TravelClock(SystemClock):
    """The real clock, moved forward by `advance` (both wall and monotonic time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def advance(self, by: timedelta) -> None:
        self.offset += by

    def now(self) -> datetime:
        return super().now() + self.offset

    def monotonic(self) -> float:
        return super().monotonic() + self.offset.total_seconds()


_clock: SystemClock = SystemClock()


def utcnow() -> datetime:
    return _clock.now()


def monotonic() -> float:
    return _clock.monotonic()


def convertible(value: date | datetime) -> bool:
    """Within [EARLIEST, LATEST]. An aware instant is compared as it is: converting it to UTC
    first is what overflows."""
    if isinstance(value, datetime):
        return EARLIEST <= value <= LATEST
    return EARLIEST.date() <= value <= LATEST.date()


@contextlib.contextmanager
def using(clock: SystemClock) -> Iterator[SystemClock]:
    """Run a block on another clock (tests)."""
    global _clock
    previous, _clock = _clock, clock
    try:
        yield clock
    finally:
        _clock = previous
