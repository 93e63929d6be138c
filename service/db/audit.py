"""The audit trail: who read or changed which protected resource, when, from where.

Every use-case that reads or changes PHI appends here, in its own transaction, so an event is
stored exactly when the change is. Lists record one statement per request, however many rows
they show. PostgreSQL refuses UPDATE and DELETE on the table (trigger): append-only, even for
the owner.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.core import context, metrics
from service.core.clock import utcnow
from service.core.errors import Forbidden, Unauthenticated
from service.core.ids import new_id
from service.db import uow
from service.db.base import Base, ClinicOwned

log = logging.getLogger(__name__)


class AuditEvent(ClinicOwned, Base):
    """Who did what to which resource. Never holds the data itself."""

    __tablename__ = "audit_events"
    __table_args__ = ClinicOwned.tenant_table_args(
        sa.Index(None, "clinic_id", "created_at", "id"),
        sa.Index(None, "clinic_id", "resource_type", "resource_id"),
    )

    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str] = mapped_column(sa.String(120))
    action: Mapped[str] = mapped_column(sa.String(40))
    resource_type: Mapped[str] = mapped_column(sa.String(40))
    resource_id: Mapped[uuid.UUID | None]
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    # The URL rule the request matched (`/v1/couples/<uuid:couple_id>`: a template, no ids).
    route: Mapped[str | None] = mapped_column(sa.String(200))
    # Why a sign-in or request was refused, as the caller was told (never what they typed).
    reason: Mapped[str | None] = mapped_column(sa.String(200))


def record(
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None = None,
    *,
    clinic_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> None:
    """One event, in the current transaction: stored only if the change is."""
    record_many(action, resource_type, [resource_id], clinic_id=clinic_id, reason=reason)


def record_many(
    action: str,
    resource_type: str,
    resource_ids: Iterable[uuid.UUID | None],
    *,
    clinic_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> None:
    """One event per resource, written in a single statement."""
    record_each(
        action, [(resource_type, r) for r in resource_ids], clinic_id=clinic_id, reason=reason
    )


def record_each(
    action: str,
    resources: Iterable[tuple[str, uuid.UUID | None]],
    *,
    clinic_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> None:
    """One event per (resource type, id), of any types, in a single statement: a list of
    couples audits them and their partners at once."""
    resources = list(resources)
    if not resources:
        return
    ctx = context.current()
    actor = ctx.actor
    shared = {
        "created_at": utcnow(),
        "clinic_id": clinic_id or ctx.clinic_id,
        "actor_kind": actor.kind if actor else "anonymous",
        "actor_id": actor.subject if actor else "-",
        "action": action,
        "request_id": ctx.request_id,
        "ip": ctx.ip,
        "route": ctx.route,
        "reason": reason[:200] if reason else None,
    }
    session = uow.session()
    engine = session.get_bind().engine  # a test's session is bound to a connection
    if engine.dialect.name == "postgresql" and not _is_citus(engine):
        # The whole list as arrays, one statement built once: a multi-row VALUES of 150 events
        # cost more to compile on every request than the page's own read. Each array is sent
        # as one comma-joined text: psycopg dumps a list element by element, in Python.
        events = {
            "ids": ",".join(str(new_id()) for _ in resources),
            "resources": ",".join(str(resource or "") for _, resource in resources),
            "types": ",".join(kind for kind, _ in resources),
        }
        session.execute(_UNNESTED, {**shared, **events})
        return
    # Citus turns the unnest insert into a COPY, which row-level security refuses; a
    # multi-row VALUES it routes to the clinic's shard. SQLite has no arrays.
    rows = [
        {**shared, "id": new_id(), "resource_type": kind, "resource_id": resource}
        for kind, resource in resources
    ]
    session.execute(sa.insert(AuditEvent).values(rows))


@functools.cache
def _is_citus(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'citus'"))
        )


_UNNESTED = sa.text(
    "INSERT INTO audit_events (id, resource_id, resource_type, created_at, clinic_id, "
    "actor_kind, actor_id, action, request_id, ip, route, reason) SELECT event.id, "
    "event.resource_id, event.resource_type, :created_at, :clinic_id, :actor_kind, :actor_id, "
    ":action, :request_id, :ip, :route, :reason FROM unnest("
    "CAST(string_to_array(:ids, ',') AS uuid[]), "
    "CAST(string_to_array(:resources, ',', '') AS uuid[]), string_to_array(:types, ',')) "
    "AS event(id, resource_id, resource_type)"
)


def record_refusal(error: Exception) -> None:
    """A refused request (401, 403) in the caller's clinic's trail: one event, committed on its
    own (the request's own work is rolled back; the refusal stays), with the reason the caller
    was told. No clinic known (no usable token) leaves no trail to file it in. Failing to
    record it never changes the answer."""
    if not isinstance(error, (Unauthenticated, Forbidden)) or context.clinic_id() is None:
        return
    try:
        with uow.unit_of_work():
            record("refused", "request", reason=error.detail)
    except Exception as exc:  # the refusal stands, audited or not
        log.warning("refusal not audited", extra=metrics.failure("audit", exc))
