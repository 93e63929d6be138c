"""Instrument use-cases: list, define, revise (only before first use), publish new versions,
pick the clinic's default alliance instrument, and score answers."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from service.clinics import service as clinics
from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Invalid, NotFound
from service.core.paging import Page, PageRequest
from service.db import audit, uow
from service.db.lookup import Lookup
from service.instruments import catalog, scoring
from service.instruments.models import Instrument

DEFAULT_SETTING = "alliance_instrument_id"
COLUMNS = tuple(sa.inspect(Instrument).column_attrs)


def _built_in_or_own(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Built-in instruments and the clinic's own (the table is shared, so filter here)."""
    return stmt.where(
        sa.or_(Instrument.clinic_id.is_(None), Instrument.clinic_id == context.clinic_id())
    )


# Questionnaires hold no one's data: reading them is not audited.
INSTRUMENTS = Lookup(Instrument, "instrument", "Instrument not found.", visible=_built_in_or_own)


def list_instruments(
    page: PageRequest, *, kind: str | None = None, key: str | None = None
) -> Page[Instrument]:
    stmt = INSTRUMENTS.query()
    if kind:
        stmt = stmt.where(Instrument.kind == kind)
    if key:
        stmt = stmt.where(Instrument.key == key)
    return INSTRUMENTS.page(stmt, page, audited=False)


# Versions that can no longer change (built-in, or answered at least once), as detached
# copies: scoring and evaluation read them on every submission without a query.
_FROZEN: dict[uuid.UUID, Instrument] = {}


def get(instrument_id: uuid.UUID) -> Instrument:
    found = get_many({instrument_id}).get(instrument_id)
    if found is None:
        raise NotFound(INSTRUMENTS.not_found)
    return found


def get_many(instrument_ids: set[uuid.UUID]) -> dict[uuid.UUID, Instrument]:
    """These instruments, if the clinic may see them (frozen ones from memory)."""
    clinic_id = context.clinic_id()
    found = {
        key: _FROZEN[key]
        for key in instrument_ids
        if key in _FROZEN and _FROZEN[key].clinic_id in (None, clinic_id)
    }
    missing = instrument_ids - found.keys()
    if missing:
        rows = uow.session().scalars(INSTRUMENTS.query().where(Instrument.id.in_(missing)))
        found |= {row.id: _remembered(row) for row in rows}
    return found


def _remembered(row: Instrument) -> Instrument:
    """A frozen version is kept as a copy bound to no session; others are returned as read."""
    if row.clinic_id is not None and row.answered_at is None:
        return row
    copy = Instrument(**{column.key: getattr(row, column.key) for column in COLUMNS})
    _FROZEN[row.id] = copy
    return copy


def define(data: dict[str, Any]) -> Instrument:
    taken = uow.session().scalar(INSTRUMENTS.query().where(Instrument.key == data["key"]).limit(1))
    if taken is not None:
        raise Conflict(
            "An instrument with this key exists; publish a new version of it.",
            errors={"key": ["Already used."]},
        )
    return _add(data, version=1)


def revise(instrument_id: uuid.UUID, changes: dict[str, Any]) -> Instrument:
    instrument = _own(instrument_id, for_update=True)
    if instrument.answered_at is not None:
        raise Conflict(
            "This version has responses and is frozen; publish a new version.",
            errors={"items": ["Frozen since the first response."]},
        )
    for name, value in changes.items():
        setattr(instrument, name, value)
    uow.session().flush()
    audit.record("update", "instrument", instrument.id)
    return instrument


def publish_version(instrument_id: uuid.UUID, changes: dict[str, Any]) -> Instrument:
    base = get(instrument_id)
    latest = uow.session().scalar(
        sa.select(sa.func.max(Instrument.version)).where(
            Instrument.key == base.key, Instrument.clinic_id == context.clinic_id()
        )
    ) or (base.version if base.clinic_id is None else 0)
    data = {
        name: getattr(base, name)
        for name in ("key", "kind", "title", "items", "norms", "cutoff_pct")
    } | changes
    return _add(data, version=latest + 1)


def make_default(instrument_id: uuid.UUID) -> Instrument:
    instrument = get(instrument_id)
    if instrument.kind != "alliance":
        raise Invalid(
            "Only an alliance instrument can be the feedback default.",
            errors={"kind": ["Must be alliance."]},
        )
    clinics.update_feedback_settings({DEFAULT_SETTING: str(instrument.id)})
    return instrument


def default_alliance() -> Instrument:
    chosen = clinics.feedback_settings().get(DEFAULT_SETTING)
    return get(uuid.UUID(chosen)) if chosen else get(catalog.SAC8_ID)


def score(instrument: Instrument, answers: dict[str, Any]) -> scoring.Score:
    """Score answers; 422 naming each item that does not fit."""
    try:
        return scoring.score([scoring.Item.from_dict(item) for item in instrument.items], answers)
    except scoring.AnswerErrors as exc:
        raise Invalid(
            "Some answers do not fit the questionnaire.",
            errors={f"answers.{key}": msgs for key, msgs in exc.errors.items()},
        ) from exc


def mark_answered(instrument: Instrument) -> None:
    """Freeze a clinic's version at its first response (built-ins are never editable)."""
    if instrument.clinic_id is not None and instrument.answered_at is None:
        uow.session().execute(
            sa.update(Instrument)
            .where(Instrument.id == instrument.id, Instrument.answered_at.is_(None))
            .values(answered_at=utcnow())
        )


def _own(instrument_id: uuid.UUID, *, for_update: bool = False) -> Instrument:
    """The clinic's own version (404 if none; a built-in one cannot be edited: 409)."""
    found = INSTRUMENTS.get(instrument_id, lock=for_update, audited=False)
    if found.clinic_id is None:
        raise Conflict("Built-in instruments cannot be edited; publish a clinic version.")
    return found


def _add(data: dict[str, Any], *, version: int) -> Instrument:
    instrument = Instrument(clinic_id=context.clinic_id(), version=version, **data)
    uow.session().add(instrument)
    uow.session().flush()
    audit.record("create", "instrument", instrument.id)
    return instrument
