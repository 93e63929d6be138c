"""Clinic use-cases: create (platform), read and change the caller's own clinic."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from service.audit import service as audit
from service.clinics.models import Clinic
from service.core import context
from service.core.errors import Conflict, NotFound
from service.core.paging import Page, PageRequest
from service.db import uow
from service.db.keyset import keyset_page


def create(data: dict[str, Any]) -> Clinic:
    session = uow.session()
    if session.scalar(sa.select(sa.exists().where(Clinic.slug == data["slug"]))):
        raise Conflict("A clinic with this slug exists.", errors={"slug": ["Already taken."]})
    clinic = Clinic(**data)
    session.add(clinic)
    session.flush()
    return clinic


def list_all(page: PageRequest) -> Page[Clinic]:
    return keyset_page(sa.select(Clinic), Clinic, page)


def own() -> Clinic:
    """The caller's clinic. Reading it is audited like any clinic data."""
    clinic = _get(context.clinic_id())
    audit.record("read", "clinic", clinic.id)
    return clinic


def update_own(changes: dict[str, Any], check_version: Any) -> Clinic:
    clinic = _get(context.clinic_id())
    check_version(clinic.version)
    for name, value in changes.items():
        setattr(clinic, name, value)
    uow.session().flush()
    audit.record("update", "clinic", clinic.id)
    return clinic


def by_slug(slug: str) -> Clinic | None:
    return uow.session().scalar(sa.select(Clinic).where(Clinic.slug == slug))


def _get(clinic_id: uuid.UUID | None) -> Clinic:
    clinic = uow.session().get(Clinic, clinic_id) if clinic_id else None
    if clinic is None:
        raise NotFound("Clinic not found.")
    return clinic
