"""Reading the audit trail (`/v1/audit-events`). Events are written by every use-case through
service.db.audit."""

from __future__ import annotations

import uuid

from service.core.paging import Page, PageRequest
from service.db.audit import AuditEvent
from service.db.lookup import Lookup

# Reading the trail is not itself audited: it holds no one's data, only who did what.
EVENTS = Lookup(AuditEvent, "audit_event", "Audit event not found.")


def list_events(
    page: PageRequest,
    *,
    resource_type: str | None = None,
    resource_id: uuid.UUID | None = None,
    actor_id: str | None = None,
    action: str | None = None,
) -> Page[AuditEvent]:
    stmt = EVENTS.query()
    if resource_type:
        stmt = stmt.where(AuditEvent.resource_type == resource_type)
    if resource_id:
        stmt = stmt.where(AuditEvent.resource_id == resource_id)
    if actor_id:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return EVENTS.page(stmt, page, audited=False)
