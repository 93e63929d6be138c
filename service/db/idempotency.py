"""Stored responses for `Idempotency-Key` (see service.http.idempotency for the protocol).

Kept apart from the HTTP code so use-cases can forget stored responses that mention
someone whose data is erased.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.core.clock import utcnow
from service.db import uow
from service.db.base import Base, Keyed

RETENTION = timedelta(hours=24)


class IdempotencyRecord(Keyed, Base):
    """A claimed key and, once done, the response to replay. Row-level security scopes rows
    to their clinic; platform calls (no clinic) see only rows without one."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("principal", "key"),)

    clinic_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("clinics.id"), index=True)
    principal: Mapped[str] = mapped_column(sa.String(200))
    key: Mapped[str] = mapped_column(sa.String(128))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    response_headers: Mapped[dict] = mapped_column(default=dict)
    completed_at: Mapped[datetime | None]


def forget_responses_mentioning(*resource_ids: uuid.UUID) -> int:
    """Drop stored responses that mention these ids (erasure: they may hold personal data)."""
    mentions = [IdempotencyRecord.response_body.contains(str(rid)) for rid in resource_ids]
    result = uow.session().execute(sa.delete(IdempotencyRecord).where(sa.or_(*mentions)))
    return result.rowcount or 0


def purge_expired() -> int:
    """Drop records past retention (run by the worker)."""
    result = uow.session().execute(
        sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - RETENTION)
    )
    return result.rowcount or 0
