"""An insert the ORM's unit of work cannot say: a row unless one with the same unique key is
already there (`ON CONFLICT DO NOTHING`), decided by the database in one statement."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from service.db import uow


def insert_unless_present(model: type[Any]) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` for this model, in the session's dialect."""
    dialect = uow.session().get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    return insert(model).on_conflict_do_nothing()
