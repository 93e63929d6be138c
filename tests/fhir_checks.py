"""What every resource the server emits must satisfy: fhir.resources.R4B validation, plus the
checks that library does not make (ids, codes from required value sets, reference target
types, and a QuestionnaireResponse answering its Questionnaire's items)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

# Required bindings (R4): element path → allowed codes.
REQUIRED_CODES: dict[str, dict[str, set[str]]] = {
    "Encounter": {
        "status": {
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        },
    },
    "Observation": {
        "status": {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        },
    },
    "QuestionnaireResponse": {
        "status": {"in-progress", "completed", "amended", "entered-in-error", "stopped"},
    },
    "Questionnaire": {"status": {"draft", "active", "retired", "unknown"}},
    "Flag": {"status": {"active", "inactive", "entered-in-error"}},
    "Group": {"type": {"person", "animal", "practitioner", "device", "medication", "substance"}},
    "Bundle": {
        "type": {
            "document",
            "message",
            "transaction",
            "transaction-response",
            "batch",
            "batch-response",
            "history",
            "searchset",
            "collection",
        },
    },
}
TELECOM_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}
TELECOM_USES = {"home", "work", "temp", "old", "mobile"}
ITEM_TYPES = {
    "group",
    "display",
    "boolean",
    "decimal",
    "integer",
    "date",
    "dateTime",
    "time",
    "string",
    "text",
    "url",
    "choice",
    "open-choice",
    "attachment",
    "reference",
    "quantity",
}
ENCOUNTER_CLASSES = {
    "AMB",
    "VR",
    "EMER",
    "FLD",
    "HH",
    "IMP",
    "ACUTE",
    "NONAC",
    "OBSENC",
    "PRENC",
    "SS",
}

# Reference targets (R4): (type, element) → allowed target types.
TARGETS: dict[tuple[str, str], set[str]] = {
    ("Encounter", "subject"): {"Patient", "Group"},
    ("Encounter", "partOf"): {"Encounter"},
    ("Encounter", "individual"): {"Practitioner", "PractitionerRole", "RelatedPerson"},
    ("Encounter", "serviceProvider"): {"Organization"},
    ("Observation", "subject"): {"Patient", "Group", "Device", "Location"},
    ("Observation", "encounter"): {"Encounter"},
    ("Observation", "derivedFrom"): {
        "DocumentReference",
        "ImagingStudy",
        "Media",
        "QuestionnaireResponse",
        "Observation",
        "MolecularSequence",
    },
    ("QuestionnaireResponse", "encounter"): {"Encounter"},
    ("QuestionnaireResponse", "author"): {
        "Device",
        "Practitioner",
        "PractitionerRole",
        "Patient",
        "RelatedPerson",
        "Organization",
    },
    ("QuestionnaireResponse", "source"): {
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "RelatedPerson",
    },
    ("Flag", "subject"): {
        "Patient",
        "Location",
        "Group",
        "Organization",
        "Practitioner",
        "PlanDefinition",
        "Medication",
        "Procedure",
    },
    ("Group", "entity"): {
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Device",
        "Medication",
        "Substance",
        "Group",
    },
    ("Group", "managingEntity"): {
        "Organization",
        "RelatedPerson",
        "Practitioner",
        "PractitionerRole",
    },
    ("PractitionerRole", "practitioner"): {"Practitioner"},
    ("PractitionerRole", "organization"): {"Organization"},
}
PRIVATE_WORDS = ("comment", "safety")


def check(resource: Mapping[str, Any]) -> None:
    """Validate one resource (a Bundle: it and each entry); raises AssertionError or a
    pydantic ValidationError."""
    kind = resource["resourceType"]
    get_fhir_model_class(kind).model_validate(dict(resource))
    if kind == "Bundle":
        for entry in resource.get("entry", []):
            if "resource" in entry:
                check(entry["resource"])
    if "id" in resource:
        assert ID.fullmatch(resource["id"]), resource["id"]
    for element, allowed in REQUIRED_CODES.get(kind, {}).items():
        assert resource[element] in allowed, (kind, element, resource[element])
    for contact in resource.get("telecom", []):
        assert contact["system"] in TELECOM_SYSTEMS and contact.get("use", "home") in TELECOM_USES
    if kind == "Encounter":
        assert resource["class"]["code"] in ENCOUNTER_CLASSES
    if kind == "Questionnaire":
        assert all(item["type"] in ITEM_TYPES for item in resource["item"])
    for element, reference in _references(resource):
        allowed = TARGETS.get((kind, element))
        if allowed is not None:
            assert reference.split("/")[0] in allowed, (kind, element, reference)
        assert re.fullmatch(r"[A-Za-z]+/[A-Za-z0-9\-.]{1,64}", reference), reference
    text = str(resource).lower()
    assert not any(word in text for word in PRIVATE_WORDS if kind != "CapabilityStatement"), (
        "private fields must never reach an integrator"
    )


def check_all(resources: Iterable[Mapping[str, Any]]) -> None:
    for resource in resources:
        check(resource)


def _references(value: Any, element: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(value, Mapping):
        if isinstance(value.get("reference"), str):
            yield element, value["reference"]
        for key, inner in value.items():
            if key not in ("resource",):
                yield from _references(inner, key)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner, element)


def answers_questionnaire(response: Mapping[str, Any], questionnaire: Mapping[str, Any]) -> None:
    """The response's items are the questionnaire's (same linkIds, answer types, in range,
    every required item answered), and it names that questionnaire and version."""
    assert response["questionnaire"] == f"{questionnaire['url']}|{questionnaire['version']}"
    questions = {item["linkId"]: item for item in questionnaire["item"]}
    answered = {item["linkId"]: item for item in response["item"]}
    assert set(answered) <= set(questions), set(answered) - set(questions)
    assert {k for k, q in questions.items() if q.get("required")} <= set(answered)
    for link_id, item in answered.items():
        question = questions[link_id]
        (answer,) = item["answer"]
        (key,) = answer
        assert key == "value" + question["type"].capitalize(), (link_id, key)
        bounds = {ext["url"].rsplit("/", 1)[1]: ext for ext in question.get("extension", [])}
        value = answer[key]
        assert bounds["minValue"][key] <= value <= bounds["maxValue"][key]
