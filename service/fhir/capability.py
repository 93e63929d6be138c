"""The CapabilityStatement (`GET /fhir/R4/metadata`): exactly what this server supports, and
the SMART scopes each interaction needs. Pure: standard library only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

FHIR_VERSION = "4.0.1"
BULK = "http://hl7.org/fhir/uv/bulkdata"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SEARCH_TYPES = {
    "_id": "token",
    "_lastUpdated": "date",
    "patient": "reference",
    "subject": "reference",
    "encounter": "reference",
    "identifier": "token",
}
IMPORTED = ("Patient", "Practitioner", "Appointment", "Encounter")


def read_scope(kind: str) -> str:
    return f"system/{kind}.rs"


def write_scope(kind: str) -> str:
    return f"system/{kind}.cu"


def capability_statement(
    base: str, token_url: str, released: datetime, params: Mapping[str, Iterable[str]]
) -> dict[str, Any]:
    """`params`: each readable type's search parameters beyond `_id`, `_lastUpdated`."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": released.date().isoformat(),
        "publisher": "Alliance",
        "kind": "instance",
        "instantiates": [f"{BULK}/CapabilityStatement/bulk-data"],
        "software": {"name": "Alliance"},
        "implementation": {"description": "Alliance FHIR R4 API", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": _security(token_url),
                "resource": [
                    *(_readable(kind, names) for kind, names in params.items()),
                    _imported_only("Appointment"),
                ],
                "interaction": [
                    {
                        "code": "transaction",
                        "documentation": "Conditional create/update (on identifier) of "
                        "Patient, Practitioner, Appointment and Encounter; all or nothing.",
                    }
                ],
                "operation": [
                    {"name": "export", "definition": f"{BULK}/OperationDefinition/export"},
                ],
            }
        ],
    }


def _security(token_url: str) -> dict[str, Any]:
    return {
        "extension": [{"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_url}]}],
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "description": "OAuth 2 client credentials (SMART Backend Services); SMART v2 system "
        "scopes: system/<type>.rs to read and search, system/<type>.cu to import.",
    }


def _readable(kind: str, names: Iterable[str]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "type": kind,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {"name": name, "type": SEARCH_TYPES[name]}
            for name in ("_id", "_lastUpdated", *sorted(names))
        ],
    }
    if kind in IMPORTED:
        imported = _import_support()
        resource["interaction"] += imported.pop("interaction")
        resource.update(imported)
    if kind == "Group":
        resource["operation"] = [
            {"name": "export", "definition": f"{BULK}/OperationDefinition/group-export"}
        ]
    return resource


def _imported_only(kind: str) -> dict[str, Any]:
    return {"type": kind, **_import_support()}


def _import_support() -> dict[str, Any]:
    only = "Only as an entry of a transaction Bundle, conditional on identifier."
    return {
        "interaction": [
            {"code": "create", "documentation": only},
            {"code": "update", "documentation": only},
        ],
        "conditionalCreate": True,
        "conditionalUpdate": True,
    }
