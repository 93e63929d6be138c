"""Count the SQL statements the app sends, to prove lists have no N+1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy import event

# The rolled-back test transaction's role switch (tests/conftest.py): not the app's statement.
HARNESS = "SET LOCAL ROLE"


@contextlib.contextmanager
def count_statements() -> Iterator[list[str]]:
    """Every statement sent on any engine - the app role's, the system role's, the test's
    shared transaction - while the block runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _executemany) -> None:
        if not statement.startswith(HARNESS):
            seen.append(statement)

    event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(sa.Engine, "before_cursor_execute", record)
