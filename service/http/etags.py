"""ETags from the resource's version counter, and the `If-Match` precondition."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Response, request

from service.core.errors import Malformed, PreconditionFailed

# One entity tag, `*`, or nothing (the documented pattern of the If-Match header).
IF_MATCH = re.compile(r'^(\*|(W/)?"[^"]{1,64}")?$')


def etag(version: int) -> str:
    return f'"{version}"'


def headers_for(version: int) -> dict[str, str]:
    return {"ETag": etag(version)}


def conditional(tag: str, body: Callable[[], str], mimetype: str) -> Response:
    """A GET answered by its entity tag: 304 when `If-None-Match` names it (the body is never
    built), else the body. `private, no-cache`: the client keeps it, but asks each time."""
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if request.if_none_match.contains_weak(tag.strip('"')):
        return Response(status=304, headers=headers)
    return Response(body(), mimetype=mimetype, headers=headers)


def check(version: int) -> None:
    """Raise 412 if the caller sent `If-Match` and it is not the current version.

    The UPDATE itself is guarded by the version too (SQLAlchemy's version_id_col), so two
    writers holding the same ETag cannot both win even when they pass this check together.
    """
    header = request.headers.get("If-Match")
    if header is None or not header.strip():  # an empty list of tags asks for nothing
        return
    if not IF_MATCH.match(header.strip()):
        raise Malformed(
            'If-Match must be an entity tag such as "3".',
            errors={"If-Match": ["Not an entity tag."]},
        )
    if header.strip() != "*" and header.strip().removeprefix("W/") != etag(version):
        raise PreconditionFailed("The resource changed since you read it; fetch it again.")
