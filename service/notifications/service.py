"""Write outbox messages in the caller's transaction; delivery is the worker's job."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.alerts.models import Alert
from service.audit import service as audit
from service.clinics.models import Clinic
from service.core.clock import utcnow
from service.core.errors import Conflict, Invalid, NotFound
from service.core.ids import new_id
from service.core.paging import Key, Page, PageRequest
from service.couples.models import Couple
from service.db import uow
from service.db.keyset import keyset_page
from service.notifications import alert_emails, webhooks
from service.notifications.models import Event, OutboxMessage, WebhookEndpoint
from service.settings import Settings
from service.staff.models import StaffMember


def enqueue_email(*, topic: str, to: str, subject: str, text: str, html: str) -> OutboxMessage:
    message = OutboxMessage(
        channel="email", topic=topic, recipient=to, subject=subject, body_text=text, body_html=html
    )
    uow.session().add(message)
    return message


def enqueue_event(topic: str, payload: dict) -> OutboxMessage:
    """A change event, in the caller's transaction: a row of the events feed, and an outbox
    row the worker fans out to the subscribed webhook endpoints. Payloads carry ids, never
    PHI; receivers and feed readers dedupe on `event_id`."""
    session = uow.session()
    event = Event(id=new_id(), topic=topic, payload=payload)
    session.add(event)
    message = OutboxMessage(
        channel="webhook", topic=topic, recipient="*",
        payload={**payload, "event_id": str(event.id), "type": topic},
    )
    session.add(message)
    return message


def forget_emails_to(address: str) -> int:
    """Erasure: drop undelivered emails to this address (they hold it and a link)."""
    result = uow.session().execute(
        sa.delete(OutboxMessage).where(
            OutboxMessage.recipient == address, OutboxMessage.status == "pending"
        )
    )
    return result.rowcount or 0


# -- webhook endpoints (`/v1/webhook-endpoints`) ------------------------------------------------


def create_endpoint(data: dict[str, Any], *, allow_private: bool) -> WebhookEndpoint:
    """A new endpoint with a fresh secret: the caller shows `secret` once, never again."""
    _check_target(data["url"], allow_private)
    endpoint = WebhookEndpoint(
        url=data["url"],
        events=_topics(data["events"]),
        description=data.get("description"),
        secret=webhooks.new_secret(),
    )
    uow.session().add(endpoint)
    uow.session().flush()
    audit.record("create", "webhook_endpoint", endpoint.id)
    return endpoint


def list_endpoints(page: PageRequest) -> Page[WebhookEndpoint]:
    return keyset_page(sa.select(WebhookEndpoint), WebhookEndpoint, page)


def get_endpoint(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = uow.session().get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("Webhook endpoint not found.")
    return endpoint


def update_endpoint(
    endpoint_id: uuid.UUID, changes: dict[str, Any], check_version: Any, *, allow_private: bool
) -> WebhookEndpoint:
    endpoint = get_endpoint(endpoint_id)
    check_version(endpoint.version)
    if "url" in changes:
        _check_target(changes["url"], allow_private)
    if "events" in changes:
        changes["events"] = _topics(changes["events"])
    if changes.get("enabled") and not endpoint.enabled:  # re-enabled: a fresh start
        endpoint.disabled_reason, endpoint.failing_since = None, None
    if changes.get("enabled") is False:
        endpoint.disabled_reason = "Disabled by the clinic."
    for name, value in changes.items():
        setattr(endpoint, name, value)
    uow.session().flush()
    audit.record("update", "webhook_endpoint", endpoint.id)
    return endpoint


def delete_endpoint(endpoint_id: uuid.UUID, check_version: Any) -> None:
    """Deleted with its secret; its undelivered messages go dead when the worker meets them."""
    endpoint = get_endpoint(endpoint_id)
    check_version(endpoint.version)
    uow.session().delete(endpoint)
    uow.session().flush()
    audit.record("delete", "webhook_endpoint", endpoint_id)


def rotate_secret(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """A new secret, shown once; the previous one keeps signing for 24 h alongside it."""
    endpoint = get_endpoint(endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = utcnow() + webhooks.ROTATION_OVERLAP
    endpoint.secret = webhooks.new_secret()
    uow.session().flush()
    audit.record("rotate_secret", "webhook_endpoint", endpoint.id)
    return endpoint


def list_deliveries(
    endpoint_id: uuid.UUID, page: PageRequest, status: str | None = None
) -> Page[OutboxMessage]:
    """The endpoint's delivery log: one outbox row per event sent (or being sent) to it."""
    endpoint = get_endpoint(endpoint_id)
    stmt = sa.select(OutboxMessage).where(
        OutboxMessage.channel == "webhook", OutboxMessage.recipient == str(endpoint.id)
    )
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    return keyset_page(stmt, OutboxMessage, page)


def retry_delivery(endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> OutboxMessage:
    """Manual retry: due now (a dead delivery is re-driven, a pending one hurried)."""
    endpoint = get_endpoint(endpoint_id)
    message = uow.session().scalar(
        sa.select(OutboxMessage).where(
            OutboxMessage.id == delivery_id,
            OutboxMessage.channel == "webhook",
            OutboxMessage.recipient == str(endpoint.id),
        ).with_for_update()
    )
    if message is None:
        raise NotFound("Delivery not found.")
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled; enable it before retrying.",
                       errors={"enabled": ["Disabled."]})
    if message.lease_until is not None and message.lease_until > utcnow():
        raise Conflict("A worker is delivering this message right now.")
    message.status, message.next_attempt_at, message.lease_until = "pending", utcnow(), None
    uow.session().flush()
    audit.record("retry", "webhook_delivery", message.id)
    return message


def _check_target(url: str, allow_private: bool) -> None:
    try:
        webhooks.check_url(url, allow_private=allow_private)
    except webhooks.UnsafeTarget as exc:
        raise Invalid(str(exc), errors={"url": [str(exc)]}) from exc


def _topics(topics: list[str]) -> list[str]:
    unknown = sorted(set(topics) - set(webhooks.TOPICS))
    if unknown:
        raise Invalid("Unknown event type.", errors={"events": [f"Unknown: {', '.join(unknown)}"]})
    return [topic for topic in webhooks.TOPICS if topic in topics]


# -- the events feed (`/v1/events`) ----------------------------------------------------------

# Rows are listed only once they are this old: a transaction that began earlier may commit an
# event with an earlier `created_at` after a reader has moved past it; waiting closes that gap
# for any transaction shorter than this.
FEED_SETTLE = timedelta(seconds=2)


def list_events(
    limit: int, after: Key | None = None
) -> tuple[list[dict[str, Any]], Key | None, bool]:
    """Events after the cursor, oldest first: (items, cursor to continue from, more now?).

    The cursor is returned even at the end of the feed, so a reader polls with it."""
    stmt = sa.select(Event).where(Event.created_at <= utcnow() - FEED_SETTLE)
    if after is not None:
        stmt = stmt.where(sa.tuple_(Event.created_at, Event.id) > sa.tuple_(*after))
    rows = list(uow.session().scalars(stmt.order_by(Event.created_at, Event.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1].created_at, rows[-1].id) if rows else after
    return [webhooks.event_item(row) for row in rows], last, more


# -- emails to staff: alerts (DESIGN §9) and invitations ------------------------------------
# The rules (who, what, when) are pure, in alert_emails; this is the thin database part.
# The jobs (`compose_digests`, `escalate_unacknowledged`) run in the worker's transaction, in
# the system context, across clinics: every row they write names its clinic.

_configured: list[Settings] = []
ALERT_TOPIC, DIGEST_TOPIC, ESCALATION_TOPIC = "alert.email", "alert.digest", "alert.escalation"


def configure(settings: Settings) -> None:
    """The deployment's settings, for links in emails composed inside use-cases."""
    _configured[:] = [settings]


def _settings() -> Settings:
    return _configured[0] if _configured else Settings.from_env()


def alert_changed(alert: Alert, change: str, now: datetime | None = None) -> list[OutboxMessage]:
    """In the transaction that created an alert or raised its severity: the emails it causes."""
    if change not in alert_emails.NOTIFY_ON:
        return []
    now = now or utcnow()
    clinic = _clinic(alert.clinic_id)
    policy = alert_emails.EmailPolicy.from_dict(clinic.email_policy)
    deliveries = alert_emails.plan_alert(
        rule=alert.rule, change=change,
        therapist=_person(uow.session().get(StaffMember, alert.therapist_id)),
        supervisors=_supervisors(alert.clinic_id), policy=policy, timezone=clinic.timezone,
        now=now,
    )
    label = _labels([alert]).get(alert.couple_id) if policy.include_couple_label else None
    url = _settings().alert_url(alert.id)
    return [
        _email(clinic.id, ALERT_TOPIC, delivery.to.email, alert_emails.alert_email(
            rule=alert.rule, severity=alert.severity, url=url, clinic_name=clinic.name,
            reason=delivery.reason, couple_label=label,
        ), {"alert_id": str(alert.id), "staff_id": str(delivery.to.staff_id)},
            delivery.not_before)
        for delivery in deliveries
    ]


def compose_digests(now: datetime) -> int:
    """Job: one digest per hourly/daily reader whose period has passed and who has open alerts
    changed since their last digest. Returns the number of digests enqueued."""
    session, settings = uow.session(), _settings()
    readers = session.scalars(
        sa.select(StaffMember).where(
            StaffMember.active.is_(True),
            StaffMember.alert_emails.in_(tuple(alert_emails.DIGESTS)),
        ).order_by(StaffMember.clinic_id, StaffMember.id)
    ).all()
    enqueued = 0
    for reader in readers:
        window = alert_emails.digest_window(reader.alert_emails, _last_digest(reader), now)
        if window is None:
            continue
        since, until = window
        alerts = session.scalars(
            sa.select(Alert).where(
                Alert.clinic_id == reader.clinic_id, Alert.therapist_id == reader.id,
                Alert.status == "open", Alert.rule != alert_emails.SAFETY,
                Alert.updated_at > since, Alert.updated_at <= until,
            ).order_by(Alert.created_at, Alert.id)
        ).all()
        if not alerts:
            continue  # nothing to say; the next window still starts at the last digest
        clinic = _clinic(reader.clinic_id)
        policy = alert_emails.EmailPolicy.from_dict(clinic.email_policy)
        labels = _labels(alerts) if policy.include_couple_label else {}
        items = [alert_emails.DigestItem(a.rule, a.severity, settings.alert_url(a.id),
                                         labels.get(a.couple_id)) for a in alerts]
        _email(clinic.id, DIGEST_TOPIC, reader.email, alert_emails.digest_email(
            preference=reader.alert_emails, items=items, clinic_name=clinic.name,
            preferences_url=settings.preferences_url,
        ), {"digest": True, "staff_id": str(reader.id), "until": until.isoformat(),
            "alert_ids": [str(a.id) for a in alerts],
            "list_unsubscribe": settings.preferences_url},
            alert_emails.quiet_until(now, policy, clinic.timezone))
        enqueued += 1
    return enqueued


def escalate_unacknowledged(now: datetime, after: timedelta | None = None) -> int:
    """Job: critical alerts still `open` (nobody acknowledged them) `after` their creation are
    emailed to the clinic's supervisors, once (`escalated_at`). Returns the alerts escalated."""
    settings = _settings()
    after = after or timedelta(hours=settings.alert_escalation_hours)
    session = uow.session()
    due = session.scalars(
        sa.select(Alert).where(
            Alert.severity == "critical", Alert.status == "open", Alert.escalated_at.is_(None),
            Alert.created_at <= now - after,
        ).order_by(Alert.created_at, Alert.id).limit(500).with_for_update(skip_locked=True)
    ).all()
    hours = int(after.total_seconds() // 3600)
    for alert in due:
        clinic = _clinic(alert.clinic_id)
        policy = alert_emails.EmailPolicy.from_dict(clinic.email_policy)
        label = _labels([alert]).get(alert.couple_id) if policy.include_couple_label else None
        alert.escalated_at = now
        for delivery in alert_emails.plan_escalation(_supervisors(alert.clinic_id), now):
            _email(clinic.id, ESCALATION_TOPIC, delivery.to.email, alert_emails.escalation_email(
                rule=alert.rule, url=settings.alert_url(alert.id), clinic_name=clinic.name,
                hours=hours, couple_label=label,
            ), {"alert_id": str(alert.id), "staff_id": str(delivery.to.staff_id)}, now)
        session.flush()
        audit.record("escalate", "alert", alert.id, clinic_id=alert.clinic_id)
    return len(due)


def enqueue_staff_invitation(member: StaffMember, *, clinic_name: str, url: str) -> OutboxMessage:
    """The set-password link, by email, in the transaction that issued it."""
    return _email(member.clinic_id, "staff.invitation", member.email,
                  alert_emails.staff_invitation_email(
                      display_name=member.display_name, role=member.role,
                      clinic_name=clinic_name, url=url, expires_at=member.invite_expires_at,
                  ), {"staff_id": str(member.id)}, utcnow())


def _email(clinic_id: uuid.UUID, topic: str, to: str, composed: dict[str, str],
           payload: dict[str, Any], not_before: datetime) -> OutboxMessage:
    message = OutboxMessage(
        clinic_id=clinic_id, channel="email", topic=topic, recipient=to,
        subject=composed["subject"], body_text=composed["text"], body_html=composed["html"],
        payload=payload, next_attempt_at=not_before,
    )
    uow.session().add(message)
    return message


def _clinic(clinic_id: uuid.UUID) -> Clinic:
    clinic = uow.session().get(Clinic, clinic_id)
    if clinic is None:
        raise NotFound("Clinic not found.")
    return clinic


def _person(member: StaffMember | None) -> alert_emails.Person | None:
    if member is None:
        return None
    return alert_emails.Person(member.id, member.email, member.role, member.alert_emails,
                               member.active)


def _supervisors(clinic_id: uuid.UUID) -> list[alert_emails.Person]:
    members = uow.session().scalars(
        sa.select(StaffMember).where(
            StaffMember.clinic_id == clinic_id, StaffMember.role == "supervisor",
            StaffMember.active.is_(True),
        ).order_by(StaffMember.id)
    )
    return [_person(member) for member in members]


def _labels(alerts: list[Alert]) -> dict[uuid.UUID, str]:
    """Couple labels, read only for a clinic that opted in to show them in emails."""
    ids = {alert.couple_id for alert in alerts}
    rows = uow.session().execute(sa.select(Couple.id, Couple.label).where(Couple.id.in_(ids)))
    return {couple_id: label for couple_id, label in rows}


def _last_digest(reader: StaffMember) -> datetime | None:
    """Where this reader's last digest ended (kept in its outbox row's payload)."""
    payload = uow.session().scalar(
        sa.select(OutboxMessage.payload).where(
            OutboxMessage.clinic_id == reader.clinic_id, OutboxMessage.topic == DIGEST_TOPIC,
            OutboxMessage.recipient == reader.email,
        ).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(1)
    )
    until = (payload or {}).get("until")
    return datetime.fromisoformat(until) if isinstance(until, str) else None
