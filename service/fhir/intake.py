"""Reading an EHR's transaction Bundle (Patient, Practitioner, Appointment, Encounter entries,
each conditional on an identifier) into plain values, or naming every entry that is wrong.
Pure: standard library and service.core only; nothing here touches the database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from service.core.text import plain_text

KINDS = ("Patient", "Practitioner", "Appointment", "Encounter")
MAX_ENTRIES = 200
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}")
_PHONE = re.compile(r"\+?[0-9 ()./-]{3,32}")
APPOINTMENT_STATUS = {
    "proposed": "scheduled",
    "pending": "scheduled",
    "booked": "scheduled",
    "arrived": "scheduled",
    "checked-in": "scheduled",
    "waitlist": "scheduled",
    "fulfilled": "completed",
    "cancelled": "cancelled",
    "entered-in-error": "cancelled",
    "noshow": "no_show",
}
ENCOUNTER_STATUS = {
    "planned": "scheduled",
    "arrived": "scheduled",
    "triaged": "scheduled",
    "in-progress": "scheduled",
    "finished": "completed",
    "cancelled": "cancelled",
    "entered-in-error": "cancelled",
}


class EntryError(ValueError):
    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index, self.message = index, message


class BundleErrors(ValueError):
    """Every wrong entry (index None: the Bundle itself)."""

    def __init__(self, errors: list[tuple[int | None, str]]) -> None:
        super().__init__("; ".join(message for _, message in errors))
        self.errors = errors


@dataclass(frozen=True)
class Entry:
    index: int
    full_url: str | None
    kind: str
    method: str  # POST (create if none exists) or PUT (create or update)
    identifier: tuple[str, str]
    resource: dict[str, Any]


@dataclass(frozen=True)
class Person:
    display_name: str
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class Visit:
    """An Appointment's or Encounter's schedule: when, how long, who, and its status."""

    starts_at: datetime
    duration_minutes: int
    status: str  # scheduled | completed | cancelled | no_show
    modality: str
    refs: tuple[str, ...]  # the participants (and an Encounter's subject), unresolved


def entries(bundle: Any) -> list[Entry]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleErrors([(None, "The body must be a Bundle.")])
    if bundle.get("type") != "transaction":
        raise BundleErrors([(None, "Only transaction Bundles are accepted (type: transaction).")])
    raw = bundle.get("entry")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ENTRIES:
        raise BundleErrors([(None, f"A transaction needs 1 to {MAX_ENTRIES} entries.")])
    found, errors = [], []
    for index, item in enumerate(raw):
        try:
            found.append(_entry(index, item))
        except EntryError as exc:
            errors.append((exc.index, exc.message))
    _unique_urls(found, errors)
    if errors:
        raise BundleErrors(errors)
    return found


def _entry(index: int, item: Any) -> Entry:
    if not isinstance(item, dict) or not isinstance(item.get("resource"), dict):
        raise EntryError(index, "Each entry needs a resource.")
    resource, request = item["resource"], item.get("request")
    kind = resource.get("resourceType")
    if kind not in KINDS:
        raise EntryError(index, f"Only {', '.join(KINDS)} can be imported.")
    if not isinstance(request, dict) or request.get("method") not in ("POST", "PUT"):
        raise EntryError(index, "request.method must be POST (with ifNoneExist) or PUT.")
    condition = _condition(index, kind, request)
    if condition not in _identifiers(resource):
        raise EntryError(index, "The resource must carry the identifier it is matched on.")
    full_url = item.get("fullUrl")
    if full_url is not None and not plain_text(full_url, 200):
        raise EntryError(index, "fullUrl must be a short URI (urn:uuid:...).")
    return Entry(index, full_url, kind, request["method"], condition, resource)


def _condition(index: int, kind: str, request: dict[str, Any]) -> tuple[str, str]:
    """`identifier=system|value` from ifNoneExist (POST) or the URL (PUT `Type?...`)."""
    if request["method"] == "POST":
        text = request.get("ifNoneExist")
    else:
        url = request.get("url")
        prefix = f"{kind}?"
        text = url[len(prefix) :] if isinstance(url, str) and url.startswith(prefix) else None
    found = re.fullmatch(r"identifier=([^&|]+)\|([^&]+)", text) if isinstance(text, str) else None
    if found is None:
        raise EntryError(
            index,
            "Conditional on identifier only: ifNoneExist (POST) or url (PUT) "
            f"{kind}?identifier=system|value.",
        )
    system, value = unquote(found[1]), unquote(found[2])
    if not plain_text(system, 200) or not plain_text(value, 200):
        raise EntryError(index, "An identifier's system and value are 1-200 printable characters.")
    return system, value


def _identifiers(resource: dict[str, Any]) -> set[tuple[str, str]]:
    items = resource.get("identifier")
    return {
        (item.get("system"), item.get("value"))
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    }


def _unique_urls(found: list[Entry], errors: list[tuple[int | None, str]]) -> None:
    seen: dict[Any, int] = {}
    for entry in found:
        for key in ((entry.kind, entry.identifier), entry.full_url):
            if key is not None and key in seen:
                errors.append((entry.index, f"Same fullUrl or identifier as entry {seen[key]}."))
            seen.setdefault(key, entry.index)


# -- resources to values ------------------------------------------------------------------------


def person(entry: Entry) -> Person:
    """A Patient's or Practitioner's name, email and phone."""
    resource = entry.resource
    name = _name(resource.get("name"))
    if not plain_text(name, 120):
        raise EntryError(entry.index, "A name (text, or given and family) of 1-120 characters.")
    email, phone = _telecom(resource, "email"), _telecom(resource, "phone")
    if email is not None and not (len(email) <= 254 and _EMAIL.fullmatch(email)):
        raise EntryError(entry.index, "The email address is not valid.")
    if phone is not None and not _PHONE.fullmatch(phone):
        raise EntryError(entry.index, "The phone number is not valid.")
    return Person(name, email.lower() if email else None, phone)


def _name(names: Any) -> str:
    first = names[0] if isinstance(names, list) and names and isinstance(names[0], dict) else {}
    if isinstance(first.get("text"), str):
        return first["text"].strip()
    given = first.get("given") if isinstance(first.get("given"), list) else []
    parts = [*given, first.get("family")]
    return " ".join(part.strip() for part in parts if isinstance(part, str) and part.strip())


def _telecom(resource: dict[str, Any], system: str) -> str | None:
    items = resource.get("telecom")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("system") == system:
            value = item.get("value")
            return value.strip() if isinstance(value, str) and value.strip() else None
    return None


def visit(entry: Entry) -> Visit:
    """An Appointment (participants: patients and a practitioner) or an Encounter (subject: a
    Group or Patient; participant: a practitioner)."""
    resource = entry.resource
    table = APPOINTMENT_STATUS if entry.kind == "Appointment" else ENCOUNTER_STATUS
    if resource.get("status") not in table:
        raise EntryError(entry.index, f"status must be one of: {', '.join(table)}.")
    timing = resource if entry.kind == "Appointment" else _dict(resource.get("period"))
    starts_at, minutes = _timing(entry.index, timing, resource.get("minutesDuration"))
    refs = _references(resource, "actor" if entry.kind == "Appointment" else "individual")
    if entry.kind == "Encounter":
        refs = [*refs, _reference(_dict(resource.get("subject")))]
    found = tuple(dict.fromkeys(ref for ref in refs if ref))
    return Visit(starts_at, minutes, table[resource["status"]], _modality(resource), found)


def _timing(index: int, timing: dict[str, Any], minutes: Any) -> tuple[datetime, int]:
    try:
        start = datetime.fromisoformat(timing["start"])
        end = datetime.fromisoformat(timing["end"]) if "end" in timing else None
    except (KeyError, TypeError, ValueError, OverflowError):
        raise EntryError(index, "start (and end) must be FHIR instants.") from None
    if start.tzinfo is None or (end is not None and end.tzinfo is None):
        raise EntryError(index, "start and end need a time zone.")
    length = int((end - start).total_seconds() // 60) if end is not None else minutes
    if not isinstance(length, int) or not 5 <= length <= 480:
        raise EntryError(index, "A session lasts 5 to 480 minutes (end or minutesDuration).")
    if not 1900 <= start.year <= 2999:
        raise EntryError(index, "start is out of range.")
    return start, length


def _references(resource: dict[str, Any], key: str) -> list[str | None]:
    items = resource.get("participant")
    return [
        _reference(_dict(item.get(key)))
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]


def _reference(value: dict[str, Any]) -> str | None:
    found = value.get("reference")
    return found if isinstance(found, str) and plain_text(found, 200) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _modality(resource: dict[str, Any]) -> str:
    codes = {
        coding.get("code")
        for key in ("class", "appointmentType")
        for coding in _codings(resource.get(key))
    }
    return "video" if codes & {"VR", "virtual", "video"} else "in_person"


def _codings(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return []
    codings = value.get("coding") if "coding" in value else [value]
    return [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []
