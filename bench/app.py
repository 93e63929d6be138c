"""What `bench.http_load` serves with gunicorn (`gunicorn bench.app:app`): the real app, read
from the environment like `wsgi.py`, plus

- `POST /bench/bare`, the floor a submit is compared with: authenticated and tenant-scoped
  like every route, it inserts one row (an audit event) through the same unit of work;
- `X-Statements` and `X-Transactions` on every response: the SQL statements and commits the
  request cost (sync workers: one request at a time per process).
"""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy import event

from service import create_app
from service.db import audit, uow
from service.http.extensions import require, transactional
from service.settings import Settings

app = create_app(Settings.from_env())
spent = {"statements": 0, "transactions": 0}


def bare_insert() -> tuple[str, int]:
    audit.record("bench", "bench")
    return "", 204


def _statement(*_: Any) -> None:
    spent["statements"] += 1


def _commit(*_: Any) -> None:
    spent["transactions"] += 1


@app.before_request
def _start_counting() -> None:
    spent.update(statements=0, transactions=0)


@app.after_request
def _report_spent(response: Response) -> Response:
    response.headers["X-Statements"] = str(spent["statements"])
    response.headers["X-Transactions"] = str(spent["transactions"])
    return response


app.add_url_rule(
    "/bench/bare",
    "bench_bare",
    transactional(require("feedback.write")(bare_insert)),
    methods=["POST"],
)
for engine in {uow.database().engine, uow.database().system_engine}:  # the app's and system's
    event.listen(engine, "before_cursor_execute", _statement)
    event.listen(engine, "commit", _commit)
