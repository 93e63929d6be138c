"""Columns encrypted at rest (service.core.crypto), and re-sealing them after a key rotation.

A `Sealed` column holds a Fernet token; Python sees the value. `reseal_all` finds every sealed
column in the metadata, so a new one cannot be forgotten when keys rotate.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from service.core.crypto import Sealer
from service.db import uow


class Sealed(sa.TypeDecorator[Any]):
    """Text encrypted with `sealer`'s current key; `as_json` for dicts and lists."""

    impl = sa.Text
    cache_ok = True

    def __init__(self, sealer: Sealer, *, as_json: bool = False) -> None:
        super().__init__()
        self.sealer, self.as_json = sealer, as_json

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return self.sealer.seal_json(value) if self.as_json else self.sealer.seal(value)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        return self.sealer.open_json(value) if self.as_json else self.sealer.open(value)


def reseal_all(metadata: sa.MetaData) -> dict[str, int]:
    """Every sealed value re-encrypted under its current key, in the caller's transaction
    (run in the system context: it crosses clinics). Tokens are re-sealed as stored, so no
    value is loaded into an object. Returns the values re-sealed per `table.column`."""
    counts = {}
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, Sealed):
                counts[f"{table.name}.{column.name}"] = _reseal(table, column)
    return counts


def _reseal(table: sa.Table, column: sa.Column[Any]) -> int:
    session = uow.session()
    stored = sa.type_coerce(column, sa.Text)
    sealer = column.type.sealer  # type: ignore[attr-defined]
    rows = session.execute(sa.select(table.c.id, stored).where(column.is_not(None))).all()
    for row_id, token in rows:
        session.execute(
            sa.update(table)
            .where(table.c.id == row_id)
            .values({column.name: sa.type_coerce(sealer.reseal(token), sa.Text)})
        )
    return len(rows)
