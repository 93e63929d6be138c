"""Keyset pagination on (created_at, id): stable under inserts and served by an index."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from service.core.paging import Page, PageRequest
from service.db import uow


def keyset_page(stmt: sa.Select[Any], model: Any, page: PageRequest) -> Page[Any]:
    if page.after is not None:
        stmt = stmt.where(sa.tuple_(model.created_at, model.id) > sa.tuple_(*page.after))
    rows = list(
        uow.session().scalars(stmt.order_by(model.created_at, model.id).limit(page.limit + 1))
    )
    if len(rows) <= page.limit:
        return Page(rows, None)
    last = rows[page.limit - 1]
    return Page(rows[: page.limit], (last.created_at, last.id))
