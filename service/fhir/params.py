"""FHIR search parameters: parsed once, checked against each emitted resource. Pure.

Supported: `_id` (comma = or), `_lastUpdated` (`ge gt le lt eq` prefixes, any precision from
a year to a full instant; repeat for a range), `_count`, `patient`, `subject`, `encounter`
(references as `Type/id` or `id`) and `_cursor` (the opaque page position in `next` links).
The database narrows rows by the same values; `matches` is the exact test on the resource.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from service.core import bounded_json, clock

DEFAULT_COUNT = 50
MAX_COUNT = 500
COMMON = frozenset({"_id", "_lastUpdated", "_count", "_cursor", "_format"})
FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
_DATE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?P<tz>Z|[+-]\d{2}:\d{2}))?)?)?"
)
PREFIXES = ("ge", "gt", "le", "lt", "eq")
_RANGE = f"{clock.EARLIEST:%Y-%m-%d} and {clock.LATEST:%Y-%m-%d}"


class SearchError(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter, self.message = parameter, message


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the row (created_at, id) and how many of its resources
    were already returned."""

    created_at: datetime
    row_id: uuid.UUID
    skip: int


@dataclass(frozen=True)
class Search:
    ids: frozenset[str] | None = None
    # (">=", t) or ("<", t): the bounds every `_lastUpdated` value adds.
    updated: tuple[tuple[str, datetime], ...] = ()
    count: int = DEFAULT_COUNT
    patient: str | None = None
    subject: tuple[str | None, str] | None = None
    encounter: str | None = None
    cursor: Cursor | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def since(self) -> datetime | None:
        lower = [bound for op, bound in self.updated if op == ">="]
        return max(lower) if lower else None


def parse(args: Sequence[tuple[str, str]], allowed: frozenset[str]) -> Search:
    """The search a query string asks for; SearchError names an unknown or bad parameter."""
    values: dict[str, str] = {}
    updated: list[tuple[str, datetime]] = []
    for name, value in args:
        if name not in allowed | COMMON:
            raise SearchError(name, "This search parameter is not supported here.")
        if name == "_lastUpdated":
            updated.extend(date_bounds(value))
        elif name in values:
            raise SearchError(name, "Give this parameter once.")
        else:
            values[name] = value
    if values.get("_format", "json") not in FORMATS:
        raise SearchError("_format", "Only JSON is served.")
    ids = frozenset(v.strip() for v in values["_id"].split(",")) if "_id" in values else None
    if ids is not None and len(ids) > MAX_COUNT:
        raise SearchError("_id", f"At most {MAX_COUNT} ids at once.")
    return Search(
        ids=ids,
        updated=tuple(updated),
        count=_count(values.get("_count")),
        patient=_reference(values["patient"], "Patient")[1] if "patient" in values else None,
        subject=_reference(values["subject"], None) if "subject" in values else None,
        encounter=_reference(values["encounter"], "Encounter")[1]
        if "encounter" in values
        else None,
        cursor=decode_cursor(values["_cursor"]) if "_cursor" in values else None,
        extra={"identifier": _token(values["identifier"])} if "identifier" in values else {},
    )


def _token(text: str) -> str:
    """`system|value` (both needed: identifiers are unique per system)."""
    system, bar, value = text.partition("|")
    if not bar or not system or not value:
        raise SearchError("identifier", "Give system|value.")
    return text


def _count(text: str | None) -> int:
    if text is None:
        return DEFAULT_COUNT
    if not re.fullmatch(r"\d{1,6}", text) or int(text) < 1:
        raise SearchError("_count", "A whole number of at least 1.")
    return min(int(text), MAX_COUNT)


def _reference(text: str, kind: str | None) -> tuple[str | None, str]:
    """`Type/id`, a full URL ending in it, or a bare `id` → (type or None, id)."""
    parts = text.strip().rstrip("/").split("/")
    found = (parts[-2], parts[-1]) if len(parts) >= 2 else (kind, parts[-1])
    if kind is not None and found[0] != kind:
        raise SearchError(kind.lower(), f"Expected a {kind} reference.")
    if not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", found[1]):
        raise SearchError(kind.lower() if kind else "subject", "Not a valid resource id.")
    return found


def date_bounds(text: str) -> list[tuple[str, datetime]]:
    """`ge2026-01-01` → [(">=", 2026-01-01T00:00Z)]; no prefix (or `eq`): the whole period."""
    prefix = text[:2] if text[:2] in PREFIXES else "eq"
    start, end = period(text[2:] if text[:2] in PREFIXES else text)
    return {
        "ge": [(">=", start)],
        "gt": [(">=", end)],
        "le": [("<", end)],
        "lt": [("<", start)],
        "eq": [(">=", start), ("<", end)],
    }[prefix]


def period(text: str) -> tuple[datetime, datetime]:
    """The instants a FHIR date or dateTime covers: [start, end)."""
    found = _DATE.fullmatch(text.strip())
    if found is None or not 1 <= int(found["y"]) <= 9998:
        raise SearchError("_lastUpdated", "A FHIR date or dateTime, such as ge2026-01-31.")
    try:
        if found["time"]:
            start = datetime.fromisoformat(f"{text.strip()[:10]}T{found['time']}{found['tz']}")
        else:
            year, month, day = int(found["y"]), int(found["m"] or 1), int(found["d"] or 1)
            start = datetime(year, month, day, tzinfo=UTC)
    except ValueError as exc:
        raise SearchError("_lastUpdated", "Not a real date.") from exc
    if not clock.convertible(start):
        raise SearchError("_lastUpdated", f"Give a date between {_RANGE}.")
    if found["time"]:
        precise = len(found["time"]) > 5
        return start.astimezone(UTC), start + timedelta(seconds=1 if precise else 60)
    if found["d"]:
        return start, start + timedelta(days=1)
    if found["m"]:
        return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, datetime(year + 1, 1, 1, tzinfo=UTC)


def parse_instant(text: str, parameter: str) -> datetime:
    """A full instant with a time zone (`_since`)."""
    found = _DATE.fullmatch(text.strip())
    if found is None or not found["time"] or not 1 <= int(found["y"]) <= 9998:
        raise SearchError(parameter, "An instant with a time zone, such as 2026-01-31T10:00:00Z.")
    try:
        return period(text)[0]
    except SearchError as exc:
        raise SearchError(parameter, exc.message) from exc


# -- the exact test on an emitted resource ------------------------------------------------------


def matches(resource: Mapping[str, Any], search: Search) -> bool:
    if search.ids is not None and resource["id"] not in search.ids:
        return False
    updated = datetime.fromisoformat(resource["meta"]["lastUpdated"])
    for op, bound in search.updated:
        if (op == ">=" and updated < bound) or (op == "<" and updated >= bound):
            return False
    if "identifier" in search.extra and search.extra["identifier"] not in {
        f"{i.get('system')}|{i.get('value')}" for i in resource.get("identifier", [])
    }:
        return False
    subject = _ref(resource, "subject")
    if search.patient is not None and subject != f"Patient/{search.patient}":
        return False
    if search.subject is not None and not _same(subject, search.subject):
        return False
    return (
        search.encounter is None or _ref(resource, "encounter") == f"Encounter/{search.encounter}"
    )


def _ref(resource: Mapping[str, Any], name: str) -> str | None:
    value = resource.get(name)
    return value.get("reference") if isinstance(value, Mapping) else None


def _same(reference: str | None, wanted: tuple[str | None, str]) -> bool:
    kind, ident = wanted
    if reference is None:
        return False
    return reference == f"{kind}/{ident}" if kind else reference.endswith(f"/{ident}")


# -- cursors ------------------------------------------------------------------------------------


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.created_at.isoformat(), str(cursor.row_id), cursor.skip])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        padded = text + "=" * (-len(text) % 4)
        created, ident, skip = bounded_json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None or not isinstance(skip, int) or not 0 <= skip < 100:
            raise ValueError("bad cursor")
        return Cursor(moment, uuid.UUID(ident), skip)
    except (ValueError, TypeError, binascii.Error, UnicodeError, json.JSONDecodeError) as exc:
        raise SearchError("_cursor", "Not a valid page cursor; follow the Bundle's links.") from exc
