"""Responses that pair a resource with values shown only once (a one-time link, a secret).

A use-case returns a small dataclass with the resource in `resource` and the extra values
beside it; its response schema mixes in `WithResource`, so every field is read from the result
when the result has it, and from the resource otherwise.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma


class WithResource(ma.Schema):
    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        source = obj if hasattr(obj, attr.split(".", 1)[0]) else obj.resource
        return super().get_attribute(source, attr, default)
