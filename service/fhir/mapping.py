"""Alliance rows as FHIR R4 resources (DESIGN §10). Pure: standard library only.

Every function takes row-like objects (anything with the attributes named) and returns the
resource as a JSON-ready dict. What the REST API hides stays out: no partner's private
comment or safety box is ever read here, and Flags are made only from an alert's stable
fields.

Ids are the rows' UUIDs. Two kinds of resource have no row of their own, so their ids are
derived, stable and distinct from every row id (and invertible, so a read needs no table):
- a partner's Encounter in a session: the session's and the partner's UUIDs as 64 hex digits;
- the Group Observation of the partners' gap in a session: `<session id>-gap`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_PRIORITY = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY_CODE = "http://hl7.org/fhir/flag-priority-code"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
# Alliance's own code systems.
INSTRUMENT_SYSTEM = "urn:alliance:instrument"
OBSERVATION_SYSTEM = "urn:alliance:observation"
ROLE_SYSTEM = "urn:alliance:staff-role"
RULE_SYSTEM = "urn:alliance:alert-rule"

ENCOUNTER_STATUS = {
    "scheduled": "planned",
    "completed": "finished",
    "cancelled": "cancelled",
    "no_show": "cancelled",
}
ENCOUNTER_CLASS = {"in_person": ("AMB", "ambulatory"), "video": ("VR", "virtual")}
FLAG_PRIORITIES = {"info": "PL", "warning": "PM", "critical": "PH"}
GAP_SUFFIX = "-gap"


# -- ids and references -----------------------------------------------------------------------


def partner_encounter_id(session_id: uuid.UUID, partner_id: uuid.UUID) -> str:
    return session_id.hex + partner_id.hex


def gap_observation_id(session_id: uuid.UUID) -> str:
    return f"{session_id}{GAP_SUFFIX}"


def parse_encounter_id(text: str) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """(session, partner) of a partner's Encounter id, (session, None) of a session's."""
    if re.fullmatch(r"[0-9a-f]{64}", text):
        return uuid.UUID(text[:32]), uuid.UUID(text[32:])
    found = as_uuid(text)
    return (found, None) if found else None


def parse_observation_id(text: str) -> tuple[uuid.UUID, bool] | None:
    """(response id, False) of a score Observation, (session id, True) of a gap one."""
    gap = text.endswith(GAP_SUFFIX)
    found = as_uuid(text.removesuffix(GAP_SUFFIX))
    return (found, gap) if found else None


def as_uuid(text: str) -> uuid.UUID | None:
    """A canonical UUID (lower-case, with hyphens), else None."""
    try:
        found = uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return None
    return found if str(found) == text else None


def reference(kind: str, ident: object) -> dict[str, str]:
    return {"reference": f"{kind}/{ident}"}


def instant(moment: datetime) -> str:
    """FHIR instant: UTC with microseconds (as stored, so searches agree) and `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _resource(kind: str, ident: object, last_updated: datetime, **fields: Any) -> dict[str, Any]:
    body = {"resourceType": kind, "id": str(ident), "meta": {"lastUpdated": instant(last_updated)}}
    return body | {name: value for name, value in fields.items() if value not in (None, [], {})}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {
        "coding": [{"system": system, "code": code} | ({"display": display} if display else {})]
    }


def _number(value: float) -> dict[str, Any]:
    return {"valueInteger": int(value)} if float(value).is_integer() else {"valueDecimal": value}


# -- the clinic and its clinicians ------------------------------------------------------------


def organization(clinic: Any) -> dict[str, Any]:
    return _resource(
        "Organization",
        clinic.id,
        clinic.updated_at,
        active=True,
        type=[_coding(ORGANIZATION_TYPE, "prov", "Healthcare Provider")],
        name=clinic.name,
    )


def practitioner(member: Any) -> dict[str, Any]:
    return _resource(
        "Practitioner",
        member.id,
        member.updated_at,
        active=member.active,
        name=[{"text": member.display_name}],
        telecom=[{"system": "email", "value": member.email, "use": "work"}],
    )


def practitioner_role(member: Any) -> dict[str, Any]:
    return _resource(
        "PractitionerRole",
        member.id,
        member.updated_at,
        active=member.active,
        practitioner=reference("Practitioner", member.id),
        organization=reference("Organization", member.clinic_id),
        code=[_coding(ROLE_SYSTEM, member.role, member.role.title())],
    )


# -- partners and couples ---------------------------------------------------------------------


def patient(partner: Any) -> dict[str, Any]:
    telecom = [
        {"system": system, "value": value, "use": "home"}
        for system, value in (("email", partner.email), ("phone", partner.phone))
        if value
    ]
    return _resource(
        "Patient",
        partner.id,
        partner.updated_at,
        identifier=[{"system": i.system, "value": i.value} for i in partner.identifiers],
        active=partner.erased_at is None,
        name=[{"text": partner.display_name}],
        telecom=telecom,
    )


def group(couple: Any) -> dict[str, Any]:
    return _resource(
        "Group",
        couple.id,
        couple.updated_at,
        active=couple.archived_at is None,
        type="person",
        actual=True,
        name=couple.label,
        quantity=len(couple.partners),
        managingEntity=reference("Practitioner", couple.therapist_id),
        member=[{"entity": reference("Patient", p.id)} for p in couple.partners],
    )


# -- sessions ---------------------------------------------------------------------------------


def session_encounter(booked: Any) -> dict[str, Any]:
    """The session itself: the couple (Group) is its subject."""
    return _encounter(booked, booked.id, reference("Group", booked.couple_id), partOf=None)


def partner_encounter(booked: Any, partner_id: uuid.UUID) -> dict[str, Any]:
    """One partner's part in a session, `partOf` the session's Encounter."""
    return _encounter(
        booked,
        partner_encounter_id(booked.id, partner_id),
        reference("Patient", partner_id),
        partOf=reference("Encounter", booked.id),
    )


def _encounter(booked: Any, ident: str, subject: dict, partOf: dict | None) -> dict[str, Any]:
    code, display = ENCOUNTER_CLASS.get(booked.modality, ("VR", "virtual"))
    return _resource(
        "Encounter",
        ident,
        booked.updated_at,
        status=ENCOUNTER_STATUS[booked.status],
        **{"class": {"system": ACT_CODE, "code": code, "display": display}},
        subject=subject,
        participant=[{"individual": reference("Practitioner", booked.therapist_id)}],
        period={"start": instant(booked.starts_at), "end": instant(booked.ends_at)},
        serviceProvider=reference("Organization", booked.clinic_id),
        partOf=partOf,
    )


# -- questionnaires and answers ---------------------------------------------------------------


def questionnaire_url(base: str, instrument_id: uuid.UUID) -> str:
    return f"{base.rstrip('/')}/Questionnaire/{instrument_id}"


def questionnaire(instrument: Any, base: str, locale: str = "en") -> dict[str, Any]:
    return _resource(
        "Questionnaire",
        instrument.id,
        instrument.created_at,
        url=questionnaire_url(base, instrument.id),
        version=str(instrument.version),
        name=_computable_name(instrument.key),
        title=localised(instrument.title, locale),
        status="active",
        subjectType=["Patient"],
        code=[_coding(INSTRUMENT_SYSTEM, instrument.key)["coding"][0]],
        item=[_question(item, locale) for item in instrument.items],
    )


def item_type(item: Mapping[str, Any]) -> str:
    bounds = (item.get("min", 0), item.get("max", 0), item.get("step", 1))
    return "integer" if all(float(value).is_integer() for value in bounds) else "decimal"


def _question(item: Mapping[str, Any], locale: str) -> dict[str, Any]:
    kind = item_type(item)
    value = "valueInteger" if kind == "integer" else "valueDecimal"
    cast = int if kind == "integer" else float
    return {
        "linkId": item["key"],
        "text": localised(item.get("text") or {}, locale) or item["key"],
        "type": kind,
        "required": True,
        "extension": [
            {"url": MIN_VALUE, value: cast(item["min"])},
            {"url": MAX_VALUE, value: cast(item["max"])},
        ],
    }


def questionnaire_response(response: Any, instrument: Any, base: str) -> dict[str, Any]:
    """The partner's answers to the items, in the questionnaire's order. Nothing else."""
    answers = response.answers
    return _resource(
        "QuestionnaireResponse",
        response.id,
        response.created_at,
        questionnaire=f"{questionnaire_url(base, instrument.id)}|{instrument.version}",
        status="completed",
        subject=reference("Patient", response.partner_id),
        encounter=reference(
            "Encounter", partner_encounter_id(response.session_id, response.partner_id)
        ),
        authored=instant(response.created_at),
        author=reference("Patient", response.partner_id),  # staff may have typed it in
        source=reference("Patient", response.partner_id),
        item=[
            _answer(item, answers[item["key"]])
            for item in instrument.items
            if item["key"] in answers
        ],
    )


def _answer(item: Mapping[str, Any], value: float) -> dict[str, Any]:
    typed = (
        {"valueInteger": int(value)}
        if item_type(item) == "integer"
        else {"valueDecimal": float(value)}
    )
    return {"linkId": item["key"], "answer": [typed]}


def score_observation(response: Any, instrument: Any) -> dict[str, Any]:
    """The total as the value, each item (and the percent of scale) as a component."""
    return _resource(
        "Observation",
        response.id,
        response.created_at,
        status="final",
        category=[_coding(OBSERVATION_CATEGORY, "survey", "Survey")],
        code=_coding(INSTRUMENT_SYSTEM, instrument.key, localised(instrument.title, "en")),
        subject=reference("Patient", response.partner_id),
        encounter=reference(
            "Encounter", partner_encounter_id(response.session_id, response.partner_id)
        ),
        effectiveDateTime=instant(response.session_at),
        issued=instant(response.created_at),
        valueQuantity={"value": response.total, "unit": "score", "system": UCUM, "code": "{score}"},
        component=[
            *(
                {"code": _coding(f"{INSTRUMENT_SYSTEM}:{instrument.key}", key), **_number(value)}
                for key, value in response.answers.items()
            ),
            {
                "code": _coding(OBSERVATION_SYSTEM, "percent-of-scale"),
                "valueQuantity": {"value": response.pct, "unit": "%", "system": UCUM, "code": "%"},
            },
        ],
        derivedFrom=[reference("QuestionnaireResponse", response.id)],
    )


def gap_observation(pair: Sequence[Any]) -> dict[str, Any]:
    """The gap between the two partners' percent of scale in one session (the couple's)."""
    first, second = sorted(pair, key=lambda r: (r.created_at, r.id))
    return _resource(
        "Observation",
        gap_observation_id(second.session_id),
        second.created_at,
        status="final",
        category=[_coding(OBSERVATION_CATEGORY, "survey", "Survey")],
        code=_coding(OBSERVATION_SYSTEM, "alliance-gap", "Gap between partners' alliance"),
        subject=reference("Group", second.couple_id),
        encounter=reference("Encounter", second.session_id),
        effectiveDateTime=instant(second.session_at),
        issued=instant(second.created_at),
        valueQuantity={
            "value": round(abs(first.pct - second.pct), 2),
            "unit": "%",
            "system": UCUM,
            "code": "%",
        },
        derivedFrom=[reference("QuestionnaireResponse", r.id) for r in (first, second)],
    )


def is_gap_pair(pair: Sequence[Any]) -> bool:
    """Both partners answered the session on the same instrument version."""
    return len(pair) == 2 and len({(r.instrument_id, r.instrument_version) for r in pair}) == 1


# -- alerts -----------------------------------------------------------------------------------


def flag(alert: Any) -> dict[str, Any]:
    """An alert as a Flag, from its stable fields only (id, couple, partner, rule, severity,
    status, times): no evidence, summary or explanation leaves through FHIR."""
    subject = (
        reference("Patient", alert.partner_id)
        if alert.partner_id
        else reference("Group", alert.couple_id)
    )
    return _resource(
        "Flag",
        alert.id,
        alert.updated_at,
        extension=[
            {
                "url": FLAG_PRIORITY,
                "valueCodeableConcept": _coding(
                    FLAG_PRIORITY_CODE, FLAG_PRIORITIES[alert.severity]
                ),
            }
        ],
        status="inactive" if alert.status == "resolved" else "active",
        category=[_coding(FLAG_CATEGORY, "behavioral", "Behavioral")],
        code=_coding(RULE_SYSTEM, alert.rule, alert.rule.replace("_", " ")),
        subject=subject,
        period={"start": instant(alert.created_at)},
    )


# -- helpers ----------------------------------------------------------------------------------


def localised(texts: Mapping[str, str], locale: str) -> str:
    """The text for a locale (`en-GB`, then `en`), else English, else any."""
    for key in (locale, locale.split("-")[0], "en"):
        if texts.get(key):
            return texts[key]
    return next(iter(texts.values()), "")


def _computable_name(key: str) -> str:
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", key))
    return name if name[:1].isalpha() else f"Q{name}"
