"""How long the worker waits after consecutive failures of one thing (its loop when the
database is down, a periodic job): exponential, capped, each wait drawn between half and all of
its ceiling so workers that failed together do not retry together. Pure."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, base: float, cap: float, *, rng: random.Random | None = None) -> None:
        self.base, self.cap = base, cap
        self.failures = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    def failed(self) -> float:
        """Count one more failure; the seconds to wait before the next try."""
        self.failures += 1
        ceiling = min(self.cap, self.base * 2 ** min(self.failures, 32))
        return self._rng.uniform(ceiling / 2, ceiling)

    def succeeded(self) -> None:
        self.failures = 0
