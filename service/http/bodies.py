"""Every JSON body is read once, through the bounded reader (`service.core.bounded_json`), before
any credential, link or schema looks at it: a hostile body (a 5,000-digit number, arrays nested
thousands deep) is a 400 naming the problem on every route, public ones included.

`install` makes the reader Flask's (`request.get_json()`) and parses each JSON body first
thing in the request; the API's arguments parser and the FHIR transaction read that result.
"""

from __future__ import annotations

from typing import Any, NoReturn

import flask
from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest

from service.core import bounded_json


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **_kwargs: Any) -> Any:
        return bounded_json.loads(s)


class JSONRequest(flask.Request):
    def on_json_loading_failed(self, e: ValueError | None) -> NoReturn:
        if e is None:  # not a JSON content type
            super().on_json_loading_failed(e)
        message = str(e) if isinstance(e, bounded_json.UnsafeJSON) else "Invalid JSON body."
        error = BadRequest(message)
        error.data = {"messages": {"json": [message]}}  # the shape webargs gives problems.py
        raise error


class BoundedParser(FlaskParser):
    """webargs would parse again with plain `json.loads`, catching only JSONDecodeError."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        return req.get_json() if _has_json(req) else core.missing


def install(app: flask.Flask) -> None:
    app.json = BoundedJSONProvider(app)
    app.request_class = JSONRequest
    app.before_request(_read_json_body)


def _read_json_body() -> None:
    if flask.request.url_rule is not None and _has_json(flask.request):
        flask.request.get_json()  # cached for whoever reads it next


def _has_json(req: flask.Request) -> bool:
    return req.is_json and bool(req.get_data(cache=True))
