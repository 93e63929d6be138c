import marshmallow as ma

from service.couples.policy import FEEDBACK_CHANNELS, STATUSES
from service.http.fields import Phone, Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema

Goals = ma.fields.List(
    Text(min_length=1, max_length=300),
    validate=ma.validate.Length(max=10),
    metadata={
        "description": "Goals for therapy, in the words agreed on (at most 10).",
        "example": ["Fewer escalating arguments"],
    },
)


class IdentifierSchema(ma.Schema):
    """An identifier of the partner in another system (an EHR's patient id)."""

    system = Text(
        required=True,
        min_length=1,
        max_length=200,
        metadata={
            "example": "urn:oid:1.2.36.146.595.217.0.1",
            "description": "The namespace of the identifier (a URI or OID).",
        },
    )
    value = Text(
        required=True,
        min_length=1,
        max_length=200,
        metadata={"description": "The identifier within that system.", "example": "MRN-004217"},
    )


class PartnerFields(ma.Schema):
    """A partner's details that staff may set."""

    display_name = Text(
        min_length=1,
        max_length=120,
        metadata={
            "description": "How the partner is addressed in emails and the form.",
            "example": "Maria",
        },
    )
    email = ma.fields.Email(
        allow_none=True,
        validate=ma.validate.Length(max=254),
        metadata={
            "description": "Where feedback links are sent (channel `email`).",
            "example": "maria@example.org",
        },
    )
    phone = Phone(
        allow_none=True,
        metadata={
            "description": "E.164 phone number for links by SMS (channel `sms`).",
            "example": "+4915123456789",
        },
    )
    pronouns = Text(
        allow_none=True,
        max_length=40,
        metadata={"description": "As the partner states them.", "example": "she/her"},
    )
    personal_goals = Goals
    feedback_channel = ma.fields.String(
        validate=ma.validate.OneOf(FEEDBACK_CHANNELS),
        metadata={"description": "How the partner receives feedback links."},
    )
    identifiers = ma.fields.List(
        ma.fields.Nested(IdentifierSchema),
        validate=ma.validate.Length(max=10),
        metadata={"description": "Identifiers of the partner in other systems (at most 10)."},
    )


class PartnerCreateSchema(PartnerFields):
    """One of the couple's two partners, created with the couple."""

    display_name = Text(
        required=True,
        min_length=1,
        max_length=120,
        metadata={
            "description": "How the partner is addressed in emails and the form.",
            "example": "Maria",
        },
    )
    feedback_channel = ma.fields.String(
        load_default="email",
        validate=ma.validate.OneOf(FEEDBACK_CHANNELS),
        metadata={"description": "How the partner receives feedback links."},
    )


class PartnerPatchSchema(PartnerFields):
    """Changes to a partner: only the fields sent change."""

    pass


class PartnerSchema(ma.Schema):
    """One partner of a couple."""

    id = ma.fields.UUID(dump_only=True)
    couple_id = ma.fields.UUID(dump_only=True)
    position = ma.fields.Integer(
        dump_only=True,
        metadata={
            "description": "1 or 2: the partner's place in the couple, stable for charts.",
            "example": 1,
        },
    )
    display_name = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "How the partner is addressed in emails and the form.",
            "example": "Maria",
        },
    )
    email = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Where feedback links are sent; null when erased or not given.",
            "example": "maria@example.org",
        },
    )
    phone = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "E.164 phone number; null when erased or not given.",
            "example": "+4915123456789",
        },
    )
    pronouns = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "As the partner states them.", "example": "she/her"},
    )
    personal_goals = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        metadata={
            "description": "The partner's own goals for therapy.",
            "example": ["Feel heard in arguments"],
        },
    )
    feedback_channel = ma.fields.String(
        dump_only=True,
        metadata={"description": "How the partner receives feedback links.", "example": "email"},
    )
    identifiers = ma.fields.List(
        ma.fields.Nested(IdentifierSchema),
        dump_only=True,
        metadata={"description": "Identifiers of the partner in other systems."},
    )
    erased = ma.fields.Function(
        lambda partner: partner.erased_at is not None,
        dump_only=True,
        metadata={
            "description": "True once the partner's personal data was erased on request.",
            "example": False,
        },
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class TherapistSummarySchema(ma.Schema):
    """The therapist a couple is assigned to."""

    id = ma.fields.UUID(dump_only=True)
    display_name = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "The therapist's name as shown to colleagues.",
            "example": "Dr. Ana Ruiz",
        },
    )


class CoupleSchema(ma.Schema):
    """A couple in care, with its two partners."""

    id = ma.fields.UUID(dump_only=True)
    label = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "How staff refer to the couple; no full names.",
            "example": "M. & J. (Tuesday)",
        },
    )
    therapist_id = ma.fields.UUID(dump_only=True)
    therapist = ma.fields.Nested(
        TherapistSummarySchema,
        dump_only=True,
        metadata={"description": "The assigned therapist's id and name."},
    )
    status = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "Where the couple is in care: intake, active, paused or closed.",
            "example": "active",
        },
    )
    shared_goals = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        metadata={
            "description": "The goals both partners agreed on.",
            "example": ["Fewer escalating arguments"],
        },
    )
    partners = ma.fields.List(
        ma.fields.Nested(PartnerSchema),
        dump_only=True,
        metadata={"description": "The two partners, in `position` order."},
    )
    archived_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When it was archived; null while it is not."},
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class CoupleCreateSchema(ma.Schema):
    """A new couple and its two partners."""

    label = Text(
        required=True,
        min_length=1,
        max_length=120,
        metadata={
            "description": "How staff refer to the couple; avoid full names.",
            "example": "M. & J. (Tuesday)",
        },
    )
    therapist_id = ma.fields.UUID(metadata={"description": "Defaults to the calling therapist."})
    status = ma.fields.String(
        load_default="intake",
        validate=ma.validate.OneOf(("intake", "active")),
        metadata={"description": "`intake` (the default) or `active`."},
    )
    shared_goals = Goals
    partners = ma.fields.List(
        ma.fields.Nested(PartnerCreateSchema),
        required=True,
        validate=ma.validate.Length(equal=2, error="A couple has exactly two partners."),
        metadata={"description": "Exactly two partners."},
    )


class CouplePatchSchema(ma.Schema):
    """Changes to a couple: only the fields sent change."""

    label = Text(
        min_length=1,
        max_length=120,
        metadata={
            "description": "How staff refer to the couple; avoid full names.",
            "example": "M. & J. (Tuesday)",
        },
    )
    therapist_id = ma.fields.UUID(metadata={"description": "Reassignment: admins only."})
    status = ma.fields.String(
        validate=ma.validate.OneOf(STATUSES),
        metadata={"description": "Move the couple through care: intake, active, paused or closed."},
    )
    shared_goals = Goals


class CoupleQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    therapist_id = ma.fields.UUID()
    q = Text(min_length=1, max_length=120, metadata={"description": "Text in the label."})
    archived = ma.fields.Boolean(
        load_default=False, metadata={"description": "List archived couples instead."}
    )


CouplePageSchema = page_schema(CoupleSchema, "CouplePage")
