"""Fields and URL converters that turn hostile input into a clear 4xx, never a database error.

PostgreSQL refuses NUL bytes in text and integers beyond 64 bits; both are rejected here, and
so are dates near year 1 or 9999, which overflow when moved into a time zone.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import marshmallow as ma
import phonenumbers
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter

from service.core import clock

INT64_MAX = 2**63 - 1
# The documented form of `_printable` text: no control characters but tab and newlines, and,
# where text is required, something besides the whitespace that is stripped.
PRINTABLE = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
PRINTABLE_TEXT = rf"^{PRINTABLE}*$"
NON_BLANK_TEXT = rf"^{PRINTABLE}*[^\s\x00-\x1f\x7f]{PRINTABLE}*$"
When = TypeVar("When", bound=date)


class Text(ma.fields.String):
    """A string with a length cap and no control characters (tab and newlines allowed)."""

    def __init__(
        self, *, max_length: int = 200, min_length: int = 0, strip: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(validate=ma.validate.Length(min=min_length, max=max_length), **kwargs)
        self.strip = strip
        self.metadata.setdefault("maxLength", max_length)
        self.metadata.setdefault(
            "pattern", NON_BLANK_TEXT if strip and min_length else PRINTABLE_TEXT
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        _printable(text)  # before stripping: str.strip() also removes \x1c-\x1f
        return text.strip() if self.strip else text


def _printable(value: str) -> None:
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value) or "\x7f" in value:
        raise ma.ValidationError("Control characters are not allowed.")


class Phone(ma.fields.String):
    """A phone number in international form, stored normalised as E.164 (+441632960961)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            number = phonenumbers.parse(text[:40], None)
        except phonenumbers.NumberParseException as exc:
            raise ma.ValidationError(
                "Give the number in international form, e.g. +44 1632 960961."
            ) from exc
        if not phonenumbers.is_valid_number(number):
            raise ma.ValidationError("Not a valid phone number.")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Timestamp(ma.fields.AwareDateTime):
    """RFC 3339 in UTC with `Z` (DESIGN §3); input must carry an offset."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any):
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        return _convertible(super()._deserialize(value, attr, data, **kwargs))


class DateOrDateTime(ma.fields.Field):
    """`2026-03-01` (a day in the clinic's timezone) or an RFC 3339 date-time with offset."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if not isinstance(value, str) or len(value) > 40:
            raise ma.ValidationError("Give a date (YYYY-MM-DD) or an RFC 3339 date-time.")
        try:
            if len(value) == 10:
                return _convertible(date.fromisoformat(value))
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ma.ValidationError("Give a date (YYYY-MM-DD) or an RFC 3339 date-time.") from exc
        if moment.tzinfo is None:
            raise ma.ValidationError("A date-time needs a UTC offset (Z or +01:00).")
        return _convertible(moment)


def _convertible(value: When) -> When:
    if not clock.convertible(value):
        raise ma.ValidationError(
            f"Give a date between {clock.EARLIEST:%Y-%m-%d} and {clock.LATEST:%Y-%m-%d}."
        )
    return value


class BoundedInteger(ma.fields.Integer):
    """A JSON integer in a range; `50.0` is one too (JSON Schema), `true` and `"50"` are not."""

    def __init__(self, *, minimum: int = -INT64_MAX, maximum: int = INT64_MAX, **kwargs: Any):
        super().__init__(strict=True, validate=ma.validate.Range(minimum, maximum), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


class UUIDConverter(BaseConverter):
    """`<uuid:id>` that answers a malformed id with a 404 naming the problem."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            raise NotFound(f"'{value[:40]}' is not a valid id.") from None

    def to_url(self, value: Any) -> str:
        return str(value)


class EmailAddress(ma.fields.Email):
    """An email address, trimmed and lower-cased, so `Ana@x` and `ana@x` are one account."""

    def __init__(self, **kwargs):
        super().__init__(validate=ma.validate.Length(max=254), **kwargs)
        self.metadata.setdefault("maxLength", 254)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip()
        return super()._deserialize(value, attr, data, **kwargs).lower()


class JSONBoolean(ma.fields.Boolean):
    """`true` or `false` only: marshmallow would also take 1, "yes", "on"..."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
