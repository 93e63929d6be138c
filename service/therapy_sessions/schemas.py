import marshmallow as ma

from service.http.fields import BoundedInteger, DateOrDateTime, Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema
from service.therapy_sessions.models import MODALITIES, STATUSES


class SessionSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    couple_id = ma.fields.UUID(dump_only=True)
    therapist_id = ma.fields.UUID(dump_only=True)
    starts_at = Timestamp(dump_only=True)
    ends_at = Timestamp(dump_only=True)
    duration_minutes = ma.fields.Integer(dump_only=True)
    modality = ma.fields.String(dump_only=True)
    status = ma.fields.String(dump_only=True)
    time_shares = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(), dump_only=True, allow_none=True
    )
    cancel_reason = ma.fields.String(dump_only=True, allow_none=True)
    completed_at = Timestamp(dump_only=True, allow_none=True)
    cancelled_at = Timestamp(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class SessionCreateSchema(ma.Schema):
    couple_id = ma.fields.UUID(required=True)
    therapist_id = ma.fields.UUID(metadata={"description": "Defaults to the couple's therapist."})
    starts_at = Timestamp(required=True)
    duration_minutes = BoundedInteger(minimum=5, maximum=480, load_default=50)
    modality = ma.fields.String(load_default="in_person", validate=ma.validate.OneOf(MODALITIES))


class SessionPatchSchema(ma.Schema):
    starts_at = Timestamp()
    duration_minutes = BoundedInteger(minimum=5, maximum=480)
    modality = ma.fields.String(validate=ma.validate.OneOf(MODALITIES))
    therapist_id = ma.fields.UUID()


class CompleteSchema(ma.Schema):
    time_share = ma.fields.Dict(
        keys=ma.fields.UUID(),
        values=BoundedInteger(minimum=0, maximum=100),
        metadata={"description": "Percent of talking time per partner id; sums to 100."},
    )


class CancelSchema(ma.Schema):
    reason = Text(required=True, min_length=1, max_length=500)


class SessionQuerySchema(PageQuerySchema):
    start = DateOrDateTime(
        data_key="from",
        metadata={
            "description": "Sessions starting at or after this (a date is the clinic's midnight).",
            "type": "string",
            "anyOf": [{"format": "date"}, {"format": "date-time"}],
        },
    )
    end = DateOrDateTime(
        data_key="to",
        metadata={
            "description": "Sessions starting before this (a date includes that whole day).",
            "type": "string",
            "anyOf": [{"format": "date"}, {"format": "date-time"}],
        },
    )
    therapist_id = ma.fields.UUID()
    couple_id = ma.fields.UUID()
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))


SessionPageSchema = page_schema(SessionSchema, "SessionPage")
