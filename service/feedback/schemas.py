import marshmallow as ma

from service.core import context
from service.couples.schemas import CoupleSchema
from service.http.fields import JSONBoolean, Text, Timestamp
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
    metadata={
        "description": "Private to clinicians; never shown to the other partner.",
        "example": "I found it hard to speak today.",
    },
)
Safety = JSONBoolean(
    load_default=False,
    metadata={"description": "I would like to talk with my therapist alone about my safety."},
)


class IssuedLinkSchema(ma.Schema):
    """A feedback link sent (or handed over) to one partner."""

    partner_id = ma.fields.UUID(dump_only=True)
    channel = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "How it reaches the partner: email, sms or in_clinic.",
            "example": "email",
        },
    )
    expires_at = Timestamp(dump_only=True, metadata={"description": "When the link stops working."})
    url = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "In-clinic links only, shown this once.",
            "example": "https://alliance.clinic.example/f/Yk3n9QxV2mT8pL4rW6sA1cE5gH7jK0bN2dF4hJ6lM8o",
        },
    )


class CompletedSchema(WithResource, SessionSchema):
    """The completed session, with the feedback links it issued."""

    feedback_links = ma.fields.List(
        ma.fields.Nested(IssuedLinkSchema),
        dump_only=True,
        metadata={"description": "One link per partner, sent on their channel."},
    )


class LinksSchema(ma.Schema):
    """Fresh feedback links for a session's partners."""

    feedback_links = ma.fields.List(
        ma.fields.Nested(IssuedLinkSchema),
        dump_only=True,
        metadata={"description": "One link per partner; earlier ones stop working."},
    )


class StaffEntrySchema(ma.Schema):
    """Answers a staff member enters for a partner (a paper form, in clinic)."""

    partner_id = ma.fields.UUID(required=True)
    answers = Answers
    comment = Comment
    safety_concern = Safety
    source = ma.fields.String(
        load_default="staff_entry",
        validate=ma.validate.OneOf(("staff_entry", "in_clinic")),
        metadata={
            "description": "`staff_entry` (typed in from paper) or `in_clinic` (on a device)."
        },
    )


def _for_clinicians(attribute: str, openapi_type: str, **metadata: object) -> ma.fields.Function:
    """Private to clinicians (DESIGN §7): integrator clients get null."""

    def read(response: object) -> object:
        actor = context.actor()
        return getattr(response, attribute) if actor is not None and actor.kind == "staff" else None

    return ma.fields.Function(
        read, dump_only=True, allow_none=True, metadata={"type": openapi_type, **metadata}
    )


class ResponseSchema(ma.Schema):
    """A partner's answers to an instrument after a session."""

    id = ma.fields.UUID(dump_only=True)
    session_id = ma.fields.UUID(dump_only=True)
    partner_id = ma.fields.UUID(dump_only=True)
    instrument_id = ma.fields.UUID(
        dump_only=True, metadata={"description": "The instrument answered."}
    )
    instrument_version = ma.fields.Integer(
        dump_only=True, metadata={"description": "Its version at the time.", "example": 1}
    )
    answers = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Float(),
        dump_only=True,
        metadata={"description": "Item key → answer.", "example": {"heard": 8, "respect": 9}},
    )
    total = ma.fields.Float(
        dump_only=True, metadata={"description": "The total score.", "example": 17.0}
    )
    pct = ma.fields.Float(
        dump_only=True,
        metadata={"description": "The total as a percent of the scale.", "example": 85.0},
    )
    source = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "How it was given: partner_link, in_clinic, staff_entry or import.",
            "example": "partner_link",
        },
    )
    comment = _for_clinicians(
        "comment",
        "string",
        description="The partner's private comment; null for integrator clients.",
        example="I found it hard to speak today.",
    )
    safety_concern = _for_clinicians(
        "safety_concern",
        "boolean",
        description="The partner asked to talk alone about their safety; null for integrators.",
        example=False,
    )
    created_at = Timestamp(dump_only=True)


class ResponseListSchema(ma.Schema):
    """A session's feedback responses."""

    items = ma.fields.List(
        ma.fields.Nested(ResponseSchema),
        dump_only=True,
        metadata={"description": "The responses, oldest first."},
    )


class FormItemSchema(ma.Schema):
    """One question of the partner's form, in their language."""

    key = ma.fields.String(
        dump_only=True,
        metadata={"description": "The key to answer it under in `answers`.", "example": "heard"},
    )
    label = ma.fields.String(
        dump_only=True,
        metadata={"description": "The question.", "example": "I felt heard and understood."},
    )
    min = ma.fields.Integer(
        dump_only=True, metadata={"description": "The lowest answer.", "example": 0}
    )
    max = ma.fields.Integer(
        dump_only=True, metadata={"description": "The highest answer.", "example": 10}
    )
    step = ma.fields.Integer(
        dump_only=True,
        metadata={"description": "Answers go from `min` in whole steps.", "example": 1},
    )
    min_label = ma.fields.String(
        dump_only=True,
        metadata={"description": "The words at the lowest answer.", "example": "Not at all"},
    )
    max_label = ma.fields.String(
        dump_only=True,
        metadata={"description": "The words at the highest answer.", "example": "Completely"},
    )


class FormSchema(ma.Schema):
    """What a partner's feedback form shows."""

    clinic_name = ma.fields.String(
        dump_only=True,
        metadata={"description": "The clinic's name.", "example": "Riverside Couples Clinic"},
    )
    session_date = ma.fields.Date(
        dump_only=True,
        metadata={"description": "The date of the session, in the clinic's time zone."},
    )
    therapist_name = ma.fields.String(
        dump_only=True, metadata={"description": "The therapist's name.", "example": "Dr. Ana Ruiz"}
    )
    first_name = ma.fields.String(
        dump_only=True,
        metadata={"description": "How the partner is addressed.", "example": "Maria"},
    )
    title = ma.fields.String(
        dump_only=True,
        metadata={"description": "The instrument's title.", "example": "How was today's session?"},
    )
    items = ma.fields.List(
        ma.fields.Nested(FormItemSchema),
        dump_only=True,
        metadata={"description": "The questions, in order."},
    )
    comment_max_length = ma.fields.Integer(
        dump_only=True, metadata={"description": "The longest comment accepted.", "example": 1000}
    )


class SubmitSchema(ma.Schema):
    """A partner's answers, sent once with their link."""

    answers = Answers
    comment = Comment
    safety_concern = Safety


class ReceivedSchema(ma.Schema):
    """The answers were stored."""

    status = ma.fields.String(
        dump_only=True, metadata={"example": "received", "description": "Always `received`."}
    )
    message = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "A thank-you to show the partner.",
            "example": "Thank you. Your answers help your therapist.",
        },
    )


class PointSchema(ma.Schema):
    """One answered session in a partner's series."""

    session_id = ma.fields.UUID(dump_only=True)
    session_at = Timestamp(dump_only=True, metadata={"description": "When the session started."})
    total = ma.fields.Float(
        dump_only=True, metadata={"description": "The total score.", "example": 17.0}
    )
    pct = ma.fields.Float(
        dump_only=True,
        metadata={"description": "The total as a percent of the scale.", "example": 85.0},
    )
    items = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Float(),
        dump_only=True,
        metadata={"description": "Item key → answer.", "example": {"heard": 8, "respect": 9}},
    )
    source = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "How it was given: partner_link, in_clinic, staff_entry or import.",
            "example": "partner_link",
        },
    )


class PartnerSeriesSchema(ma.Schema):
    """One partner's alliance scores over the sessions."""

    partner_id = ma.fields.UUID(dump_only=True)
    position = ma.fields.Integer(
        dump_only=True, metadata={"description": "1 or 2, as in the couple.", "example": 1}
    )
    display_name = ma.fields.String(
        dump_only=True,
        metadata={"description": "How the partner is addressed.", "example": "Maria"},
    )
    points = ma.fields.List(
        ma.fields.Nested(PointSchema),
        dump_only=True,
        metadata={"description": "The answered sessions, oldest first."},
    )


class GapSchema(ma.Schema):
    """How far apart the partners' scores were at one session."""

    session_id = ma.fields.UUID(dump_only=True)
    session_at = Timestamp(dump_only=True, metadata={"description": "When the session started."})
    gap_pct = ma.fields.Float(
        dump_only=True,
        metadata={"description": "The difference, in percent of the scale.", "example": 22.5},
    )
    lower_partner_id = ma.fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The partner with the lower score; null when equal."},
    )


class AllianceSchema(ma.Schema):
    """A couple's alliance: both partners' series and the gaps between them."""

    couple_id = ma.fields.UUID(dump_only=True)
    cutoff_pct = ma.fields.Float(
        dump_only=True,
        metadata={
            "description": "The clinic's cutoff, as a percent of the scale.",
            "example": 70.0,
        },
    )
    partners = ma.fields.List(
        ma.fields.Nested(PartnerSeriesSchema),
        dump_only=True,
        metadata={"description": "Both partners' series."},
    )
    gaps = ma.fields.List(
        ma.fields.Nested(GapSchema),
        dump_only=True,
        metadata={"description": "The gap at each session both answered."},
    )


class RequestSummarySchema(ma.Schema):
    """A link's history, without its token."""

    session_id = ma.fields.UUID(dump_only=True)
    partner_id = ma.fields.UUID(dump_only=True)
    channel = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "How it reached the partner: email, sms or in_clinic.",
            "example": "email",
        },
    )
    status = ma.fields.String(
        dump_only=True,
        metadata={"description": "open, answered, expired or revoked.", "example": "answered"},
    )
    expires_at = Timestamp(
        dump_only=True, metadata={"description": "When the link stopped (or stops) working."}
    )
    answered_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When it was answered; null when not."},
    )


class CoupleExportSchema(ma.Schema):
    """Everything held about a couple (the right of access)."""

    exported_at = Timestamp(dump_only=True, metadata={"description": "When this export was made."})
    couple = ma.fields.Nested(
        CoupleSchema, dump_only=True, metadata={"description": "The couple and its partners."}
    )
    sessions = ma.fields.List(
        ma.fields.Nested(SessionSchema),
        dump_only=True,
        metadata={"description": "Every session of the couple."},
    )
    feedback_requests = ma.fields.List(
        ma.fields.Nested(RequestSummarySchema),
        dump_only=True,
        metadata={"description": "Every feedback link issued, without tokens."},
    )
    feedback_responses = ma.fields.List(
        ma.fields.Nested(ResponseSchema),
        dump_only=True,
        metadata={"description": "Every feedback response."},
    )
