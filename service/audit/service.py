"""Reading the audit trail (`/v1/audit-events`). Events are written by every use-case through
service.db.audit."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from service.alerts import service as alerts
from service.core.paging import Page, PageRequest
from service.couples import service as couples
from service.db.audit import AuditEvent
from service.db.lookup import Lookup
from service.feedback import history, links
from service.therapy_sessions import service as sessions


def _about_visible_resources(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Events about a resource the caller may not see (another caseload's couple, a safety
    alert an integrator is never shown) are not shown to it: their ids alone say too much.
    Events about other kinds of resource (staff, the clinic, a refused request) are."""
    visible_ids = {
        "couple": couples.COUPLES.ids(),
        "alliance_chart": couples.COUPLES.ids(),  # a couple's chart, by the couple's id
        "partner": couples.PARTNERS.ids(),
        "session": sessions.SESSIONS.ids(),
        "alert": alerts.ALERTS.ids(),
        "feedback_response": history.visible_response_ids(),
        "feedback_request": links.visible_request_ids(),
    }
    return stmt.where(
        sa.or_(
            AuditEvent.resource_type.not_in(list(visible_ids)),
            *(
                sa.and_(AuditEvent.resource_type == kind, AuditEvent.resource_id.in_(ids))
                for kind, ids in visible_ids.items()
            ),
        )
    )


# Reading the trail is not itself audited: it holds no one's data, only who did what.
EVENTS = Lookup(
    AuditEvent, "audit_event", "Audit event not found.", visible=_about_visible_resources
)


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
