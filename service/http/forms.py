"""CSRF for the server-rendered forms (sign-in, set password, the clinician pages): a random
token per purpose, kept in Flask's signed session cookie (nobody may be signed in yet),
echoed in a hidden `csrf_token` field and compared in constant time."""

from __future__ import annotations

import hmac

from flask import request, session

from service.core.ids import new_secret

FIELD = "csrf_token"


def csrf_token(purpose: str) -> str:
    """The token a form for `purpose` carries (made on first use)."""
    key = _key(purpose)
    if not session.get(key):
        session[key] = new_secret()
    return session[key]


def csrf_valid(purpose: str) -> bool:
    """Whether the posted form carries this browser's token for `purpose`."""
    expected = session.get(_key(purpose))
    offered = request.form.get(FIELD, "")
    return bool(expected) and hmac.compare_digest(str(expected).encode(), offered.encode())


def forget(purpose: str) -> None:
    """A used sign-in form's token is not reused (a new one comes with the next form)."""
    session.pop(_key(purpose), None)


def _key(purpose: str) -> str:
    return f"csrf.{purpose}"
