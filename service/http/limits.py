"""Rate limits (login, token, partner form, public directory): 429 with Retry-After."""

from flask import Response, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def retry_after(response: Response, seconds: int) -> Response:
    """A 429 of the app's own (a locked account) says exactly when to come back. On a rate
    limited route the limiter would stretch it to its own window's reset (and round it down):
    `keep_own_retry_after` puts it back."""
    response.headers["Retry-After"] = g.own_retry_after = str(seconds)
    return response


def keep_own_retry_after(response: Response) -> Response:
    """Runs after the limiter's header injection (service.http.pipeline)."""
    own = g.get("own_retry_after")
    if own:
        response.headers["Retry-After"] = own
    return response
