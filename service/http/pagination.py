"""Opaque cursors, the `limit`/`cursor` query arguments and the list envelope with `Link`."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import request

from service.core import bounded_json
from service.core.paging import Key, Page, PageRequest
from service.http.dumping import FastDump

MAX_LIMIT = 200


def encode_cursor(key: Key) -> str:
    raw = json.dumps([key[0].isoformat(), str(key[1])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, ident = bounded_json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(ident)
    except (ValueError, TypeError, binascii.Error, UnicodeError, json.JSONDecodeError) as exc:
        raise ma.ValidationError(
            "Not a valid cursor; use next_cursor from a previous page."
        ) from exc


class Cursor(ma.fields.String):
    """The unpadded base64url text `encode_cursor` writes (documented as such)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metadata.setdefault("pattern", r"^[A-Za-z0-9_-]+$")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Key:
        return decode_cursor(super()._deserialize(value, attr, data, **kwargs))


class PageQuerySchema(ma.Schema):
    """Base of every list's query schema: `limit` and `cursor`, plus the list's filters."""

    limit = ma.fields.Integer(
        load_default=50,
        validate=ma.validate.Range(1, MAX_LIMIT),
        metadata={"description": "How many items a page holds at most.", "example": 50},
    )
    cursor = Cursor(metadata={"description": "Opaque; the `next_cursor` of the previous page."})

    @ma.post_load
    def _to_page_request(self, data: dict[str, Any], **_kw: Any) -> dict[str, Any]:
        data["page"] = PageRequest(limit=data.pop("limit"), after=data.pop("cursor", None))
        return data


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """`{"items": [...], "next_cursor": str | null}` for one item schema, dumped by plan: a
    page's many items are where marshmallow's per-value cost adds up."""
    schema = FastDump.from_dict(
        {
            "items": ma.fields.List(
                ma.fields.Nested(item_schema),
                required=True,
                metadata={"description": "This page's items, in the list's order."},
            ),
            "next_cursor": ma.fields.String(
                required=True, allow_none=True, metadata={"example": "WyIyMDI2LTExLTAyVDE1"}
            ),
        },
        name=name,
    )
    schema.__doc__ = "One page of a list; the `Link` header and `next_cursor` lead to the next."
    return schema


def paged(page: Page[Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The envelope and its `Link: <...>; rel="next"` header, for a view to return."""
    cursor = encode_cursor(page.next_after) if page.next_after else None
    headers = {}
    if cursor:
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
        query = urlencode([*args, ("cursor", cursor)])
        headers["Link"] = f'<{request.base_url}?{query}>; rel="next"'
    return {"items": page.items, "next_cursor": cursor}, headers
