"""The unit of work: the only place that commits.

A request (or job) gets one session, opened lazily on first use so that authentication has set
the tenant before the transaction begins. `unit_of_work()` opens a separate, self-contained
transaction: for jobs, the CLI and the few steps that must commit on their own - and for work
in the system context, whose session connects as the system role (`Database.session`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from service.db.session import Database, TenantSession

_database: Database | None = None
_current: ContextVar[Session | None] = ContextVar("alliance_session", default=None)


def init(database: Database) -> None:
    global _database
    _database = database


def database() -> Database:
    if _database is None:
        raise RuntimeError("database not initialised: call service.db.uow.init() first")
    return _database


def session() -> Session:
    """The current session, opened on first use."""
    current = _current.get()
    if current is None:
        current = database().session()
        _current.set(current)
    return current


def commit() -> None:
    current = _current.get()
    if current is not None:
        current.commit()


def close() -> None:
    """End the current session; anything not committed is rolled back."""
    current = _current.get()
    if current is not None:
        _current.set(None)
        current.close()


def after_commit(action: Callable[[], None]) -> None:
    """Run `action` once the current transaction has committed, never if it rolls back: for
    counting what really happened (metrics)."""
    session().info.setdefault(_AFTER_COMMIT, []).append(action)


_AFTER_COMMIT = "alliance.after_commit"


@event.listens_for(TenantSession, "after_commit")
def _run_after_commit(committed: Session) -> None:
    for action in committed.info.pop(_AFTER_COMMIT, []):
        action()


@event.listens_for(TenantSession, "after_transaction_end")
def _forget_after_rollback(ended: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outer transaction: committed (already run) or not
        ended.info.pop(_AFTER_COMMIT, None)


@contextlib.contextmanager
def unit_of_work() -> Iterator[Session]:
    """A fresh session and transaction for the block: committed on success, else rolled back."""
    fresh = database().session()
    token = _current.set(fresh)
    try:
        yield fresh
        fresh.commit()
    finally:
        fresh.close()
        _current.reset(token)
