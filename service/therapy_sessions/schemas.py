import marshmallow as ma

from service.http.fields import BoundedInteger, DateOrDateTime, Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema
from service.therapy_sessions.models import MODALITIES, STATUSES


class SessionSchema(ma.Schema):
    """A therapy session of a couple."""

    id = ma.fields.UUID(dump_only=True)
    couple_id = ma.fields.UUID(dump_only=True)
    therapist_id = ma.fields.UUID(dump_only=True)
    starts_at = Timestamp(dump_only=True, metadata={"description": "When it starts (UTC)."})
    ends_at = Timestamp(
        dump_only=True,
        metadata={"description": "When it ends: `starts_at` plus `duration_minutes`."},
    )
    duration_minutes = ma.fields.Integer(
        dump_only=True, metadata={"description": "Its length in minutes.", "example": 50}
    )
    modality = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "How it takes place: in person or by video.",
            "example": "in_person",
        },
    )
    status = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "scheduled, completed, cancelled or no_show.",
            "example": "scheduled",
        },
    )
    time_shares = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Percent of talking time per partner id, once completed.",
            "example": {
                "3b8e6f0a-1c2d-4e5f-8a9b-0c1d2e3f4a5b": 55,
                "9c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f": 45,
            },
        },
    )
    cancel_reason = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Why it was cancelled; null otherwise.", "example": "Illness"},
    )
    completed_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When it was marked completed; null otherwise."},
    )
    cancelled_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When it was cancelled; null otherwise."},
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class SessionCreateSchema(ma.Schema):
    """A session to book for a couple."""

    couple_id = ma.fields.UUID(
        required=True, metadata={"description": "The couple the session is for."}
    )
    therapist_id = ma.fields.UUID(metadata={"description": "Defaults to the couple's therapist."})
    starts_at = Timestamp(
        required=True, metadata={"description": "When it starts; a time zone offset is required."}
    )
    duration_minutes = BoundedInteger(
        minimum=5,
        maximum=480,
        load_default=50,
        metadata={"description": "Its length in minutes (5 to 480).", "example": 50},
    )
    modality = ma.fields.String(
        load_default="in_person",
        validate=ma.validate.OneOf(MODALITIES),
        metadata={"description": "How it takes place."},
    )


class SessionPatchSchema(ma.Schema):
    """Changes to a scheduled session: only the fields sent change."""

    starts_at = Timestamp(metadata={"description": "A new start; a time zone offset is required."})
    duration_minutes = BoundedInteger(
        minimum=5,
        maximum=480,
        metadata={"description": "A new length in minutes (5 to 480).", "example": 50},
    )
    modality = ma.fields.String(
        validate=ma.validate.OneOf(MODALITIES), metadata={"description": "How it takes place."}
    )
    therapist_id = ma.fields.UUID(metadata={"description": "Another therapist takes the session."})


class CompleteSchema(ma.Schema):
    """Marks a session completed; feedback links then go to both partners."""

    time_share = ma.fields.Dict(
        keys=ma.fields.UUID(),
        values=BoundedInteger(minimum=0, maximum=100),
        metadata={
            "description": "Percent of talking time per partner id; sums to 100.",
            "example": {
                "3b8e6f0a-1c2d-4e5f-8a9b-0c1d2e3f4a5b": 55,
                "9c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f": 45,
            },
        },
    )


class CancelSchema(ma.Schema):
    """Cancels a scheduled session."""

    reason = Text(
        required=True,
        min_length=1,
        max_length=500,
        metadata={
            "description": "Why it was cancelled (kept for the record).",
            "example": "Illness",
        },
    )


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
