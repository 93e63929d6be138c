"""Append audit events. Called by every use-case that reads or changes protected data."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from service.audit.models import AuditEvent
from service.core import context
from service.core.paging import Page, PageRequest
from service.db import uow
from service.db.keyset import keyset_page


def record(
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None = None,
    *,
    clinic_id: uuid.UUID | None = None,
) -> None:
    """Add an event to the current transaction: it is stored only if the change is."""
    ctx = context.current()
    actor = ctx.actor
    uow.session().add(
        AuditEvent(
            clinic_id=clinic_id or ctx.clinic_id,
            actor_kind=actor.kind if actor else "anonymous",
            actor_id=actor.subject if actor else "-",
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            request_id=ctx.request_id,
            ip=ctx.ip,
        )
    )


def record_many(action: str, resource_type: str, resource_ids: list[uuid.UUID]) -> None:
    for resource_id in resource_ids:
        record(action, resource_type, resource_id)


def list_events(
    page: PageRequest,
    *,
    resource_type: str | None = None,
    resource_id: uuid.UUID | None = None,
    actor_id: str | None = None,
    action: str | None = None,
) -> Page[AuditEvent]:
    stmt = sa.select(AuditEvent)
    if resource_type:
        stmt = stmt.where(AuditEvent.resource_type == resource_type)
    if resource_id:
        stmt = stmt.where(AuditEvent.resource_id == resource_id)
    if actor_id:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return keyset_page(stmt, AuditEvent, page)
