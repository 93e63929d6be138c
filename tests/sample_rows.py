"""Sample rows for any table, built from the metadata alone.

Used by the tenancy tests so that every tenant table — including ones added later — gets a
row of clinic A without anyone writing a factory for it. Values satisfy NOT NULL, foreign keys
(parents are created first) and simple `col IN (...)` check constraints.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

_IN_LIST = re.compile(r"(\w+)\s+IN\s*\(([^)]*)\)", re.IGNORECASE)
_BETWEEN = re.compile(r"(\w+)\s+BETWEEN\s+(-?\d+)\s+AND", re.IGNORECASE)


def _allowed_values(table: sa.Table) -> dict[str, Any]:
    """A value each check-constrained column accepts: the first of an IN list, or the lower
    bound of a BETWEEN."""
    allowed: dict[str, Any] = {}
    for constraint in table.constraints:
        if isinstance(constraint, sa.CheckConstraint):
            text = str(constraint.sqltext)
            for column, options in _IN_LIST.findall(text):
                first = options.split(",")[0].strip()
                allowed[column] = int(first) if first.lstrip("-").isdigit() else first.strip("'")
            for column, low in _BETWEEN.findall(text):
                allowed[column] = int(low)
    return allowed


def _value(column: sa.Column, allowed: dict[str, Any]) -> Any:
    if column.name in allowed:
        return allowed[column.name]
    kind = column.type
    if isinstance(kind, sa.TypeDecorator):  # e.g. a sealed (encrypted) text: sample its impl
        kind = kind.impl_instance
    if isinstance(kind, sa.Uuid):
        return uuid.uuid4()
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.Numeric | sa.Float):
        return 1
    if isinstance(kind, sa.DateTime):
        return datetime.now(UTC)
    if isinstance(kind, sa.Date):
        return date.today()
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.String):
        length = kind.length or 32
        return secrets.token_hex(16)[: max(1, min(length, 32))]
    if isinstance(kind, sa.LargeBinary):
        return b"x"
    raise NotImplementedError(f"no sample value for {column.table.name}.{column.name}: {kind!r}")


def _required(table: sa.Table, column: sa.Column) -> bool:
    if column.primary_key or not column.nullable:
        return True
    # A nullable column that is part of a composite key to a parent: fill it too.
    return any(column.name in fk.column_keys for fk in table.foreign_key_constraints)


class SampleWriter:
    """Writes one row per table (and its parents) for a clinic, on a connection that bypasses
    row-level security (the superuser), remembering each table's row for children."""

    def __init__(self, connection: sa.Connection, metadata: sa.MetaData, clinic_id: uuid.UUID):
        self.connection = connection
        self.metadata = metadata
        self.clinic_id = clinic_id
        self.rows: dict[str, dict[str, Any]] = {"clinics": {"id": clinic_id}}

    def row_for(self, table: sa.Table, *, write: bool = True) -> dict[str, Any]:
        if write and table.name in self.rows:
            return self.rows[table.name]
        row = self.build(table)
        if write:
            self.connection.execute(sa.insert(table).values(row))
            self.rows[table.name] = row
        return row

    def build(self, table: sa.Table) -> dict[str, Any]:
        """A fresh row (unique values new) whose parents exist."""
        allowed = _allowed_values(table)
        row = {
            column.name: _value(column, allowed)
            for column in table.columns
            if _required(table, column) and column.name != "clinic_id"
        }
        if "clinic_id" in table.columns:
            row["clinic_id"] = self.clinic_id
        for fk in table.foreign_key_constraints:
            parent = fk.referred_table
            if parent.name == table.name:
                continue
            parent_row = self.row_for(parent)
            for local, remote in zip(
                fk.column_keys, [e.column.name for e in fk.elements], strict=True
            ):
                if local in row or not table.columns[local].nullable:
                    row[local] = parent_row[remote]
        return row
