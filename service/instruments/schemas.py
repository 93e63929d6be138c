import marshmallow as ma

from service.http.fields import BoundedInteger, JSONBoolean, Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema

LOCALE = r"^[a-z]{2}(-[A-Z]{2})?$"


def _texts(**kwargs) -> ma.fields.Dict:
    return ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Regexp(LOCALE)),
        values=Text(min_length=1, max_length=500),
        validate=ma.validate.Length(min=1, max=20),
        metadata={
            "description": 'Text per locale, e.g. {"en": "..."}.',
            "example": {"en": "How well did we work on what you wanted to work on?"},
        },
        **kwargs,
    )


class AnchorsSchema(ma.Schema):
    """The words at both ends of an item's scale, per locale."""

    min = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Regexp(LOCALE)),
        values=Text(max_length=60),
        metadata={
            "description": "The label of the lowest value, per locale.",
            "example": {"en": "Not at all"},
        },
    )
    max = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Regexp(LOCALE)),
        values=Text(max_length=60),
        metadata={
            "description": "The label of the highest value, per locale.",
            "example": {"en": "Completely"},
        },
    )


class ItemSchema(ma.Schema):
    """One question of an instrument, answered on a whole-number scale."""

    key = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^[a-z][a-z0-9_]{0,39}$"),
        metadata={
            "description": "The item's key in answers, unique in the instrument.",
            "example": "goals",
        },
    )
    text = _texts()
    min = BoundedInteger(
        minimum=-1000,
        maximum=1000,
        required=True,
        metadata={"description": "The lowest answer.", "example": 0},
    )
    max = BoundedInteger(
        minimum=-1000,
        maximum=1000,
        required=True,
        metadata={"description": "The highest answer; above `min`.", "example": 10},
    )
    step = BoundedInteger(
        minimum=1,
        maximum=1000,
        load_default=1,
        metadata={"description": "The answers between are `min` plus whole steps.", "example": 1},
    )
    watch = JSONBoolean(
        load_default=False,
        metadata={
            "description": "A low answer to this item alone raises a watch-item alert.",
            "example": False,
        },
    )
    anchors = ma.fields.Nested(
        AnchorsSchema, metadata={"description": "The words at both ends of the scale."}
    )

    @ma.validates_schema
    def _range(self, data, **_kw):
        if data["max"] <= data["min"]:
            raise ma.ValidationError("max must be above min.", "max")
        if (data["max"] - data["min"]) % data.get("step", 1):
            raise ma.ValidationError("The range must be a whole number of steps.", "step")


class NormsSchema(ma.Schema):
    """The norms a reliable change is judged against."""

    sd = ma.fields.Float(
        required=True,
        validate=ma.validate.Range(min=0, min_inclusive=False, max=10000),
        metadata={
            "description": "The standard deviation of the total score in the norm sample.",
            "example": 4.2,
        },
    )
    reliability = ma.fields.Float(
        required=True,
        validate=ma.validate.Range(min=0, max=1, max_inclusive=False),
        metadata={
            "description": "The score's reliability (Cronbach's alpha, below 1).",
            "example": 0.88,
        },
    )


def _unique_item_keys(items: list[dict]) -> None:
    keys = [item["key"] for item in items]
    if len(set(keys)) != len(keys):
        raise ma.ValidationError("Item keys must be unique.")


def _items(**kwargs) -> ma.fields.List:
    return ma.fields.List(
        ma.fields.Nested(ItemSchema),
        validate=[ma.validate.Length(min=1, max=60), _unique_item_keys],
        **kwargs,
    )


class InstrumentSchema(ma.Schema):
    """A questionnaire partners answer: built in or the clinic's own."""

    id = ma.fields.UUID(dump_only=True)
    built_in = ma.fields.Function(
        lambda i: i.clinic_id is None,
        dump_only=True,
        metadata={
            "description": "Shipped with Alliance (read-only) rather than the clinic's own.",
            "example": False,
        },
    )
    key = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "The instrument's key, shared by all its versions.",
            "example": "session-alliance",
        },
    )
    version = ma.fields.Integer(
        dump_only=True,
        metadata={
            "description": "Its version; a new version keeps the answers to older ones.",
            "example": 1,
        },
    )
    kind = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "`alliance` (after each session) or `outcome`.",
            "example": "alliance",
        },
    )
    title = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        dump_only=True,
        metadata={
            "description": "The title per locale.",
            "example": {"en": "How was today's session?"},
        },
    )
    items = ma.fields.List(
        ma.fields.Nested(ItemSchema),
        dump_only=True,
        metadata={"description": "Its questions, in the order shown."},
    )
    norms = ma.fields.Nested(
        NormsSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "The norms for reliable change; null when unknown."},
    )
    cutoff_pct = ma.fields.Float(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The clinical cutoff, as a percent of the scale; null when none.",
            "example": 75.0,
        },
    )
    answered_at = Timestamp(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When it was last answered in the clinic; null when never."},
    )
    created_at = Timestamp(dump_only=True)


class InstrumentCreateSchema(ma.Schema):
    """A new instrument of the clinic's own."""

    key = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,63}$"),
        metadata={
            "description": "Its key: lowercase letters, digits and hyphens.",
            "example": "session-alliance",
        },
    )
    kind = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(("alliance", "outcome")),
        metadata={"description": "`alliance` (after each session) or `outcome`."},
    )
    title = _texts(required=True)
    items = _items(
        required=True,
        metadata={"description": "Its questions (1 to 60, unique keys), in the order shown."},
    )
    norms = ma.fields.Nested(
        NormsSchema,
        allow_none=True,
        metadata={"description": "The norms for reliable change, when known."},
    )
    cutoff_pct = ma.fields.Float(
        allow_none=True,
        validate=ma.validate.Range(0, 100),
        metadata={
            "description": "The clinical cutoff, as a percent of the scale.",
            "example": 75.0,
        },
    )


class InstrumentChangeSchema(ma.Schema):
    """Changes to an instrument, or the content of its next version."""

    title = _texts()
    items = _items(
        metadata={"description": "Its questions (1 to 60, unique keys), in the order shown."}
    )
    norms = ma.fields.Nested(
        NormsSchema,
        allow_none=True,
        metadata={"description": "The norms for reliable change, when known."},
    )
    cutoff_pct = ma.fields.Float(
        allow_none=True,
        validate=ma.validate.Range(0, 100),
        metadata={
            "description": "The clinical cutoff, as a percent of the scale.",
            "example": 75.0,
        },
    )


class InstrumentQuerySchema(PageQuerySchema):
    kind = ma.fields.String(validate=ma.validate.OneOf(("alliance", "outcome")))
    key = ma.fields.String(validate=ma.validate.Length(max=64))


InstrumentPageSchema = page_schema(InstrumentSchema, "InstrumentPage")
