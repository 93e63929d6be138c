"""The audit trail: who read or changed which protected resource, when, from where.

Every use-case that reads or changes PHI appends here, in its own transaction, so an event is
stored exactly when the change is. Lists record one statement per request, however many rows
they show. PostgreSQL refuses UPDATE and DELETE on the table (trigger): append-only, even for
the owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.core import context
from service.core.clock import utcnow
from service.core.ids import new_id
from service.db import uow
from service.db.base import Base, ClinicOwned


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


def record(
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None = None,
    *,
    clinic_id: uuid.UUID | None = None,
) -> None:
    """One event, in the current transaction: stored only if the change is."""
    record_many(action, resource_type, [resource_id], clinic_id=clinic_id)


def record_many(
    action: str,
    resource_type: str,
    resource_ids: Iterable[uuid.UUID | None],
    *,
    clinic_id: uuid.UUID | None = None,
) -> None:
    """One event per resource, written in a single statement."""
    record_each(action, [(resource_type, r) for r in resource_ids], clinic_id=clinic_id)


def record_each(
    action: str,
    resources: Iterable[tuple[str, uuid.UUID | None]],
    *,
    clinic_id: uuid.UUID | None = None,
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
    }
    session = uow.session()
    types, ids = [kind for kind, _ in resources], [resource for _, resource in resources]
    if session.get_bind().dialect.name == "postgresql":
        # The whole list as arrays: a page of 200 costs what one event does, where an
        # executemany of 200 rows cost more than the page's own read.
        events = {"ids": [new_id() for _ in ids], "resources": ids, "types": types}
        session.execute(_UNNESTED, {**shared, **events})
    else:
        rows = [
            {**shared, "id": new_id(), "resource_type": kind, "resource_id": resource}
            for kind, resource in resources
        ]
        session.execute(sa.insert(AuditEvent), rows)


_UNNESTED = sa.text(
    "INSERT INTO audit_events (id, resource_id, resource_type, created_at, clinic_id, "
    "actor_kind, actor_id, action, request_id, ip) SELECT event.id, event.resource_id, "
    "event.resource_type, :created_at, :clinic_id, :actor_kind, :actor_id, :action, "
    ":request_id, :ip FROM unnest(CAST(:ids AS uuid[]), CAST(:resources AS uuid[]), "
    "CAST(:types AS varchar[])) AS event(id, resource_id, resource_type)"
)
