import marshmallow as ma

from service.http.fields import Text, Timestamp
from service.http.pagination import PageQuerySchema, page_schema

LOCALE = r"^[a-z]{2}(-[A-Z]{2})?$"


def _texts(**kwargs) -> ma.fields.Dict:
    return ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Regexp(LOCALE)),
        values=Text(min_length=1, max_length=500),
        validate=ma.validate.Length(min=1, max=20),
        metadata={"description": 'Text per locale, e.g. {"en": "..."}.', "example": {"en": "..."}},
        **kwargs,
    )


class AnchorsSchema(ma.Schema):
    min = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Regexp(LOCALE)), values=Text(max_length=60)
    )
    max = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Regexp(LOCALE)), values=Text(max_length=60)
    )


class ItemSchema(ma.Schema):
    key = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[a-z][a-z0-9_]{0,39}$"))
    text = _texts()
    min = ma.fields.Integer(required=True, validate=ma.validate.Range(-1000, 1000))
    max = ma.fields.Integer(required=True, validate=ma.validate.Range(-1000, 1000))
    step = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, 1000))
    watch = ma.fields.Boolean(load_default=False)
    anchors = ma.fields.Nested(AnchorsSchema)

    @ma.validates_schema
    def _range(self, data, **_kw):
        if data["max"] <= data["min"]:
            raise ma.ValidationError("max must be above min.", "max")
        if (data["max"] - data["min"]) % data.get("step", 1):
            raise ma.ValidationError("The range must be a whole number of steps.", "step")


class NormsSchema(ma.Schema):
    sd = ma.fields.Float(
        required=True, validate=ma.validate.Range(min=0, min_inclusive=False, max=10000)
    )
    reliability = ma.fields.Float(
        required=True, validate=ma.validate.Range(min=0, max=1, max_inclusive=False)
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
    id = ma.fields.UUID(dump_only=True)
    built_in = ma.fields.Function(lambda i: i.clinic_id is None, dump_only=True)
    key = ma.fields.String(dump_only=True)
    version = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String(dump_only=True)
    title = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), dump_only=True)
    items = ma.fields.List(ma.fields.Nested(ItemSchema), dump_only=True)
    norms = ma.fields.Nested(NormsSchema, dump_only=True, allow_none=True)
    cutoff_pct = ma.fields.Float(dump_only=True, allow_none=True)
    answered_at = Timestamp(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)


class InstrumentCreateSchema(ma.Schema):
    key = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,63}$"))
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(("alliance", "outcome")))
    title = _texts(required=True)
    items = _items(required=True)
    norms = ma.fields.Nested(NormsSchema, allow_none=True)
    cutoff_pct = ma.fields.Float(allow_none=True, validate=ma.validate.Range(0, 100))


class InstrumentChangeSchema(ma.Schema):
    title = _texts()
    items = _items()
    norms = ma.fields.Nested(NormsSchema, allow_none=True)
    cutoff_pct = ma.fields.Float(allow_none=True, validate=ma.validate.Range(0, 100))


class InstrumentQuerySchema(PageQuerySchema):
    kind = ma.fields.String(validate=ma.validate.OneOf(("alliance", "outcome")))
    key = ma.fields.String(validate=ma.validate.Length(max=64))


InstrumentPageSchema = page_schema(InstrumentSchema, "InstrumentPage")
