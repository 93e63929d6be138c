import zoneinfo

import marshmallow as ma

from service.http.fields import EmailAddress, Text, Timestamp
from service.http.pagination import page_schema
from service.http.results import WithResource

SLUG = r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?$"


def valid_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ma.ValidationError("Not an IANA timezone (e.g. Europe/Berlin).") from exc


class ClinicSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    name = Text(required=True, min_length=1, max_length=200)
    slug = ma.fields.String(
        required=True, validate=ma.validate.Regexp(SLUG), metadata={"pattern": SLUG}
    )
    timezone = ma.fields.String(load_default="UTC", validate=valid_timezone)
    locale = ma.fields.String(
        load_default="en", validate=ma.validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$")
    )
    cors_origins = ma.fields.List(
        ma.fields.Url(schemes={"https", "http"}, require_tld=False),
        validate=ma.validate.Length(max=20),
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class ClinicPatchSchema(ma.Schema):
    name = Text(min_length=1, max_length=200)
    timezone = ma.fields.String(validate=valid_timezone)
    locale = ma.fields.String(validate=ma.validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$"))
    cors_origins = ma.fields.List(
        ma.fields.Url(schemes={"https", "http"}, require_tld=False),
        validate=ma.validate.Length(max=20),
    )


# Platform onboarding: a clinic with its first admin.
class ClinicOnboardingSchema(ma.Schema):
    name = Text(required=True, min_length=1, max_length=200)
    slug = ma.fields.String(
        required=True, validate=ma.validate.Regexp(SLUG), metadata={"pattern": SLUG}
    )
    timezone = ma.fields.String(
        required=True, validate=valid_timezone, metadata={"example": "Europe/Berlin"}
    )
    locale = ma.fields.String(
        load_default="en", validate=ma.validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$")
    )
    admin_email = EmailAddress(required=True)
    admin_name = Text(required=True, min_length=1, max_length=120)


class OnboardedClinicSchema(WithResource, ClinicSchema):
    admin_id = ma.fields.UUID(dump_only=True, attribute="admin.id")
    admin_invite_url = ma.fields.String(
        dump_only=True,
        metadata={"description": "One-time link where the first admin sets a password."},
    )


ClinicPageSchema = page_schema(ClinicSchema, "ClinicPage")
