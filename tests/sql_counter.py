"""Count the SQL statements the app sends, to prove lists have no N+1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import event

from service.db import uow


@contextlib.contextmanager
def count_statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _executemany) -> None:
        seen.append(statement)

    engine = uow.database().engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
