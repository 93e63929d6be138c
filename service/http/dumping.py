"""A schema's dump, planned once: the same output as marshmallow's `Schema.dump`, without its
per-value dispatch (a list of 50 couples with their partners cost more to dump than to read).

`FastDump` is a schema base: its `dump` follows a plan made from the schema's own dump fields
the first time it is used, so the documented schema stays the only description of the output.
Each field still formats its value with its own `_serialize`; only the walk is planned. What the
plan cannot reproduce exactly (dump hooks, a custom accessor, a field that reads its value its
own way) falls back to marshmallow for that schema or that field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow.schema import POST_DUMP, PRE_DUMP
from marshmallow.utils import missing

Step = Callable[[Any, bool], Any]  # a field's output for an object (has items?), or `missing`


class FastDump(ma.Schema):
    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        dump_one = plan(self)
        if dump_one is None:
            return super().dump(obj, many=many)
        many = self.many if many is None else bool(many)
        if many and obj is not None:
            return [dump_one(each) for each in obj]
        return dump_one(obj)


def plan(schema: ma.Schema) -> Callable[[Any], dict[str, Any]] | None:
    """`schema`'s dump of one object, or None when only marshmallow can do it (hooks, an
    accessor of its own). Made once per schema instance."""
    cached = schema.__dict__.get("_dump_plan", missing)
    if cached is not missing:
        return cached
    made = None
    plain_access = type(schema).get_attribute is ma.Schema.get_attribute
    if plain_access and not schema._hooks[PRE_DUMP] and not schema._hooks[POST_DUMP]:
        steps = [
            (field.data_key if field.data_key is not None else name, _step(schema, name, field))
            for name, field in schema.dump_fields.items()
        ]
        made = _dumper(steps)
    schema.__dict__["_dump_plan"] = made
    return made


def _dumper(steps: list[tuple[str, Step]]) -> Callable[[Any], dict[str, Any]]:
    def dump_one(obj: Any) -> dict[str, Any]:
        by_item = hasattr(obj, "__getitem__")
        out = {}
        for key, step in steps:
            value = step(obj, by_item)
            if value is not missing:
                out[key] = value
        return out

    return dump_one


def _step(schema: ma.Schema, name: str, field: ma.fields.Field) -> Step:
    key = field.attribute if field.attribute is not None else name
    plain = type(field).get_value is ma.fields.Field.get_value and field._CHECK_ATTRIBUTE
    if not plain or "." in key:
        return lambda obj, _by_item: field.serialize(name, obj, accessor=schema.get_attribute)
    convert = _converter(field, name)
    default = field.dump_default

    def step(obj: Any, by_item: bool) -> Any:
        value = _item_of(obj, key) if by_item else getattr(obj, key, missing)
        if value is missing:
            value = default() if callable(default) else default
            if value is missing:
                return missing
        return convert(value, obj)

    return step


def _converter(field: ma.fields.Field, name: str) -> Callable[[Any, Any], Any]:
    """A value's output: a nested schema's own plan, else the field's own formatting (a
    string field's `str` and null values kept as they are, which is what it would return)."""
    nested = _nested_dump(field)
    if nested is not None:
        return lambda value, _obj: None if value is None else nested(value)
    if type(field) is ma.fields.List:
        inner = _nested_dump(field.inner)
        if inner is not None:
            return lambda value, _obj: (
                None if value is None else [None if v is None else inner(v) for v in value]
            )
    formatted = field._serialize
    if type(field) is ma.fields.String:
        return lambda value, obj: (
            value if value is None or type(value) is str else formatted(value, name, obj)
        )
    return lambda value, obj: formatted(value, name, obj)


def _nested_dump(field: ma.fields.Field) -> Callable[[Any], Any] | None:
    if type(field) is not ma.fields.Nested:
        return None
    schema = field.schema
    dump_one = plan(schema)
    if dump_one is None:
        return None
    if schema.many or field.many:
        return lambda value: [dump_one(each) for each in value]
    return dump_one


def _item_of(obj: Any, key: str) -> Any:
    """marshmallow's lookup of a key in an object that has items: item, else attribute."""
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, key, missing)
