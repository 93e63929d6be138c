"""Couple and partner use-cases. Caseload scoping lives here, in one place: `COUPLES`.

A therapist sees only the couples assigned to them (anything else is "not found");
supervisors, admins and integrator clients with the scope see the whole clinic.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Forbidden, Invalid, NotFound
from service.core.paging import Page, PageRequest
from service.couples import policy
from service.couples.models import Couple, Partner, PartnerIdentifier
from service.db import audit, idempotency, uow
from service.db.lookup import Lookup
from service.staff import service as staff

ERASED_NAME = "Erased partner"


@dataclass(frozen=True)
class Member:
    """What judging a couple's feedback needs of a partner."""

    id: uuid.UUID
    position: int
    feedback_channel: str
    erased_at: datetime | None


@dataclass(frozen=True)
class Members:
    """A couple as its feedback is judged: who is in it and who is their therapist (loaded,
    so the alert emails that name them find them in the session)."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    therapist_id: uuid.UUID
    therapist: Any
    partners: tuple[Member, ...]


def _caseload_owner() -> uuid.UUID | None:
    actor = context.actor()
    if actor is not None and actor.kind == "staff" and not actor.has_role("admin", "supervisor"):
        return actor.staff_id
    return None


def _in_caseload(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Couples the caller may see: the therapist's own caseload, or the whole clinic."""
    therapist = _caseload_owner()
    return stmt if therapist is None else stmt.where(Couple.therapist_id == therapist)


class _CoupleLookup(Lookup[Couple]):
    def audit_read(self, rows: Any) -> None:
        """A couple's read is also a read of its two partners (one statement for both)."""
        audit.record_each(
            "read",
            [(self.resource, couple.id) for couple in rows]
            + [("partner", p.id) for couple in rows for p in couple.partners],
        )


COUPLES = _CoupleLookup(
    Couple,
    "couple",
    "Couple not found.",
    visible=_in_caseload,
    options=(
        selectinload(Couple.partners).joinedload(Partner.identifiers),
        joinedload(Couple.therapist),
    ),
)


def _of_visible_couples(stmt: sa.Select[Any]) -> sa.Select[Any]:
    return stmt.where(Partner.couple_id.in_(COUPLES.ids()))


PARTNERS = Lookup(
    Partner,
    "partner",
    "Partner not found.",
    visible=_of_visible_couples,
    options=(selectinload(Partner.identifiers),),
)


def get(couple_id: uuid.UUID) -> Couple:
    """A couple in the caller's caseload (else 404), with its partners and therapist."""
    return COUPLES.get(couple_id)


def list_couples(
    page: PageRequest,
    *,
    status: str | None = None,
    therapist_id: uuid.UUID | None = None,
    q: str | None = None,
    archived: bool = False,
) -> Page[Couple]:
    stmt = COUPLES.query()
    stmt = stmt.where(Couple.archived_at.is_not(None) if archived else Couple.archived_at.is_(None))
    if status:
        stmt = stmt.where(Couple.status == status)
    if therapist_id:
        stmt = stmt.where(Couple.therapist_id == therapist_id)
    if q:
        stmt = stmt.where(Couple.label.ilike(f"%{_escape_like(q)}%", escape="\\"))
    return COUPLES.page(stmt, page)


def create(data: dict[str, Any]) -> Couple:
    therapist_id = _therapist_for_new_couple(data.get("therapist_id"))
    partners_data = data["partners"]
    _check_identifiers_free([i for p in partners_data for i in p.get("identifiers", [])])
    couple = Couple(
        label=data["label"],
        therapist_id=therapist_id,
        status=data["status"],
        shared_goals=data.get("shared_goals", []),
    )
    session = uow.session()
    session.add(couple)
    session.flush()
    for position, fields in enumerate(partners_data, start=1):
        session.add(
            Partner(
                couple_id=couple.id,
                position=position,
                **_partner_columns(fields),
                identifiers=[
                    PartnerIdentifier(**identifier) for identifier in fields.get("identifiers", [])
                ],
            )
        )
    session.flush()
    audit.record("create", "couple", couple.id)
    session.expire(couple, ["partners"])
    return COUPLES.get(couple.id, audited=False)


def update(couple_id: uuid.UUID, changes: dict[str, Any], check_version: Any) -> Couple:
    couple = COUPLES.get(couple_id, audited=False)
    check_version(couple.version)
    if "therapist_id" in changes and changes["therapist_id"] != couple.therapist_id:
        _require_admin("Only an admin can reassign a couple.")
        couple.therapist_id = _assignable(changes.pop("therapist_id"))
    if "status" in changes and not policy.can_move(couple.status, changes["status"]):
        raise Conflict(
            f"A couple cannot move from {couple.status} to {changes['status']}.",
            errors={
                "status": [
                    f"Allowed from {couple.status}: "
                    + ", ".join(sorted(policy.TRANSITIONS[couple.status]))
                ]
            },
        )
    for name, value in changes.items():
        setattr(couple, name, value)
    uow.session().flush()
    audit.record("update", "couple", couple.id)
    return COUPLES.get(couple.id, audited=False)


def archive(couple_id: uuid.UUID) -> Couple:
    couple = COUPLES.get(couple_id, audited=False)
    if couple.archived_at is None:
        couple.archived_at = utcnow()
        if couple.status != "closed":
            couple.status = "closed"
        uow.session().flush()
        audit.record("archive", "couple", couple.id)
    return couple


def get_partner(partner_id: uuid.UUID) -> Partner:
    return PARTNERS.get(partner_id)


def update_partner(partner_id: uuid.UUID, changes: dict[str, Any], check_version: Any) -> Partner:
    partner = PARTNERS.get(partner_id, audited=False)
    check_version(partner.version)
    if partner.erased_at is not None:
        raise Conflict("This partner's data was erased.")
    if "identifiers" in changes:
        identifiers = changes.pop("identifiers")
        _check_identifiers_free(identifiers, ignore_partner=partner.id)
        _replace_identifiers(partner, identifiers)
    for name, value in _partner_columns(changes).items():
        setattr(partner, name, value)
    partner.updated_at = utcnow()  # an identifier-only change still moves the version
    uow.session().flush()
    audit.record("update", "partner", partner.id)
    return PARTNERS.get(partner.id, audited=False)


def erase_partner(partner_id: uuid.UUID) -> Partner:
    """Pseudonymise every PHI field of a partner; ids and scores stay (de-identified)."""
    _require_admin("Only an admin can erase a partner's data.")
    partner = PARTNERS.get(partner_id, audited=False)
    couple = COUPLES.get(partner.couple_id, audited=False, loading=())
    partner.display_name = f"{ERASED_NAME} {partner.position}"
    partner.email = partner.phone = partner.pronouns = None
    partner.personal_goals = []
    partner.feedback_channel = "none"
    partner.erased_at = utcnow()
    partner.identifiers.clear()
    # The label is free text staff may have written names into: it goes too, and so do
    # stored replays of responses that showed this partner.
    couple.label = f"Couple {str(couple.id)[:8]}"
    idempotency.forget_responses_mentioning(partner.id)
    uow.session().flush()
    audit.record("erase", "partner", partner.id)
    return partner


def change_marks(couple_id: uuid.UUID) -> list[Any]:
    """Marks that move when the couple or one of its partners changes (its label, their
    names); the first is 0 when the caller may not see the couple."""
    return COUPLES.change_marks(Couple.id == couple_id) + PARTNERS.change_marks(
        Partner.couple_id == couple_id
    )


def partners_of(couple_id: uuid.UUID) -> list[Partner]:
    """The couple's partners, in order, if the caller may see the couple (one read)."""
    stmt = PARTNERS.query().where(Partner.couple_id == couple_id).order_by(Partner.position)
    return list(uow.session().scalars(stmt))


def lock_members(couple_id: uuid.UUID) -> Members:
    """The couple (if the caller may see it, else 404) with its partners and therapist, its
    row locked (`Lookup.find`'s FOR NO KEY UPDATE), in one statement: the couple and partners
    as plain columns, as every submission reads them and loading them as objects cost three
    times as much."""
    rows = uow.session().execute(_in_caseload(_members()), {"couple_id": couple_id}).all()
    if not rows:
        raise NotFound(COUPLES.not_found)
    first = rows[0]
    partners = tuple(Member(*row[4:]) for row in rows if row.id is not None)
    return Members(first.couple, first.clinic_id, first.therapist_id, first[3], partners)


@functools.cache
def _members() -> sa.Select[Any]:
    in_couple = sa.and_(Partner.clinic_id == Couple.clinic_id, Partner.couple_id == Couple.id)
    return (
        sa.select(
            Couple.id.label("couple"),
            Couple.clinic_id,
            Couple.therapist_id,
            sa.inspect(Couple).relationships["therapist"].mapper,
            Partner.id,
            Partner.position,
            Partner.feedback_channel,
            Partner.erased_at,
        )
        .outerjoin(Couple.therapist)
        .outerjoin(Partner, in_couple)
        .where(Couple.id == sa.bindparam("couple_id"))
        .order_by(Partner.position)
        .with_for_update(of=Couple, key_share=True)
    )


def first_names(couple_ids: set[uuid.UUID]) -> dict[str, str]:
    """Partner id → first name, for clinician-facing words (erased partners have none)."""
    found = uow.session().execute(
        sa.select(Partner.id, Partner.display_name).where(
            Partner.couple_id.in_(couple_ids), Partner.erased_at.is_(None)
        )
    )
    return {str(partner_id): name.split()[0] for partner_id, name in found if name.strip()}


def labels(couple_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Couple id → label, for the visible ones of these couples (lists and filters)."""
    found = uow.session().execute(
        COUPLES.query().where(Couple.id.in_(couple_ids)).with_only_columns(Couple.id, Couple.label)
    )
    return dict(sorted(((c, label) for c, label in found), key=lambda row: row[1].casefold()))


def with_identifier(system: str, value: str) -> sa.Select[tuple[uuid.UUID]]:
    """Ids of the partners holding an external identifier (an EHR's MRN): at most one."""
    return sa.select(PartnerIdentifier.partner_id).where(
        PartnerIdentifier.system == system, PartnerIdentifier.value == value
    )


def label(couple_id: uuid.UUID) -> str | None:
    """A couple's label, for the emails of a clinic that opted in to show it."""
    couple = uow.session().get(Couple, couple_id)
    return couple.label if couple is not None else None


def _therapist_for_new_couple(requested: uuid.UUID | None) -> uuid.UUID:
    owner = _caseload_owner()
    if owner is not None:
        if requested not in (None, owner):
            raise Forbidden("A therapist can only create couples in their own caseload.")
        return owner
    if requested is None:
        raise Invalid("Name the couple's therapist.", errors={"therapist_id": ["Required."]})
    return _assignable(requested)


def _assignable(staff_id: uuid.UUID) -> uuid.UUID:
    if staff.assignable_therapist(staff_id) is None:
        raise Invalid(
            "No active therapist with this id in your clinic.",
            errors={"therapist_id": ["Not an active therapist of this clinic."]},
        )
    return staff_id


def _require_admin(message: str) -> None:
    actor = context.actor()
    if actor is None or not actor.has_role("admin"):
        raise Forbidden(message)


def _partner_columns(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if name != "identifiers"}


def _replace_identifiers(partner: Partner, identifiers: list[dict[str, str]]) -> None:
    session = uow.session()
    partner.identifiers.clear()
    session.flush()
    partner.identifiers.extend(PartnerIdentifier(**identifier) for identifier in identifiers)


def _check_identifiers_free(
    identifiers: list[dict[str, str]], ignore_partner: uuid.UUID | None = None
) -> None:
    pairs = [(i["system"], i["value"]) for i in identifiers]
    if len(set(pairs)) != len(pairs):
        raise Invalid("An identifier is listed twice.", errors={"identifiers": ["Duplicate."]})
    if not pairs:
        return
    stmt = sa.select(PartnerIdentifier.system, PartnerIdentifier.value).where(
        sa.tuple_(PartnerIdentifier.system, PartnerIdentifier.value).in_(pairs)
    )
    if ignore_partner is not None:
        stmt = stmt.where(PartnerIdentifier.partner_id != ignore_partner)
    taken = uow.session().execute(stmt).first()
    if taken is not None:
        raise Conflict(
            f"Identifier {taken.system}|{taken.value} belongs to another partner.",
            errors={"identifiers": ["Already used in this clinic."]},
        )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
