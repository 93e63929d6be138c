"""A clinic's public therapist directory: listed, active therapists, for anyone (no token).

The request is scoped to the clinic its URL names (service.http.extensions.public_clinic); callers
show only the public profile fields. Not audited: the data is public by the therapist's choice,
and an anonymous caller must not be able to grow the audit trail at will.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from service.core.paging import Page, PageRequest
from service.db import uow
from service.staff.models import StaffMember
from service.staff.service import STAFF


def public_directory(
    page: PageRequest,
    *,
    approach: str | None = None,
    language: str | None = None,
    accepting_new: bool | None = None,
) -> Page[StaffMember]:
    stmt = STAFF.query().where(
        StaffMember.role == "therapist",
        StaffMember.active.is_(True),
        StaffMember.listed_publicly.is_(True),
    )
    if accepting_new is not None:
        stmt = stmt.where(StaffMember.accepting_new.is_(accepting_new))
    if approach:
        wanted = approach.lower()
        stmt = stmt.where(_any_element(StaffMember.approaches, lambda v: v == wanted))
    if language:
        tag = language.lower()
        stmt = stmt.where(
            _any_element(
                StaffMember.languages,
                lambda v: sa.or_(v == tag, v.startswith(tag + "-", autoescape=True)),
            )
        )
    return STAFF.page(stmt, page, audited=False)


def _any_element(
    column: Any, predicate: Callable[[Any], sa.ColumnElement[bool]]
) -> sa.ColumnElement[bool]:
    """`EXISTS` an element of a JSON array column whose lower-cased text matches."""
    if uow.session().get_bind().dialect.name == "postgresql":
        elements = sa.func.json_array_elements_text(column).table_valued("value")
    else:
        elements = sa.func.json_each(column).table_valued("value")
    value = sa.func.lower(elements.c.value)
    return sa.select(1).select_from(elements).where(predicate(value)).exists()
