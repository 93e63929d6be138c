"""Alert emails (DESIGN §9): who is told, what and when. The rules are pure, in
service.notifications.alert_emails; this is the database part. The jobs
(`compose_digests`, `escalate_unacknowledged`) run in the worker's transaction, in the
system context, across clinics: every row they write names its clinic."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from service.alerts.models import Alert
from service.audit import service as audit
from service.clinics.models import Clinic
from service.core.clock import utcnow
from service.core.errors import NotFound
from service.couples.models import Couple
from service.db import uow
from service.notifications import alert_emails
from service.notifications import service as notifications
from service.notifications.models import OutboxMessage
from service.staff.models import StaffMember

ALERT_TOPIC, DIGEST_TOPIC, ESCALATION_TOPIC = "alert.email", "alert.digest", "alert.escalation"
_email = notifications.enqueue_composed
_settings = notifications.settings


def alert_changed(alert: Alert, change: str, now: datetime | None = None) -> list[OutboxMessage]:
    """In the transaction that created an alert or raised its severity: the emails it causes."""
    if change not in alert_emails.NOTIFY_ON:
        return []
    now = now or utcnow()
    clinic = _clinic(alert.clinic_id)
    policy = alert_emails.EmailPolicy.from_dict(clinic.email_policy)
    deliveries = alert_emails.plan_alert(
        rule=alert.rule,
        change=change,
        therapist=_person(uow.session().get(StaffMember, alert.therapist_id)),
        supervisors=_supervisors(alert.clinic_id),
        policy=policy,
        timezone=clinic.timezone,
        now=now,
    )
    label = _labels([alert]).get(alert.couple_id) if policy.include_couple_label else None
    url = _settings().alert_url(alert.id)
    return [
        _email(
            clinic.id,
            ALERT_TOPIC,
            delivery.to.email,
            alert_emails.alert_email(
                rule=alert.rule,
                severity=alert.severity,
                url=url,
                clinic_name=clinic.name,
                reason=delivery.reason,
                couple_label=label,
            ),
            {"alert_id": str(alert.id), "staff_id": str(delivery.to.staff_id)},
            delivery.not_before,
        )
        for delivery in deliveries
    ]


def compose_digests(now: datetime) -> int:
    """Job: one digest per hourly/daily reader whose period has passed and who has open alerts
    changed since their last digest. Returns the number of digests enqueued."""
    session, settings = uow.session(), _settings()
    readers = session.scalars(
        sa.select(StaffMember)
        .where(
            StaffMember.active.is_(True),
            StaffMember.alert_emails.in_(tuple(alert_emails.DIGESTS)),
        )
        .order_by(StaffMember.clinic_id, StaffMember.id)
    ).all()
    enqueued = 0
    for reader in readers:
        window = alert_emails.digest_window(reader.alert_emails, _last_digest(reader), now)
        if window is None:
            continue
        since, until = window
        alerts = session.scalars(
            sa.select(Alert)
            .where(
                Alert.clinic_id == reader.clinic_id,
                Alert.therapist_id == reader.id,
                Alert.status == "open",
                Alert.rule != alert_emails.SAFETY,
                Alert.updated_at > since,
                Alert.updated_at <= until,
            )
            .order_by(Alert.created_at, Alert.id)
        ).all()
        if not alerts:
            continue  # nothing to say; the next window still starts at the last digest
        clinic = _clinic(reader.clinic_id)
        policy = alert_emails.EmailPolicy.from_dict(clinic.email_policy)
        labels = _labels(alerts) if policy.include_couple_label else {}
        items = [
            alert_emails.DigestItem(
                a.rule, a.severity, settings.alert_url(a.id), labels.get(a.couple_id)
            )
            for a in alerts
        ]
        _email(
            clinic.id,
            DIGEST_TOPIC,
            reader.email,
            alert_emails.digest_email(
                preference=reader.alert_emails,
                items=items,
                clinic_name=clinic.name,
                preferences_url=settings.preferences_url,
            ),
            {
                "digest": True,
                "staff_id": str(reader.id),
                "until": until.isoformat(),
                "alert_ids": [str(a.id) for a in alerts],
                "list_unsubscribe": settings.preferences_url,
            },
            alert_emails.quiet_until(now, policy, clinic.timezone),
        )
        enqueued += 1
    return enqueued


def escalate_unacknowledged(now: datetime, after: timedelta | None = None) -> int:
    """Job: critical alerts still `open` (nobody acknowledged them) `after` their creation are
    emailed to the clinic's supervisors, once (`escalated_at`). Returns the alerts escalated."""
    settings = _settings()
    after = after or timedelta(hours=settings.alert_escalation_hours)
    session = uow.session()
    due = session.scalars(
        sa.select(Alert)
        .where(
            Alert.severity == "critical",
            Alert.status == "open",
            Alert.escalated_at.is_(None),
            Alert.created_at <= now - after,
        )
        .order_by(Alert.created_at, Alert.id)
        .limit(500)
        .with_for_update(skip_locked=True)
    ).all()
    hours = int(after.total_seconds() // 3600)
    for alert in due:
        clinic = _clinic(alert.clinic_id)
        policy = alert_emails.EmailPolicy.from_dict(clinic.email_policy)
        label = _labels([alert]).get(alert.couple_id) if policy.include_couple_label else None
        alert.escalated_at = now
        for delivery in alert_emails.plan_escalation(_supervisors(alert.clinic_id), now):
            _email(
                clinic.id,
                ESCALATION_TOPIC,
                delivery.to.email,
                alert_emails.escalation_email(
                    rule=alert.rule,
                    url=settings.alert_url(alert.id),
                    clinic_name=clinic.name,
                    hours=hours,
                    couple_label=label,
                ),
                {"alert_id": str(alert.id), "staff_id": str(delivery.to.staff_id)},
                now,
            )
        session.flush()
        audit.record("escalate", "alert", alert.id, clinic_id=alert.clinic_id)
    return len(due)


def _clinic(clinic_id: uuid.UUID) -> Clinic:
    clinic = uow.session().get(Clinic, clinic_id)
    if clinic is None:
        raise NotFound("Clinic not found.")
    return clinic


def _person(member: StaffMember | None) -> alert_emails.Person | None:
    if member is None:
        return None
    return alert_emails.Person(
        member.id, member.email, member.role, member.alert_emails, member.active
    )


def _supervisors(clinic_id: uuid.UUID) -> list[alert_emails.Person]:
    members = uow.session().scalars(
        sa.select(StaffMember)
        .where(
            StaffMember.clinic_id == clinic_id,
            StaffMember.role == "supervisor",
            StaffMember.active.is_(True),
        )
        .order_by(StaffMember.id)
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
        sa.select(OutboxMessage.payload)
        .where(
            OutboxMessage.clinic_id == reader.clinic_id,
            OutboxMessage.topic == DIGEST_TOPIC,
            OutboxMessage.recipient == reader.email,
        )
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(1)
    )
    until = (payload or {}).get("until")
    return datetime.fromisoformat(until) if isinstance(until, str) else None
