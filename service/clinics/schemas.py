import zoneinfo

import marshmallow as ma

from service.http.fields import EmailAddress, JSONBoolean, Text, Timestamp
from service.http.pagination import page_schema
from service.http.results import WithResource

SLUG = r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?$"


def valid_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ma.ValidationError("Not an IANA timezone (e.g. Europe/Berlin).") from exc


class ClinicSchema(ma.Schema):
    """A clinic: the tenant every other resource belongs to."""

    id = ma.fields.UUID(dump_only=True)
    name = Text(
        required=True,
        min_length=1,
        max_length=200,
        metadata={
            "description": "The clinic's name, shown in emails and pages.",
            "example": "Riverside Couples Clinic",
        },
    )
    slug = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(SLUG),
        metadata={
            "pattern": SLUG,
            "description": "The clinic's short name in public URLs.",
            "example": "riverside",
        },
    )
    timezone = ma.fields.String(
        load_default="UTC",
        validate=valid_timezone,
        metadata={
            "description": "IANA time zone for local times (quiet hours, digests).",
            "example": "Europe/Berlin",
        },
    )
    locale = ma.fields.String(
        load_default="en",
        validate=ma.validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$"),
        metadata={
            "description": "The default language of partner pages and emails.",
            "example": "en",
        },
    )
    cors_origins = ma.fields.List(
        ma.fields.Url(schemes={"https", "http"}, require_tld=False),
        validate=ma.validate.Length(max=20),
        metadata={
            "description": "Origins of the clinic's own frontends, allowed to call from a browser.",
            "example": ["https://app.riverside.example"],
        },
    )
    require_second_factor = JSONBoolean(
        dump_only=True,
        metadata={
            "description": "Every staff member signs in with a code from an authenticator app "
            "(TOTP); those without one set it up at their next sign-in, before any token.",
            "example": False,
        },
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class ClinicPatchSchema(ma.Schema):
    """Changes to the clinic: only the fields sent change."""

    name = Text(
        min_length=1,
        max_length=200,
        metadata={"description": "The clinic's name.", "example": "Riverside Couples Clinic"},
    )
    timezone = ma.fields.String(
        validate=valid_timezone,
        metadata={"description": "IANA time zone for local times.", "example": "Europe/Berlin"},
    )
    locale = ma.fields.String(
        validate=ma.validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$"),
        metadata={
            "description": "The default language of partner pages and emails.",
            "example": "en",
        },
    )
    cors_origins = ma.fields.List(
        ma.fields.Url(schemes={"https", "http"}, require_tld=False),
        validate=ma.validate.Length(max=20),
        metadata={
            "description": "Origins of the clinic's own frontends.",
            "example": ["https://app.riverside.example"],
        },
    )
    require_second_factor = JSONBoolean(
        metadata={
            "description": "Every staff member signs in with a code from an authenticator app "
            "(TOTP); those without one set it up at their next sign-in, before any token.",
            "example": False,
        },
    )


# Platform onboarding: a clinic with its first admin.
class ClinicOnboardingSchema(ma.Schema):
    """A new clinic and its first admin (platform onboarding)."""

    name = Text(
        required=True,
        min_length=1,
        max_length=200,
        metadata={"description": "The clinic's name.", "example": "Riverside Couples Clinic"},
    )
    slug = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(SLUG),
        metadata={
            "pattern": SLUG,
            "description": "The clinic's short name in public URLs; unique.",
            "example": "riverside",
        },
    )
    timezone = ma.fields.String(
        required=True,
        validate=valid_timezone,
        metadata={"example": "Europe/Berlin", "description": "IANA time zone for local times."},
    )
    locale = ma.fields.String(
        load_default="en",
        validate=ma.validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$"),
        metadata={
            "description": "The default language of partner pages and emails.",
            "example": "en",
        },
    )
    admin_email = EmailAddress(
        required=True,
        metadata={
            "description": "The first admin's sign-in email; the invite goes there.",
            "example": "admin@riverside.example",
        },
    )
    admin_name = Text(
        required=True,
        min_length=1,
        max_length=120,
        metadata={"description": "The first admin's name.", "example": "Sam Okafor"},
    )


class OnboardedClinicSchema(WithResource, ClinicSchema):
    """The new clinic, with its first admin's one-time invite link."""

    admin_id = ma.fields.UUID(
        dump_only=True,
        attribute="admin.id",
        metadata={"description": "The first admin's staff id."},
    )
    admin_invite_url = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "One-time link where the first admin sets a password.",
            "example": "https://alliance.clinic.example/account/set-password/8kQ2xN",
        },
    )


ClinicPageSchema = page_schema(ClinicSchema, "ClinicPage")
