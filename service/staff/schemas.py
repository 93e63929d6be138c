import marshmallow as ma

from service.http.fields import EmailAddress, JSONBoolean, Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema
from service.http.results import WithResource
from service.staff.policy import ROLES

# Free text, but these are what couples search for; the frontend offers them as suggestions.
SUGGESTED_APPROACHES = (
    "EFT",
    "Gottman",
    "IBCT",
    "PACT",
    "Imago",
    "Discernment counseling",
    "Narrative",
    "Solution-focused",
)
# BCP-47-ish: a 2-3 letter language, then up to three subtags (script, region, variant).
LANGUAGE_TAG = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$"


def _approaches(**kwargs):
    return ma.fields.List(
        Text(min_length=1, max_length=60),
        validate=ma.validate.Length(max=20),
        metadata={
            "description": "Therapy approaches (free text); common ones: "
            + ", ".join(SUGGESTED_APPROACHES)
            + ".",
            "example": ["EFT", "Gottman"],
            "x-suggestions": list(SUGGESTED_APPROACHES),
        },
        **kwargs,
    )


def _languages(**kwargs):
    return ma.fields.List(
        ma.fields.String(
            validate=ma.validate.Regexp(LANGUAGE_TAG, error="Not a language tag (e.g. en, de-CH)."),
            metadata={"pattern": LANGUAGE_TAG, "maxLength": 35},
        ),
        validate=ma.validate.Length(max=20),
        metadata={
            "description": "BCP 47 language tags, e.g. `en`, `es`, `de-CH`.",
            "example": ["en", "es"],
        },
        **kwargs,
    )


class _Profile(ma.Schema):
    """The fields a staff member may change about themselves."""

    display_name = Text(
        min_length=1,
        max_length=120,
        metadata={"description": "The name colleagues and couples see.", "example": "Dr. Ana Ruiz"},
    )
    pronouns = Text(
        max_length=40,
        allow_none=True,
        metadata={"example": "she/her", "description": "As the staff member states them."},
    )
    bio = Text(
        max_length=2000,
        allow_none=True,
        metadata={
            "description": "A short professional profile, shown in the directory when listed.",
            "example": "Couples therapist since 2012; EFT and Gottman trained.",
        },
    )
    approaches = _approaches()
    languages = _languages()
    accepting_new = JSONBoolean(
        metadata={"description": "Takes new couples (shown in the directory).", "example": True}
    )
    listed_publicly = JSONBoolean(
        metadata={"description": "Shown in the clinic's public therapist directory."}
    )
    alert_emails = ma.fields.String(
        validate=ma.validate.OneOf(("immediate", "hourly", "daily")),
        metadata={
            "description": "How alert emails reach this person: each one at once "
            "(after the clinic's quiet hours), or an hourly or daily digest. Safety "
            "concerns always arrive at once."
        },
    )


class StaffSchema(_Profile):
    """A staff member of the clinic."""

    id = ma.fields.UUID(dump_only=True)
    email = EmailAddress(
        dump_only=True,
        metadata={"description": "The sign-in email.", "example": "ana.ruiz@clinic.example"},
    )
    role = ma.fields.String(
        dump_only=True,
        metadata={
            "enum": list(ROLES),
            "description": "What they may do: admin, supervisor or therapist.",
            "example": "therapist",
        },
    )
    active = ma.fields.Boolean(
        dump_only=True,
        metadata={
            "description": "False once deactivated: no sign-in, tokens refused.",
            "example": True,
        },
    )
    invite_pending = ma.fields.Boolean(
        dump_only=True, metadata={"description": "Invited; the password is not set yet."}
    )
    invite_expires_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When the pending invite link stops working; null when none."},
    )
    totp_enabled = ma.fields.Boolean(
        dump_only=True,
        metadata={
            "description": "Signing in asks for a code from their authenticator app (TOTP).",
            "example": False,
        },
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class StaffInvitedSchema(WithResource, StaffSchema):
    """A staff member with their one-time invite link."""

    invite_url = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "One-time link to the page where the invitee sets a password.",
            "example": "https://alliance.clinic.example/account/set-password/8kQ2xN",
        },
    )


class StaffCreateSchema(_Profile):
    """A new staff member; they are invited by email to set a password."""

    email = EmailAddress(
        required=True,
        metadata={
            "description": "The sign-in email; the invite goes there.",
            "example": "ana.ruiz@clinic.example",
        },
    )
    role = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(ROLES),
        metadata={"description": "What they may do: admin, supervisor or therapist."},
    )
    display_name = Text(
        required=True,
        min_length=1,
        max_length=120,
        metadata={"description": "The name colleagues and couples see.", "example": "Dr. Ana Ruiz"},
    )


class StaffPatchSchema(_Profile):
    """Admins may change every field; anyone else only their own profile fields."""

    email = EmailAddress(
        metadata={
            "description": "The sign-in email (admins only).",
            "example": "ana.ruiz@clinic.example",
        }
    )
    role = ma.fields.String(
        validate=ma.validate.OneOf(ROLES), metadata={"description": "The role (admins only)."}
    )
    active = JSONBoolean(
        metadata={"description": "False deactivates them (admins only).", "example": True}
    )


class TotpEnrolmentSchema(WithResource, StaffSchema):
    """A second factor waiting for its first code: the secret, shown this once."""

    secret = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "The shared secret (base32), for typing into an authenticator app.",
            "example": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        },
    )
    provisioning_uri = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "The otpauth:// URI for a QR code; issuer is the clinic's name, "
            "account the sign-in email.",
            "example": "otpauth://totp/Riverside%20Couples%20Clinic:ana.ruiz%40clinic.example"
            "?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Riverside%20Couples%20Clinic",
        },
    )


class TotpCodeSchema(ma.Schema):
    """A current code from the staff member's authenticator app."""

    code = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^[0-9]{6}$", error="Enter the 6 digits your app shows."),
        metadata={
            "pattern": "^[0-9]{6}$",
            "description": "The 6-digit code the app shows now; each code works once.",
            "example": "492039",
        },
    )


def _query_flag() -> ma.fields.Boolean:
    return ma.fields.Boolean(truthy={"true"}, falsy={"false"})


class StaffQuerySchema(PageQuerySchema):
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    active = _query_flag()
    q = Text(
        min_length=1,
        max_length=100,
        metadata={"description": "Display name or email contains (case-insensitive)."},
    )


StaffPageSchema = page_schema(StaffSchema, "StaffPage")


# The public directory: only these fields ever leave the clinic without a token.
class DirectoryTherapistSchema(ma.Schema):
    """A therapist as the clinic's public directory shows them."""

    id = ma.fields.UUID(dump_only=True)
    display_name = ma.fields.String(
        dump_only=True, metadata={"description": "The therapist's name.", "example": "Dr. Ana Ruiz"}
    )
    pronouns = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "As the therapist states them.", "example": "she/her"},
    )
    bio = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "A short professional profile.",
            "example": "Couples therapist since 2012.",
        },
    )
    approaches = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        metadata={"description": "Therapy approaches they practise.", "example": ["EFT"]},
    )
    languages = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        metadata={"description": "Languages they work in (BCP 47 tags).", "example": ["en", "es"]},
    )
    accepting_new = ma.fields.Boolean(
        dump_only=True, metadata={"description": "Takes new couples.", "example": True}
    )


class DirectoryQuerySchema(PageQuerySchema):
    approach = Text(min_length=1, max_length=60, metadata={"example": "EFT"})
    language = ma.fields.String(
        validate=ma.validate.Regexp(LANGUAGE_TAG),
        metadata={
            "pattern": LANGUAGE_TAG,
            "description": "A language tag; `de` also matches `de-CH`.",
        },
    )
    accepting_new = _query_flag()


DirectoryPageSchema = page_schema(DirectoryTherapistSchema, "TherapistDirectoryPage")
