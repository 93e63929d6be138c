"""`Idempotency-Key` for creating POSTs.

The key is claimed in its own short transaction (so a concurrent duplicate sees the claim and
gets 409), and the response is stored in the same transaction as the creation itself, so a
stored response always describes something that really was committed. A failed request
releases its claim: a retry with the same key runs again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, request
from sqlalchemy.exc import IntegrityError

from service.core import context
from service.core.clock import utcnow
from service.core.errors import Conflict, Invalid
from service.db import uow
from service.db.idempotency import RETENTION, IdempotencyRecord

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
STALE_CLAIM = timedelta(minutes=2)  # a claim this old belongs to a crashed request
REPLAYED_HEADERS = ("Location", "ETag", "Content-Type", "Link")


def protect(view: Callable, *, redact: tuple[str, ...] = ()) -> Callable:
    """`redact` names top-level response fields holding one-time secrets: they are stored
    (and so replayed) as null, so a secret shown once is never kept in this table."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not KEY_PATTERN.match(key):
            raise Invalid(
                "Idempotency-Key must be 8-128 characters of letters, digits and _.:-",
                errors={"Idempotency-Key": ["Invalid format."]},
            )
        record_id, replay = _claim(key, _fingerprint())
        if replay is not None:
            return replay
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            _release(record_id)
            raise
        if response.status_code >= 400:
            _release(record_id)
            return response
        _complete(record_id, response, redact)
        return response

    return wrapper


def _principal() -> str:
    ctx = context.current()
    who = ctx.actor.subject if ctx.actor else "anonymous"
    return f"{ctx.clinic_id or 'platform'}:{who}"


def _fingerprint() -> str:
    material = request.method + " " + request.path + "\n" + request.get_data(as_text=True)
    return hashlib.sha256(material.encode()).hexdigest()


def _claim(key: str, fingerprint: str) -> tuple[uuid.UUID, Response | None]:
    principal = _principal()
    for _attempt in range(2):
        try:
            with uow.unit_of_work() as session:
                record = IdempotencyRecord(
                    clinic_id=context.clinic_id(),
                    principal=principal,
                    key=key,
                    fingerprint=fingerprint,
                )
                session.add(record)
                session.flush()
                return record.id, None
        except IntegrityError:
            pass
        existing = _existing(principal, key)
        if existing is None:
            continue
        if existing.fingerprint != fingerprint:
            raise Invalid(
                "This Idempotency-Key was used with a different request body.",
                errors={"Idempotency-Key": ["Already used for a different request."]},
            )
        if existing.completed_at is not None:
            return existing.id, _replay(existing)
        raise Conflict("A request with this Idempotency-Key is still in progress.")
    raise Conflict("A request with this Idempotency-Key is still in progress.")


def _existing(principal: str, key: str) -> IdempotencyRecord | None:
    """The live record for the key; expired or abandoned ones are cleared for a new claim."""
    with uow.unit_of_work() as session:
        record = session.scalar(
            sa.select(IdempotencyRecord).where(
                IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
            )
        )
        if record is None:
            return None
        now = utcnow()
        expired = record.created_at < now - RETENTION
        abandoned = record.completed_at is None and record.created_at < now - STALE_CLAIM
        if expired or abandoned:
            session.delete(record)
            return None
        return record


def _release(record_id: uuid.UUID) -> None:
    with uow.unit_of_work() as session:
        session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


def _complete(record_id: uuid.UUID, response: Response, redact: tuple[str, ...] = ()) -> None:
    body = response.get_data(as_text=True)
    if redact:
        data = json.loads(body)
        body = json.dumps({k: None if k in redact else v for k, v in data.items()})
    uow.session().execute(
        sa.update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(
            status_code=response.status_code,
            response_body=body,
            response_headers={
                h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers
            },
            completed_at=utcnow(),
        )
    )


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body, status=record.status_code)
    for name, value in record.response_headers.items():
        response.headers[name] = value
    response.headers["Idempotency-Replayed"] = "true"
    response.headers["Idempotent-Replayed"] = "true"  # the former name, for existing clients
    return response
