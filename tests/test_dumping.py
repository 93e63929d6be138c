"""A planned dump (service.http.dumping) writes what marshmallow's own dump writes, for every
kind of field the API's schemas use and the ones that fall back to marshmallow."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import marshmallow as ma

from service.http.dumping import FastDump
from service.http.fields import Timestamp


class Inner(ma.Schema):
    id = ma.fields.UUID()
    name = ma.fields.String()


FIELDS = {
    "id": ma.fields.UUID(),
    "name": ma.fields.String(data_key="title"),
    "renamed": ma.fields.String(attribute="label"),
    "count": ma.fields.Integer(),
    "ratio": ma.fields.Float(),
    "flag": ma.fields.Boolean(),
    "at": Timestamp(allow_none=True),
    "absent": ma.fields.String(),
    "defaulted": ma.fields.String(dump_default="none given"),
    "tags": ma.fields.List(ma.fields.String()),
    "inner": ma.fields.Nested(Inner, allow_none=True),
    "inners": ma.fields.List(ma.fields.Nested(Inner)),
    "some_inners": ma.fields.Nested(Inner, many=True, only=("id",)),
    "computed": ma.fields.Function(lambda obj: type(obj).__name__),
    "path": ma.fields.String(attribute="inner.name"),
    "count_text": ma.fields.Integer(as_string=True),
}


def _row(**changes):
    inner = SimpleNamespace(id=uuid.uuid4(), name="inner")
    values = {
        "id": uuid.uuid4(),
        "name": "Ana",
        "label": "The Riveras",
        "count": 3,
        "count_text": 4,
        "ratio": 0.5,
        "flag": True,
        "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "tags": ["a", "b"],
        "inner": inner,
        "inners": [inner, inner],
        "some_inners": [inner],
    }
    return SimpleNamespace(**(values | changes))


def test_a_planned_dump_writes_what_marshmallow_writes():
    planned = FastDump.from_dict(FIELDS, name="Planned")()
    plain = ma.Schema.from_dict(FIELDS, name="Plain")()
    rows = [_row(), _row(at=None, inner=None, tags=[], name=12)]
    assert planned.dump(rows, many=True) == plain.dump(rows, many=True)
    as_dict = vars(_row())
    assert planned.dump(as_dict) == plain.dump(as_dict)
    page = FastDump.from_dict({"items": ma.fields.List(ma.fields.Nested(planned.__class__))})()
    assert page.dump({"items": rows}) == {"items": plain.dump(rows, many=True)}


def test_a_schema_with_dump_hooks_is_dumped_by_marshmallow():
    class Hooked(FastDump):
        name = ma.fields.String()

        @ma.post_dump
        def shout(self, data, **_kw):
            return {key: value.upper() for key, value in data.items()}

    assert Hooked().dump(SimpleNamespace(name="ana")) == {"name": "ANA"}
