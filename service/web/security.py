"""The headers every server-rendered page under /f/ and /app/ sends: a strict
Content-Security-Policy (a stylesheet from this site; nothing inline, no script, nothing from
another site), no framing, no referrer, no caching, not indexed."""

from __future__ import annotations

from flask import Blueprint, Response, request

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def protect(blueprint: Blueprint, prefix: str) -> None:
    """Every response under `prefix`: pages, stylesheets, errors, even unmatched paths."""

    @blueprint.after_app_request
    def _headers(response: Response) -> Response:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            response.headers.update(HEADERS)
        return response
