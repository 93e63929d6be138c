"""An insert the ORM's unit of work cannot say: a row unless one with the same unique key is
already there (`ON CONFLICT DO NOTHING`), decided by the database in one statement."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from service.db import uow


def insert_unless_present(model: type[Any]) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING id` into this model's table, in the
    session's dialect, built once: execute it with the row's values as its parameters."""
    return _insert_unless_present(model.__table__, uow.session().get_bind().dialect.name)


@functools.cache
def _insert_unless_present(table: sa.Table, dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    return insert(table).on_conflict_do_nothing().returning(table.c.id)
