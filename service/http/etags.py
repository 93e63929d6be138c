"""ETags from the resource's version counter, and the `If-Match` precondition."""

from __future__ import annotations

from flask import request

from service.core.errors import PreconditionFailed


def etag(version: int) -> str:
    return f'"{version}"'


def headers_for(version: int) -> dict[str, str]:
    return {"ETag": etag(version)}


def check(version: int) -> None:
    """Raise 412 if the caller sent `If-Match` and it is not the current version.

    The UPDATE itself is guarded by the version too (SQLAlchemy's version_id_col), so two
    writers holding the same ETag cannot both win even when they pass this check together.
    """
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return
    offered = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if etag(version) not in offered:
        raise PreconditionFailed("The resource changed since you read it; fetch it again.")
