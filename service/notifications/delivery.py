"""What a delivery attempt reports back to the worker, and when to try again. Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

# SMTP practice (RFC 5321 §4.5.4.1): about 1 m, 5 m, 30 m, 2 h, 6 h, then every 12 h, giving
# up after 4 days. Each wait is drawn with full jitter so retries after an outage spread out.
SCHEDULE = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
LATER = timedelta(hours=12)
GIVE_UP_AFTER = timedelta(days=4)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    permanent: bool = False  # a refusal that retrying cannot fix (SMTP 5xx, webhook 410)
    error: str | None = None  # short, never message content
    response_status: int | None = None
    latency_ms: int | None = None
    # A webhook event split into one row per subscribed endpoint: nothing was sent yet.
    fanned_out: bool = False


def next_wait(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1-based), with full jitter."""
    ceiling = SCHEDULE[attempts - 1] if attempts <= len(SCHEDULE) else LATER
    return timedelta(seconds=(rng or random).uniform(0, ceiling.total_seconds()))
