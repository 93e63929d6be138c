"""Schedule import: an EHR pushes a transaction Bundle of Patient, Practitioner and
Appointment or Encounter entries, each conditional on its identifier, and the whole Bundle is
applied in the request's transaction, all or nothing (any bad entry raises `EntryErrors`,
naming it, and nothing is committed).

- Practitioner: matched on the identifier the EHR gave before, else on the email of a
  therapist or supervisor of the clinic (then the identifier is remembered). Staff accounts
  are never created from a Bundle: they sign in and receive alerts, so an admin invites them.
- Patient: matched on the partner's identifier (`PUT` updates name, email and phone). A new
  Patient is created with its couple, which needs both partners: two new Patients who are the
  participants of one Appointment in the Bundle become a couple of that practitioner.
- Appointment / Encounter: matched on the identifier remembered for a session, else a session
  is scheduled (then cancelled, marked no-show or completed as the status says). An existing
  scheduled session is rescheduled, cancelled or completed through the sessions' use-cases.

Applying the same Bundle again finds every entry and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from service.core.errors import Conflict, DomainError, Forbidden, Invalid, Malformed
from service.couples import service as couples
from service.db import audit, uow
from service.feedback import links
from service.fhir import intake, mapping
from service.fhir.capability import write_scope
from service.fhir.intake import Entry
from service.fhir.models import ExternalId
from service.fhir.outcomes import Issue
from service.staff import service as staff
from service.therapy_sessions import service as sessions

CREATED, FOUND = "201 Created", "200 OK"
CLINICIANS = ("therapist", "supervisor")


class EntryErrors(DomainError):
    """What is wrong with which entries; `cause` is the kind of error (its HTTP status)."""

    def __init__(self, cause: type[DomainError], errors: list[tuple[int | None, str]]) -> None:
        super().__init__("; ".join(message for _, message in errors))
        self.cause = cause
        self.issues = [_issue(cause, index, message) for index, message in errors]


def _issue(cause: type[DomainError], index: int | None, message: str) -> Issue:
    where = f"Bundle.entry[{index}]" if index is not None else "Bundle"
    code = {Conflict: "conflict", Forbidden: "forbidden", Malformed: "structure"}.get(cause)
    return Issue(f"{where}: {message}", code or "processing", (where,))


@dataclass
class Import:
    entries: list[Entry]
    link_base: str
    staff: dict[int, uuid.UUID] = field(default_factory=dict)
    partners: dict[int, uuid.UUID] = field(default_factory=dict)
    pending: dict[int, intake.Person] = field(default_factory=dict)  # new, not yet in a couple
    results: dict[int, tuple[str, str]] = field(default_factory=dict)

    def by_url(self, url: str) -> Entry | None:
        return next((e for e in self.entries if e.full_url == url), None)


def apply(
    bundle: Any, allowed: Callable[[str], bool], link_base: str
) -> list[tuple[str, str | None]]:
    """Apply every entry or none; the transaction-response entries, in the Bundle's order."""
    try:
        found = intake.entries(bundle)
    except intake.BundleErrors as exc:
        raise EntryErrors(Malformed, exc.errors) from exc
    refused = [(e.index, f"Needs scope {write_scope(e.kind)}.") for e in found]
    refused = [
        item for item, e in zip(refused, found, strict=True) if not allowed(write_scope(e.kind))
    ]
    if refused:
        raise EntryErrors(Forbidden, refused)
    run = Import(found, link_base)
    for kind, step in STEPS:
        for entry in (e for e in found if e.kind == kind):
            _guarded(step, entry, run)
    unpaired = [(index, UNPAIRED) for index in run.pending if index not in run.results]
    if unpaired:
        raise EntryErrors(Invalid, unpaired)
    return [run.results[entry.index] for entry in found]


UNPAIRED = (
    "A new Patient is created with their partner: name both new Patients as participants "
    "of one Appointment in this Bundle (or use an existing Patient's identifier)."
)


def _guarded(step: Callable[[Entry, Import], None], entry: Entry, run: Import) -> None:
    try:
        step(entry, run)
    except intake.EntryError as exc:
        raise EntryErrors(Invalid, [(exc.index, exc.message)]) from exc
    except EntryErrors:
        raise
    except DomainError as exc:
        raise EntryErrors(type(exc), [(entry.index, exc.detail)]) from exc


# -- practitioners and patients -----------------------------------------------------------------


def _practitioner(entry: Entry, run: Import) -> None:
    staff_id = _external("Practitioner", entry.identifier)
    if staff_id is None:
        email = intake.person(entry).email
        model = staff.STAFF.model
        member = (
            staff.STAFF.find(sa.func.lower(model.email) == email, model.role.in_(CLINICIANS))
            if email
            else None
        )
        if member is None:
            raise Invalid(
                "No therapist or supervisor of this clinic has this identifier or email; "
                "invite them in Alliance first."
            )
        staff_id = member.id
        _remember("Practitioner", entry.identifier, staff_id)
    run.staff[entry.index] = staff_id
    run.results[entry.index] = (FOUND, f"Practitioner/{staff_id}")


def _patient(entry: Entry, run: Import) -> None:
    person = intake.person(entry)
    model = couples.PARTNERS.model
    partner = couples.PARTNERS.find(model.id.in_(couples.with_identifier(*entry.identifier)))
    if partner is None:
        run.pending[entry.index] = person
        return
    changes = {
        name: value
        for name, value in vars(person).items()
        if value is not None and getattr(partner, name) != value
    }
    if entry.method == "PUT" and changes:
        couples.update_partner(partner.id, changes, lambda _version: None)
    run.partners[entry.index] = partner.id
    run.results[entry.index] = (FOUND, f"Patient/{partner.id}")


# -- appointments and encounters ----------------------------------------------------------------


def _visit(entry: Entry, run: Import) -> None:
    visit = intake.visit(entry)
    therapist, people = _participants(entry, visit, run)
    couple_id = _couple(people, therapist, run)
    session_id = _external(entry.kind, entry.identifier)
    if session_id is None:
        booked = sessions.schedule(
            {
                "couple_id": couple_id,
                "therapist_id": therapist,
                "starts_at": visit.starts_at,
                "duration_minutes": visit.duration_minutes,
                "modality": visit.modality,
            }
        )
        _remember(entry.kind, entry.identifier, booked.id)
        _move(booked.id, visit.status, run.link_base)
        run.results[entry.index] = (CREATED, f"{entry.kind}/{booked.id}")
        return
    _update(session_id, couple_id, therapist, visit, run.link_base)
    run.results[entry.index] = (FOUND, f"{entry.kind}/{session_id}")


def _participants(entry: Entry, visit: intake.Visit, run: Import) -> tuple[uuid.UUID, list]:
    """The practitioner's staff id, and the people: ("partner", id), ("couple", id) or
    ("new", entry index)."""
    therapists, people = [], []
    for ref in visit.refs:
        kind, found = _resolve(ref, run)
        (therapists if kind == "staff" else people).append((kind, found))
    if len(therapists) != 1 or not people:
        raise Invalid("Name one practitioner and the patients (or the Group) as participants.")
    return therapists[0][1], people


def _resolve(ref: str, run: Import) -> tuple[str, Any]:
    entry = run.by_url(ref)
    if entry is not None and entry.kind == "Practitioner":
        return "staff", run.staff[entry.index]
    if entry is not None and entry.kind == "Patient":
        if entry.index in run.partners:
            return "partner", run.partners[entry.index]
        return "new", entry.index
    kind, _, ident = ref.partition("/")
    found = mapping.as_uuid(ident)
    lookup = {"Practitioner": staff.STAFF, "Patient": couples.PARTNERS, "Group": couples.COUPLES}
    if found is not None and kind in lookup:
        row = lookup[kind].find(lookup[kind].model.id == found, loading=())
        if row is not None:
            return {"Practitioner": "staff", "Patient": "partner", "Group": "couple"}[kind], row.id
    raise Invalid(f"{ref[:100]} is neither an entry of this Bundle nor known here.")


def _couple(people: list[tuple[str, Any]], therapist: uuid.UUID, run: Import) -> uuid.UUID:
    new = [index for kind, index in people if kind == "new"]
    if new:
        if len(new) != 2 or len(people) != 2:
            raise Invalid(UNPAIRED)
        return _new_couple(new, therapist, run)
    couple_ids = {ident if kind == "couple" else _couple_of(ident) for kind, ident in people}
    if len(couple_ids) != 1:
        raise Invalid("The patients of one Appointment must be the two partners of one couple.")
    return couple_ids.pop()


def _couple_of(partner_id: uuid.UUID) -> uuid.UUID:
    return couples.PARTNERS.get(partner_id, audited=False).couple_id


def _new_couple(indexes: list[int], therapist: uuid.UUID, run: Import) -> uuid.UUID:
    people = [run.pending[index] for index in indexes]
    couple = couples.create(
        {
            "label": " & ".join(person.display_name for person in people)[:120],
            "therapist_id": therapist,
            "status": "active",
            "shared_goals": [],
            "partners": [_partner(run.entries[i], p) for i, p in zip(indexes, people, strict=True)],
        }
    )
    for index, partner in zip(indexes, couple.partners, strict=True):
        run.partners[index] = partner.id
        run.results[index] = (CREATED, f"Patient/{partner.id}")
    return couple.id


def _partner(entry: Entry, person: intake.Person) -> dict[str, Any]:
    system, value = entry.identifier
    return {
        "display_name": person.display_name,
        "email": person.email,
        "phone": person.phone,
        "feedback_channel": "email" if person.email else "in_clinic",
        "identifiers": [{"system": system, "value": value}],
    }


def _update(
    session_id: uuid.UUID,
    couple_id: uuid.UUID,
    therapist: uuid.UUID,
    visit: intake.Visit,
    link_base: str,
) -> None:
    booked = sessions.SESSIONS.get(session_id, audited=False)
    if booked.couple_id != couple_id:
        raise Conflict("This appointment belongs to another couple in Alliance.")
    if booked.status != "scheduled":
        if booked.status != visit.status:
            raise Conflict(f"The session is {booked.status}; it cannot become {visit.status}.")
        return
    wanted = {
        "starts_at": visit.starts_at,
        "duration_minutes": visit.duration_minutes,
        "therapist_id": therapist,
        "modality": visit.modality,
    }
    changes = {name: value for name, value in wanted.items() if getattr(booked, name) != value}
    if changes:
        sessions.reschedule(session_id, changes, lambda _version: None)
    _move(session_id, visit.status, link_base)


def _move(session_id: uuid.UUID, status: str, link_base: str) -> None:
    """A scheduled session to the status the EHR gave."""
    if status == "cancelled":
        sessions.cancel(session_id, "Cancelled in the EHR.")
    elif status == "no_show":
        sessions.mark_no_show(session_id)
    elif status == "completed":
        links.complete_session(session_id, None, link_base)


# -- the EHR's identifiers ------------------------------------------------------------------------


def _external(kind: str, key: tuple[str, str]) -> uuid.UUID | None:
    return uow.session().scalar(
        sa.select(ExternalId.target_id).where(
            ExternalId.resource_type == kind,
            ExternalId.system == key[0],
            ExternalId.value == key[1],
        )
    )


def _remember(kind: str, key: tuple[str, str], target: uuid.UUID) -> None:
    uow.session().add(ExternalId(resource_type=kind, system=key[0], value=key[1], target_id=target))
    uow.session().flush()
    audit.record("link", kind.lower(), target)


STEPS: tuple[tuple[str, Callable[[Entry, Import], None]], ...] = (
    ("Practitioner", _practitioner),
    ("Patient", _patient),
    ("Appointment", _visit),
    ("Encounter", _visit),
)
