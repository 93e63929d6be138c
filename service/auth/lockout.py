"""Per-account sign-in lockout with exponential back-off, beside the per-address rate limit.

Failed attempts are counted per email (as a digest: the store never sees an address), whether
or not an account has it, so a locked answer says nothing about who is registered. The counts
live in the rate limits' storage (`ALLIANCE_RATELIMIT_STORAGE_URI`): Redis shares them across
processes and machines; `memory://` keeps them per process (`make run`).
"""

from __future__ import annotations

import math
import time

from limits.storage import Storage, storage_from_string

from service.core.ids import digest

FREE_ATTEMPTS = 5  # failures before the first lock
FIRST_LOCK_SECONDS = 30  # then 60, 120, ... for each further failure
MAX_LOCK_SECONDS = 3600
FAILURE_MEMORY_SECONDS = 24 * 3600  # failures older than this are forgotten

_storage: Storage | None = None


def configure(storage_uri: str) -> None:
    global _storage
    _storage = storage_from_string(storage_uri)


def lock_seconds(failures: int) -> int:
    """How long an account stays locked after its `failures`-th failure in a row."""
    if failures < FREE_ATTEMPTS:
        return 0
    return min(FIRST_LOCK_SECONDS * 2 ** (failures - FREE_ATTEMPTS), MAX_LOCK_SECONDS)


def locked_for(email: str) -> int:
    """Seconds until this email may try again (0: it may now)."""
    store, lock = _store(), _key("lock", email)
    if not store.get(lock):
        return 0
    return max(1, math.ceil(store.get_expiry(lock) - time.time()))


def failed(email: str) -> None:
    store = _store()
    failures = store.incr(_key("failures", email), FAILURE_MEMORY_SECONDS)
    seconds = lock_seconds(failures)
    if seconds:
        store.incr(_key("lock", email), seconds)


def succeeded(email: str) -> None:
    _store().clear(_key("failures", email))


def _key(kind: str, email: str) -> str:
    return f"alliance:login-{kind}:{digest(email.strip().lower())}"


def _store() -> Storage:
    if _storage is None:
        raise RuntimeError("lockout storage not configured: call lockout.configure() first")
    return _storage
