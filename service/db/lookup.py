"""The one way features find their rows: visible query, get-or-404, get for update, audited
read and audited list. Scoping (which rows a caller may see) and audit are declared once per
resource, so no feature writes them again.

    COUPLES = Lookup(Couple, "couple", "Couple not found.", visible=caseload_filter)
    COUPLES.get(couple_id, lock=True, audited=False)
    COUPLES.page(COUPLES.query().where(...), page)

The tenant guard (service.db.session) already limits every query to the caller's clinic;
`visible` narrows further (a therapist's caseload, an integrator's view).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from service.core.errors import NotFound
from service.core.paging import Page, PageRequest
from service.db import audit, uow
from service.db.keyset import keyset_page

M = TypeVar("M")
Scope = Callable[[sa.Select[Any]], sa.Select[Any]]


def _everything(stmt: sa.Select[Any]) -> sa.Select[Any]:
    return stmt


@dataclass(frozen=True)
class Lookup(Generic[M]):
    model: type[M]
    resource: str  # the audit events' resource type
    not_found: str  # the 404's message (also for rows the caller may not see)
    visible: Scope = _everything
    options: Sequence[Any] = ()  # loader options for every read

    def query(self) -> sa.Select[tuple[M]]:
        """The rows the caller may see."""
        return self.visible(sa.select(self.model))

    def ids(self) -> sa.Select[tuple[uuid.UUID]]:
        """Ids of the rows the caller may see, for other features to scope by."""
        return self.query().with_only_columns(self.model.id)  # type: ignore[attr-defined]

    def get(
        self,
        ident: uuid.UUID,
        *,
        lock: bool = False,
        audited: bool = True,
        loading: Sequence[Any] | None = None,
    ) -> M:
        """The row with this id, or 404 (missing, another clinic's, or not visible)."""
        key = self.model.id == ident  # type: ignore[attr-defined]
        found = self.find(key, lock=lock, loading=loading)
        if found is None:
            raise NotFound(self.not_found)
        if audited:
            audit.record("read", self.resource, found.id)  # type: ignore[attr-defined]
        return found

    def find(
        self, *criteria: Any, lock: bool = False, loading: Sequence[Any] | None = None
    ) -> M | None:
        """The first visible row matching `criteria`, or None (never audited)."""
        loading = self.options if loading is None else loading
        stmt = self.query().where(*criteria).options(*loading)
        if lock:
            # FOR NO KEY UPDATE: lockers wait for each other, but inserting a row that refers
            # to this one (a foreign key's KEY SHARE) does not - else two such transactions
            # that insert first and lock after would deadlock.
            stmt = stmt.with_for_update(of=self.model, key_share=True)
        return uow.session().scalar(stmt)

    def page(self, stmt: sa.Select[Any], page: PageRequest, *, audited: bool = True) -> Page[M]:
        """A keyset page of `stmt` (built from `query()`), audited in one statement."""
        result = keyset_page(stmt.options(*self.options), self.model, page)
        if audited:
            self.audit_read(result.items)
        return result

    def change_marks(self, *criteria: Any) -> list[Any]:
        """Scalar subqueries that move whenever a visible row matching `criteria` is added,
        removed or changed - the key of a cache of what is drawn from them: how many there are,
        the newest id (ids grow with time) and, for versioned rows, the sum of their versions
        (every update raises one)."""
        model: Any = self.model
        versioned = hasattr(model, "version")
        columns = (model.id, model.version) if versioned else (model.id,)
        found = self.query().with_only_columns(*columns).where(*criteria).subquery()
        aggregates = [sa.func.count(), sa.func.max(sa.cast(found.c.id, sa.String))]
        if versioned:
            aggregates.append(sa.func.sum(found.c.version))
        return [sa.select(each).select_from(found).scalar_subquery() for each in aggregates]

    def audit_read(self, rows: Sequence[Any]) -> None:
        audit.record_many("read", self.resource, [row.id for row in rows])
