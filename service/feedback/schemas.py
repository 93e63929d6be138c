import marshmallow as ma

from service.core import context
from service.couples.schemas import CoupleSchema
from service.http.fields import Text, Timestamp
from service.http.results import WithResource
from service.therapy_sessions.schemas import SessionSchema

Answers = ma.fields.Dict(
    keys=ma.fields.String(validate=ma.validate.Length(max=40)),
    values=ma.fields.Raw(metadata={"type": "number"}),  # checked per item by the instrument
    required=True,
    metadata={"description": "Item key → number.", "example": {"heard": 8, "respect": 9}},
)
Comment = Text(
    allow_none=True,
    max_length=1000,
    strip=True,
    metadata={"description": "Private to clinicians; never shown to the other partner."},
)
Safety = ma.fields.Boolean(
    load_default=False,
    metadata={"description": "I would like to talk with my therapist alone about my safety."},
)


class IssuedLinkSchema(ma.Schema):
    partner_id = ma.fields.UUID(dump_only=True)
    channel = ma.fields.String(dump_only=True)
    expires_at = Timestamp(dump_only=True)
    url = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "In-clinic links only, shown this once."},
    )


class CompletedSchema(WithResource, SessionSchema):
    feedback_links = ma.fields.List(ma.fields.Nested(IssuedLinkSchema), dump_only=True)


class LinksSchema(ma.Schema):
    feedback_links = ma.fields.List(ma.fields.Nested(IssuedLinkSchema), dump_only=True)


class StaffEntrySchema(ma.Schema):
    partner_id = ma.fields.UUID(required=True)
    answers = Answers
    comment = Comment
    safety_concern = Safety
    source = ma.fields.String(
        load_default="staff_entry", validate=ma.validate.OneOf(("staff_entry", "in_clinic"))
    )


def _for_clinicians(attribute: str, openapi_type: str) -> ma.fields.Function:
    """Private to clinicians (DESIGN §7): integrator clients get null."""

    def read(response: object) -> object:
        actor = context.actor()
        return getattr(response, attribute) if actor is not None and actor.kind == "staff" else None

    return ma.fields.Function(
        read, dump_only=True, allow_none=True, metadata={"type": [openapi_type, "null"]}
    )


class ResponseSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    session_id = ma.fields.UUID(dump_only=True)
    partner_id = ma.fields.UUID(dump_only=True)
    instrument_id = ma.fields.UUID(dump_only=True)
    instrument_version = ma.fields.Integer(dump_only=True)
    answers = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float(), dump_only=True)
    total = ma.fields.Float(dump_only=True)
    pct = ma.fields.Float(dump_only=True)
    source = ma.fields.String(dump_only=True)
    comment = _for_clinicians("comment", "string")
    safety_concern = _for_clinicians("safety_concern", "boolean")
    created_at = Timestamp(dump_only=True)


class ResponseListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ResponseSchema), dump_only=True)


class FormItemSchema(ma.Schema):
    key = ma.fields.String(dump_only=True)
    label = ma.fields.String(dump_only=True)
    min = ma.fields.Integer(dump_only=True)
    max = ma.fields.Integer(dump_only=True)
    step = ma.fields.Integer(dump_only=True)
    min_label = ma.fields.String(dump_only=True)
    max_label = ma.fields.String(dump_only=True)


class FormSchema(ma.Schema):
    clinic_name = ma.fields.String(dump_only=True)
    session_date = ma.fields.Date(dump_only=True)
    therapist_name = ma.fields.String(dump_only=True)
    first_name = ma.fields.String(dump_only=True)
    title = ma.fields.String(dump_only=True)
    items = ma.fields.List(ma.fields.Nested(FormItemSchema), dump_only=True)
    comment_max_length = ma.fields.Integer(dump_only=True)


class SubmitSchema(ma.Schema):
    answers = Answers
    comment = Comment
    safety_concern = Safety


class ReceivedSchema(ma.Schema):
    status = ma.fields.String(dump_only=True, metadata={"example": "received"})
    message = ma.fields.String(dump_only=True)


class PointSchema(ma.Schema):
    session_id = ma.fields.UUID(dump_only=True)
    session_at = Timestamp(dump_only=True)
    total = ma.fields.Float(dump_only=True)
    pct = ma.fields.Float(dump_only=True)
    items = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float(), dump_only=True)
    source = ma.fields.String(dump_only=True)


class PartnerSeriesSchema(ma.Schema):
    partner_id = ma.fields.UUID(dump_only=True)
    position = ma.fields.Integer(dump_only=True)
    display_name = ma.fields.String(dump_only=True)
    points = ma.fields.List(ma.fields.Nested(PointSchema), dump_only=True)


class GapSchema(ma.Schema):
    session_id = ma.fields.UUID(dump_only=True)
    session_at = Timestamp(dump_only=True)
    gap_pct = ma.fields.Float(dump_only=True)
    lower_partner_id = ma.fields.UUID(dump_only=True, allow_none=True)


class AllianceSchema(ma.Schema):
    couple_id = ma.fields.UUID(dump_only=True)
    cutoff_pct = ma.fields.Float(dump_only=True)
    partners = ma.fields.List(ma.fields.Nested(PartnerSeriesSchema), dump_only=True)
    gaps = ma.fields.List(ma.fields.Nested(GapSchema), dump_only=True)


class RequestSummarySchema(ma.Schema):
    """A link's history, without its token."""

    session_id = ma.fields.UUID(dump_only=True)
    partner_id = ma.fields.UUID(dump_only=True)
    channel = ma.fields.String(dump_only=True)
    status = ma.fields.String(dump_only=True)
    expires_at = Timestamp(dump_only=True)
    answered_at = Timestamp(dump_only=True, allow_none=True)


class CoupleExportSchema(ma.Schema):
    exported_at = Timestamp(dump_only=True)
    couple = ma.fields.Nested(CoupleSchema, dump_only=True)
    sessions = ma.fields.List(ma.fields.Nested(SessionSchema), dump_only=True)
    feedback_requests = ma.fields.List(ma.fields.Nested(RequestSummarySchema), dump_only=True)
    feedback_responses = ma.fields.List(ma.fields.Nested(ResponseSchema), dump_only=True)
