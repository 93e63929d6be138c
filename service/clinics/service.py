"""Clinic use-cases: create (platform), read and change the caller's own clinic."""

from __future__ import annotations

import functools
import re
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from service.clinics.models import Clinic
from service.core import context
from service.core.errors import Conflict, NotFound
from service.core.paging import Page, PageRequest
from service.db import audit, uow
from service.db.lookup import Lookup

CLINICS = Lookup(Clinic, "clinic", "Clinic not found.")
SLUG = re.compile(r"[a-z0-9-]{1,63}")


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


def list_for_platform(page: PageRequest) -> Page[Clinic]:
    """Every clinic, for the platform operator, who has no clinic of its own: read through
    the audited bypass in a transaction of its own (the request's began scoped to no clinic).
    Each clinic listed records, in that clinic, that the platform read it."""
    with context.system_context("platform: list clinics"), uow.unit_of_work():
        result = CLINICS.page(CLINICS.query(), page, audited=False)
        for clinic in result.items:
            audit.record("read", "clinic", clinic.id, clinic_id=clinic.id)
    return result


def get_for_platform(clinic_id: uuid.UUID) -> Clinic:
    with context.system_context("platform: read clinic"), uow.unit_of_work():
        clinic = CLINICS.get(clinic_id, audited=False)
        audit.record("read", "clinic", clinic.id, clinic_id=clinic.id)
    return clinic


def own() -> Clinic:
    """The caller's clinic. Reading it is audited like any clinic data."""
    return CLINICS.get(_own_id())


def update_own(changes: dict[str, Any], check_version: Any) -> Clinic:
    clinic = CLINICS.get(_own_id(), audited=False)
    check_version(clinic.version)
    for name, value in changes.items():
        setattr(clinic, name, value)
    uow.session().flush()
    audit.record("update", "clinic", clinic.id)
    return clinic


def feedback_settings() -> dict[str, Any]:
    return dict(_current().feedback_settings or {})


def update_feedback_settings(changes: dict[str, Any]) -> None:
    clinic = _current()
    clinic.feedback_settings = {**(clinic.feedback_settings or {}), **changes}
    uow.session().flush()
    audit.record("update", "clinic", clinic.id)


def name() -> str:
    return _current().name


def second_factor_required() -> bool:
    """The caller's clinic has every staff member sign in with a second factor."""
    return _current().require_second_factor


def locale() -> str:
    return _current().locale


def timezone() -> str:
    """The caller's clinic's IANA timezone (for dates given without a time)."""
    return _current().timezone


def frontend_origins() -> frozenset[str]:
    """Every clinic's allow-listed frontend origins: CORS is decided before the caller is known."""
    with context.system_context("cors origins"), uow.unit_of_work() as session:
        lists = session.scalars(sa.select(Clinic.cors_origins))
        return frozenset(origin for origins in lists for origin in origins or ())


def by_id(clinic_id: uuid.UUID) -> Clinic:
    """A clinic by id, in the current scope (its own clinic, or any in the system context)."""
    clinic = uow.session().get(Clinic, clinic_id)
    if clinic is None:
        raise NotFound(CLINICS.not_found)
    return clinic


def by_slug(slug: str) -> Clinic | None:
    return uow.session().scalar(sa.select(Clinic).where(Clinic.slug == slug))


def public_id(slug: str) -> uuid.UUID:
    """The clinic a public URL names (the therapist directory); 404 when there is none.
    The caller is anonymous, so the lookup crosses clinics (audited bypass)."""
    clinic_id = None
    if SLUG.fullmatch(slug):
        with context.system_context("public page: clinic by slug"), uow.unit_of_work():
            clinic = by_slug(slug)
            clinic_id = clinic.id if clinic is not None else None
    if clinic_id is None:
        raise NotFound("No clinic has this address.")
    return clinic_id


def own_with(settings: Any) -> tuple[sa.Row[Any], Any | None]:
    """The caller's clinic (a row of its id, name, timezone and email policy) and the
    `settings` column of its row in another feature's one-row-per-clinic table (e.g. the
    alert policy's), None without one; in one read of plain columns, as every submission
    reads them."""
    found = uow.session().execute(_own_with(settings), {"clinic_id": _own_id()}).first()
    if found is None:
        raise NotFound(CLINICS.not_found)
    return found, found.settings


@functools.cache
def _own_with(settings: Any) -> sa.Select[Any]:
    return (
        sa.select(
            Clinic.id, Clinic.name, Clinic.timezone, Clinic.email_policy, settings.label("settings")
        )
        .outerjoin(settings.class_, settings.class_.clinic_id == Clinic.id)
        .where(Clinic.id == sa.bindparam("clinic_id"))
    )


def change_marks() -> list[Any]:
    """A mark that moves when the caller's clinic changes (its settings: the default
    instrument, its language)."""
    return [sa.select(Clinic.version).where(Clinic.id == _own_id()).scalar_subquery()]


def _own_id() -> uuid.UUID:
    return context.clinic_id() or uuid.UUID(int=0)  # no clinic: nothing is found (404)


def _current() -> Clinic:
    """The caller's clinic, read once per transaction (the session's identity map)."""
    return by_id(_own_id())
