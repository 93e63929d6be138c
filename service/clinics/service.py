"""Clinic use-cases: create (platform), read and change the caller's own clinic."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from service.audit import service as audit
from service.clinics.models import Clinic
from service.core import context
from service.core.errors import Conflict, NotFound
from service.core.paging import Page, PageRequest
from service.db import uow
from service.db.keyset import keyset_page


def create(data: dict[str, Any]) -> Clinic:
    session = uow.session()
    taken = Conflict("A clinic with this slug exists.", errors={"slug": ["Already taken."]})
    if session.scalar(sa.select(sa.exists().where(Clinic.slug == data["slug"]))):
        raise taken
    clinic = Clinic(**data)
    session.add(clinic)
    try:
        session.flush()
    except IntegrityError as exc:  # the same slug, created concurrently
        raise taken from exc
    return clinic


def list_all(page: PageRequest) -> Page[Clinic]:
    return keyset_page(sa.select(Clinic), Clinic, page)


def list_for_platform(page: PageRequest) -> Page[Clinic]:
    """Every clinic, for the platform operator, who has no clinic of its own: read through
    the audited bypass in a transaction of its own (the request's began scoped to no clinic).
    Each clinic listed records that the platform read it."""
    with context.system_context("platform: list clinics"), uow.unit_of_work():
        result = list_all(page)
        for clinic in result.items:
            audit.record("read", "clinic", clinic.id, clinic_id=clinic.id)
    return result


def get_for_platform(clinic_id: uuid.UUID) -> Clinic:
    with context.system_context("platform: read clinic"), uow.unit_of_work():
        clinic = _get(clinic_id)
        audit.record("read", "clinic", clinic.id, clinic_id=clinic.id)
    return clinic


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


def feedback_settings() -> dict[str, Any]:
    return dict(_get(context.clinic_id()).feedback_settings or {})


def update_feedback_settings(changes: dict[str, Any]) -> None:
    clinic = _get(context.clinic_id())
    clinic.feedback_settings = {**(clinic.feedback_settings or {}), **changes}
    uow.session().flush()
    audit.record("update", "clinic", clinic.id)


def name() -> str:
    return _get(context.clinic_id()).name


def locale() -> str:
    return _get(context.clinic_id()).locale


def timezone() -> str:
    """The caller's clinic's IANA timezone (for dates given without a time)."""
    return _get(context.clinic_id()).timezone


def frontend_origins() -> frozenset[str]:
    """Every clinic's allow-listed frontend origins: CORS is decided before the caller is known."""
    with context.system_context("cors origins"), uow.unit_of_work() as session:
        lists = session.scalars(sa.select(Clinic.cors_origins))
        return frozenset(origin for origins in lists for origin in origins or ())


def by_slug(slug: str) -> Clinic | None:
    return uow.session().scalar(sa.select(Clinic).where(Clinic.slug == slug))


def _get(clinic_id: uuid.UUID | None) -> Clinic:
    clinic = uow.session().get(Clinic, clinic_id) if clinic_id else None
    if clinic is None:
        raise NotFound("Clinic not found.")
    return clinic
