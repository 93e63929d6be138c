import marshmallow as ma

from service.couples.policy import FEEDBACK_CHANNELS, STATUSES
from service.http.fields import Phone, Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema

Goals = ma.fields.List(Text(min_length=1, max_length=300), validate=ma.validate.Length(max=10))


class IdentifierSchema(ma.Schema):
    system = Text(
        required=True,
        min_length=1,
        max_length=200,
        metadata={"example": "urn:oid:1.2.36.146.595.217.0.1"},
    )
    value = Text(required=True, min_length=1, max_length=200)


class PartnerFields(ma.Schema):
    display_name = Text(min_length=1, max_length=120)
    email = ma.fields.Email(allow_none=True, validate=ma.validate.Length(max=254))
    phone = Phone(allow_none=True)
    pronouns = Text(allow_none=True, max_length=40)
    personal_goals = Goals
    feedback_channel = ma.fields.String(validate=ma.validate.OneOf(FEEDBACK_CHANNELS))
    identifiers = ma.fields.List(
        ma.fields.Nested(IdentifierSchema), validate=ma.validate.Length(max=10)
    )


class PartnerCreateSchema(PartnerFields):
    display_name = Text(required=True, min_length=1, max_length=120)
    feedback_channel = ma.fields.String(
        load_default="email", validate=ma.validate.OneOf(FEEDBACK_CHANNELS)
    )


class PartnerPatchSchema(PartnerFields):
    pass


class PartnerSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    couple_id = ma.fields.UUID(dump_only=True)
    position = ma.fields.Integer(dump_only=True)
    display_name = ma.fields.String(dump_only=True)
    email = ma.fields.String(dump_only=True, allow_none=True)
    phone = ma.fields.String(dump_only=True, allow_none=True)
    pronouns = ma.fields.String(dump_only=True, allow_none=True)
    personal_goals = ma.fields.List(ma.fields.String(), dump_only=True)
    feedback_channel = ma.fields.String(dump_only=True)
    identifiers = ma.fields.List(ma.fields.Nested(IdentifierSchema), dump_only=True)
    erased = ma.fields.Function(lambda partner: partner.erased_at is not None, dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class TherapistSummarySchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    display_name = ma.fields.String(dump_only=True)


class CoupleSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    label = ma.fields.String(dump_only=True)
    therapist_id = ma.fields.UUID(dump_only=True)
    therapist = ma.fields.Nested(TherapistSummarySchema, dump_only=True)
    status = ma.fields.String(dump_only=True)
    shared_goals = ma.fields.List(ma.fields.String(), dump_only=True)
    partners = ma.fields.List(ma.fields.Nested(PartnerSchema), dump_only=True)
    archived_at = Timestamp(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class CoupleCreateSchema(ma.Schema):
    label = Text(
        required=True,
        min_length=1,
        max_length=120,
        metadata={"description": "How staff refer to the couple; avoid full names."},
    )
    therapist_id = ma.fields.UUID(metadata={"description": "Defaults to the calling therapist."})
    status = ma.fields.String(
        load_default="intake", validate=ma.validate.OneOf(("intake", "active"))
    )
    shared_goals = Goals
    partners = ma.fields.List(
        ma.fields.Nested(PartnerCreateSchema),
        required=True,
        validate=ma.validate.Length(equal=2, error="A couple has exactly two partners."),
    )


class CouplePatchSchema(ma.Schema):
    label = Text(min_length=1, max_length=120)
    therapist_id = ma.fields.UUID(metadata={"description": "Reassignment: admins only."})
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    shared_goals = Goals


class CoupleQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    therapist_id = ma.fields.UUID()
    q = Text(min_length=1, max_length=120, metadata={"description": "Text in the label."})
    archived = ma.fields.Boolean(
        load_default=False, metadata={"description": "List archived couples instead."}
    )


CouplePageSchema = page_schema(CoupleSchema, "CouplePage")
