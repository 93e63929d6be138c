"""What apispec leaves out when it turns marshmallow fields into JSON Schema, added once so
the OpenAPI document says exactly what the server accepts (schemathesis holds it to that)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin


def exclusive_bounds(self: Any, field: ma.fields.Field, ret: dict, **_kw: Any) -> dict:
    """`Range(min_inclusive=False)` is `exclusiveMinimum` (apispec writes `minimum`)."""
    extra: dict[str, Any] = {}
    for validator in field.validators:
        if not isinstance(validator, ma.validate.Range):
            continue
        if validator.min is not None and not validator.min_inclusive:
            ret.pop("minimum", None)
            extra["exclusiveMinimum"] = validator.min
        if validator.max is not None and not validator.max_inclusive:
            ret.pop("maximum", None)
            extra["exclusiveMaximum"] = validator.max
    return extra


def dict_keys(self: Any, field: ma.fields.Field, **_kw: Any) -> dict:
    """A `Dict`'s key field (a locale, a partner id...) as `propertyNames`."""
    if not isinstance(field, ma.fields.Dict) or field.key_field is None:
        return {}
    names = self.field2property(field.key_field)
    names.pop("type", None)  # property names are strings anyway
    return {"propertyNames": names} if names else {}


def install(plugin: MarshmallowPlugin) -> None:
    plugin.converter.map_to_openapi_type(ma.fields.Url, "string", "uri")
    for function in (exclusive_bounds, dict_keys):
        plugin.converter.add_attribute_function(function)
