"""Couple and partner use-cases. Caseload scoping lives here, in one place: `visible()`.

A therapist sees only the couples assigned to them (anything else is "not found");
supervisors, admins and integrator clients with the scope see the whole clinic.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from service.audit import service as audit
from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Forbidden, Invalid, NotFound
from service.core.paging import Page, PageRequest
from service.couples import policy
from service.couples.models import Couple, Partner, PartnerIdentifier
from service.db import idempotency, uow
from service.db.keyset import keyset_page
from service.staff import service as staff

ERASED_NAME = "Erased partner"
_LOAD_FULL = (
    selectinload(Couple.partners).selectinload(Partner.identifiers),
    selectinload(Couple.therapist),
)


def visible() -> sa.Select[tuple[Couple]]:
    """Couples the caller may see: the therapist's own caseload, or the whole clinic."""
    stmt = sa.select(Couple)
    therapist = _caseload_owner()
    if therapist is not None:
        stmt = stmt.where(Couple.therapist_id == therapist)
    return stmt


def _caseload_owner() -> uuid.UUID | None:
    actor = context.actor()
    if actor is not None and actor.kind == "staff" and not actor.has_role("admin", "supervisor"):
        return actor.staff_id
    return None


def get(
    couple_id: uuid.UUID, *, audit_read: bool = True, lock: bool = False, with_details: bool = True
) -> Couple:
    """A couple in the caller's caseload (else 404). `with_details=False` loads only the
    partners, for use-cases that need no identifiers or therapist (fewer reads)."""
    loading = _LOAD_FULL if with_details else (selectinload(Couple.partners),)
    stmt = visible().where(Couple.id == couple_id).options(*loading)
    if lock:
        stmt = stmt.with_for_update(of=Couple)
    couple = uow.session().scalar(stmt)
    if couple is None:
        raise NotFound("Couple not found.")
    if audit_read:
        _audit_read([couple])
    return couple


def list_couples(
    page: PageRequest,
    *,
    status: str | None = None,
    therapist_id: uuid.UUID | None = None,
    q: str | None = None,
    archived: bool = False,
) -> Page[Couple]:
    stmt = visible().options(*_LOAD_FULL)
    stmt = stmt.where(Couple.archived_at.is_not(None) if archived else Couple.archived_at.is_(None))
    if status:
        stmt = stmt.where(Couple.status == status)
    if therapist_id:
        stmt = stmt.where(Couple.therapist_id == therapist_id)
    if q:
        stmt = stmt.where(Couple.label.ilike(f"%{_escape_like(q)}%", escape="\\"))
    result = keyset_page(stmt, Couple, page)
    _audit_read(result.items)
    return result


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
    return get(couple.id, audit_read=False)


def update(couple_id: uuid.UUID, changes: dict[str, Any], check_version: Any) -> Couple:
    couple = get(couple_id, audit_read=False)
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
    return get(couple.id, audit_read=False)


def archive(couple_id: uuid.UUID) -> Couple:
    couple = get(couple_id, audit_read=False)
    if couple.archived_at is None:
        couple.archived_at = utcnow()
        if couple.status != "closed":
            couple.status = "closed"
        uow.session().flush()
        audit.record("archive", "couple", couple.id)
    return couple


def get_partner(partner_id: uuid.UUID, *, audit_read: bool = True) -> Partner:
    stmt = (
        sa.select(Partner)
        .where(Partner.id == partner_id, Partner.couple_id.in_(visible_ids()))
        .options(selectinload(Partner.identifiers))
    )
    partner = uow.session().scalar(stmt)
    if partner is None:
        raise NotFound("Partner not found.")
    if audit_read:
        audit.record("read", "partner", partner.id)
    return partner


def update_partner(partner_id: uuid.UUID, changes: dict[str, Any], check_version: Any) -> Partner:
    partner = get_partner(partner_id, audit_read=False)
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
    return get_partner(partner.id, audit_read=False)


def erase_partner(partner_id: uuid.UUID) -> Partner:
    """Pseudonymise every PHI field of a partner; ids and scores stay (de-identified)."""
    _require_admin("Only an admin can erase a partner's data.")
    partner = get_partner(partner_id, audit_read=False)
    couple = get(partner.couple_id, audit_read=False)
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


def partners_of(couple_id: uuid.UUID) -> list[Partner]:
    """The couple's partners, in order, if the caller may see the couple (one read)."""
    return list(
        uow.session().scalars(
            sa.select(Partner)
            .where(Partner.couple_id == couple_id, Partner.couple_id.in_(visible_ids()))
            .order_by(Partner.position)
        )
    )


def _audit_read(couples: list[Couple]) -> None:
    for couple in couples:
        audit.record("read", "couple", couple.id)
        audit.record_many("read", "partner", [partner.id for partner in couple.partners])


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


def visible_ids() -> sa.Select[tuple[uuid.UUID]]:
    """Ids of the couples the caller may see, for other features to scope by."""
    return visible().with_only_columns(Couple.id)
