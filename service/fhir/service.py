"""FHIR read and search over the features' own lookups, so tenancy, caseload scoping, the
integrator's view (no safety-concern alert) and audit are the features', never rewritten.

Each resource type has a `Source`: the lookup its rows come from, how a search narrows those
rows in SQL (a superset), and how rows become resources (a session becomes three Encounters,
a response an Observation and, with its partner's, the couple's gap Observation). The exact
test of every search parameter is then made on the resources themselves (`params.matches`),
so search, read and export agree by construction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from service.alerts import service as alerts
from service.clinics import service as clinics
from service.core import context
from service.core.errors import NotFound
from service.couples import service as couples
from service.db import uow
from service.db.lookup import Lookup
from service.feedback import history
from service.fhir import mapping
from service.fhir.params import Cursor, Search, matches
from service.instruments import service as instruments
from service.staff import service as staff
from service.therapy_sessions import service as sessions

Rows = Sequence[Any]
Expand = Callable[[Rows, str], list[list[dict[str, Any]]]]
Narrow = Callable[[Search], list[Any]]
CLINICIANS = ("therapist", "supervisor")


@dataclass(frozen=True)
class Source:
    kind: str
    lookup: Lookup[Any]
    expand: Expand
    narrow: Narrow
    updated: str = "updated_at"  # the column behind meta.lastUpdated
    in_group: Callable[[uuid.UUID], Any] | None = None  # Group export: the couple's rows
    params: frozenset[str] = frozenset()
    audited: bool = True

    @property
    def model(self) -> Any:
        return self.lookup.model

    def rows(self, search: Search, group: uuid.UUID | None = None) -> sa.Select[Any]:
        column = getattr(self.model, self.updated)
        stmt = self.lookup.query().where(*self.narrow(search))
        for op, bound in search.updated:
            stmt = stmt.where(column >= bound if op == ">=" else column < bound)
        if group is not None and self.in_group is not None:
            stmt = stmt.where(self.in_group(group))
        return stmt.options(*self.lookup.options)

    def audit(self, rows: Rows) -> None:
        if self.audited and rows:
            self.lookup.audit_read(rows)


# -- reading and searching ----------------------------------------------------------------------


def read(kind: str, ident: str, base: str) -> dict[str, Any]:
    found, _ = search(kind, Search(ids=frozenset({ident}), count=1), base)
    if not found:
        raise NotFound(f"{kind}/{ident} is not known.")
    return found[0]


def search(kind: str, query: Search, base: str) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of matches, in a stable order (row creation), and where the next starts."""
    source, cursor = SOURCES[kind], query.cursor
    stmt = source.rows(query)
    if cursor is not None:
        key = sa.tuple_(source.model.created_at, source.model.id)
        stmt = stmt.where(key >= sa.tuple_(cursor.created_at, cursor.row_id))
    order = (source.model.created_at, source.model.id)
    rows = list(uow.session().scalars(stmt.order_by(*order).limit(query.count + 1)))
    found, used, after = _take(rows, source.expand(rows, base), query)
    source.audit(used)
    return found, after


def _take(
    rows: Rows, expanded: list[list[dict]], query: Search
) -> tuple[list, list, Cursor | None]:
    found: list[dict[str, Any]] = []
    used: list[Any] = []
    for row, resources in zip(rows, expanded, strict=True):
        start = _skip(row, query.cursor)
        for index in range(start, len(resources)):
            if not matches(resources[index], query):
                continue
            if len(found) == query.count:
                return found, used, Cursor(row.created_at, row.id, index)
            found.append(resources[index])
            if not used or used[-1] is not row:
                used.append(row)
    if len(rows) > query.count:  # rows left over that matched nothing
        return found, used, Cursor(rows[-1].created_at, rows[-1].id, len(expanded[-1]))
    return found, used, None


def _skip(row: Any, cursor: Cursor | None) -> int:
    if cursor is not None and (row.created_at, row.id) == (cursor.created_at, cursor.row_id):
        return cursor.skip
    return 0


def stream(
    kind: str, query: Search, base: str, batch: int, group: uuid.UUID | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Every match, a batch at a time, from a server-side cursor: memory stays flat."""
    source = SOURCES[kind]
    result = uow.session().execute(source.rows(query, group).execution_options(yield_per=batch))
    for partition in result.scalars().partitions():
        rows = list(partition)
        source.audit(rows)
        expanded = source.expand(rows, base)
        yield [r for resources in expanded for r in resources if matches(r, query)]


# -- how a search narrows the rows ------------------------------------------------------------


def _uuids(values: frozenset[str] | None, parse: Callable[[str], Any] = mapping.as_uuid) -> list:
    return [found for found in (parse(v) for v in values or ()) if found is not None]


def _by_id(model: Any) -> Narrow:
    return lambda s: [] if s.ids is None else [model.id.in_(_uuids(s.ids))]


def _subject_ids(query: Search) -> tuple[list[uuid.UUID], list[uuid.UUID]] | None:
    """(patient ids, group ids) a search's `patient`/`subject` allow; None = no such filter."""
    patients, groups = [], []
    if query.patient is not None:
        patients.append(query.patient)
    if query.subject is not None:
        kind, ident = query.subject
        (groups if kind == "Group" else patients).append(ident)
        if kind is None:
            groups.append(ident)
    if query.patient is None and query.subject is None:
        return None
    return _uuids(frozenset(patients)), _uuids(frozenset(groups))


def _couples_of(partner_ids: list[uuid.UUID]) -> Any:
    partner = couples.PARTNERS.model
    return sa.select(partner.couple_id).where(partner.id.in_(partner_ids))


def _narrow_encounters(query: Search) -> list[Any]:
    model, criteria = sessions.SESSIONS.model, []
    if query.ids is not None:
        criteria.append(model.id.in_([p[0] for p in _uuids(query.ids, mapping.parse_encounter_id)]))
    subjects = _subject_ids(query)
    if subjects is not None:
        patients, groups = subjects
        criteria.append(
            sa.or_(model.couple_id.in_(groups), model.couple_id.in_(_couples_of(patients)))
        )
    return criteria


def _narrow_answers(query: Search) -> list[Any]:
    """QuestionnaireResponses and Observations: both rows are feedback responses."""
    model, criteria = history.RESPONSES.model, []
    if query.ids is not None:
        parsed = _uuids(query.ids, mapping.parse_observation_id)
        criteria.append(
            sa.or_(
                model.id.in_([ident for ident, gap in parsed if not gap]),
                model.session_id.in_([ident for ident, gap in parsed if gap]),
            )
        )
    subjects = _subject_ids(query)
    if subjects is not None:
        patients, groups = subjects
        criteria.append(sa.or_(model.partner_id.in_(patients), model.couple_id.in_(groups)))
    if query.encounter is not None:
        found = mapping.parse_encounter_id(query.encounter)
        criteria.append(model.session_id == found[0] if found else sa.false())
    return criteria


def _narrow_flags(query: Search) -> list[Any]:
    model = alerts.ALERTS.model
    criteria = _by_id(model)(query)
    subjects = _subject_ids(query)
    if subjects is not None:
        patients, groups = subjects
        criteria.append(sa.or_(model.partner_id.in_(patients), model.couple_id.in_(groups)))
    return criteria


def _narrow_patients(query: Search) -> list[Any]:
    criteria = _by_id(couples.PARTNERS.model)(query)
    if "identifier" in query.extra:
        system, _, value = query.extra["identifier"].partition("|")
        criteria.append(couples.PARTNERS.model.id.in_(couples.with_identifier(system, value)))
    return criteria


def _clinicians(query: Search) -> list[Any]:
    return [staff.STAFF.model.role.in_(CLINICIANS), *_by_id(staff.STAFF.model)(query)]


def _own_clinic(query: Search) -> list[Any]:
    return [clinics.CLINICS.model.id == context.clinic_id(), *_by_id(clinics.CLINICS.model)(query)]


# -- how rows become resources ------------------------------------------------------------------


def _each(make: Callable[[Any], dict[str, Any]]) -> Expand:
    return lambda rows, _base: [[make(row)] for row in rows]


def _encounters(rows: Rows, _base: str) -> list[list[dict[str, Any]]]:
    partners: dict[uuid.UUID, list[uuid.UUID]] = {}
    model = couples.PARTNERS.model
    stmt = couples.PARTNERS.query().where(model.couple_id.in_({row.couple_id for row in rows}))
    for partner in uow.session().scalars(stmt.order_by(model.position)):
        partners.setdefault(partner.couple_id, []).append(partner.id)
    return [
        [mapping.session_encounter(row)]
        + [mapping.partner_encounter(row, p) for p in partners.get(row.couple_id, [])]
        for row in rows
    ]


def _questionnaires(rows: Rows, base: str) -> list[list[dict[str, Any]]]:
    locale = clinics.locale()
    return [[mapping.questionnaire(row, base, locale)] for row in rows]


def _used_instruments(rows: Rows) -> dict[uuid.UUID, Any]:
    used = {row.instrument_id for row in rows}
    return instruments.get_many(used) if used else {}


def _responses(rows: Rows, base: str) -> list[list[dict[str, Any]]]:
    used = _used_instruments(rows)
    return [[mapping.questionnaire_response(r, used[r.instrument_id], base)] for r in rows]


def _observations(rows: Rows, _base: str) -> list[list[dict[str, Any]]]:
    used, pairs = _used_instruments(rows), _answers_by_session({row.session_id for row in rows})
    expanded = []
    for row in rows:
        pair = pairs.get(row.session_id, [])
        later = max(pair, key=lambda r: (r.created_at, r.id)) if pair else None
        gap = [mapping.gap_observation(pair)] if later is row and mapping.is_gap_pair(pair) else []
        expanded.append([mapping.score_observation(row, used[row.instrument_id]), *gap])
    return expanded


def _answers_by_session(session_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    model, found = history.RESPONSES.model, {}
    stmt = ANSWERS.query().where(model.session_id.in_(session_ids))
    for response in uow.session().scalars(stmt):
        found.setdefault(response.session_id, []).append(response)
    return found


ANSWERS = Lookup(
    history.RESPONSES.model,
    history.RESPONSES.resource,
    history.RESPONSES.not_found,
    visible=lambda stmt: stmt.where(history.RESPONSES.model.couple_id.in_(couples.COUPLES.ids())),
)
SUBJECTS = frozenset({"patient", "subject"})
SOURCES: dict[str, Source] = {
    source.kind: source
    for source in (
        Source(
            "Organization", clinics.CLINICS, _each(mapping.organization), _own_clinic, audited=False
        ),
        Source("Practitioner", staff.STAFF, _each(mapping.practitioner), _clinicians),
        Source("PractitionerRole", staff.STAFF, _each(mapping.practitioner_role), _clinicians),
        Source(
            "Patient",
            couples.PARTNERS,
            _each(mapping.patient),
            _narrow_patients,
            in_group=lambda g: couples.PARTNERS.model.couple_id == g,
            params=frozenset({"identifier"}),
        ),
        Source(
            "Group",
            couples.COUPLES,
            _each(mapping.group),
            _by_id(couples.COUPLES.model),
            in_group=lambda g: couples.COUPLES.model.id == g,
        ),
        Source(
            "Encounter",
            sessions.SESSIONS,
            _encounters,
            _narrow_encounters,
            in_group=lambda g: sessions.SESSIONS.model.couple_id == g,
            params=SUBJECTS,
        ),
        Source(
            "Questionnaire",
            instruments.INSTRUMENTS,
            _questionnaires,
            _by_id(instruments.INSTRUMENTS.model),
            updated="created_at",
            audited=False,
        ),
        Source(
            "QuestionnaireResponse",
            ANSWERS,
            _responses,
            _narrow_answers,
            updated="created_at",
            in_group=lambda g: ANSWERS.model.couple_id == g,
            params=SUBJECTS | {"encounter"},
        ),
        Source(
            "Observation",
            ANSWERS,
            _observations,
            _narrow_answers,
            updated="created_at",
            in_group=lambda g: ANSWERS.model.couple_id == g,
            params=SUBJECTS | {"encounter"},
        ),
        Source(
            "Flag",
            alerts.ALERTS,
            _each(mapping.flag),
            _narrow_flags,
            in_group=lambda g: alerts.ALERTS.model.couple_id == g,
            params=SUBJECTS,
        ),
    )
}
# The types a Group export holds: the couple and what is about its partners.
GROUP_TYPES = tuple(kind for kind, source in SOURCES.items() if source.in_group is not None)
