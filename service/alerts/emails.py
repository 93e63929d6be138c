"""Alert emails (DESIGN §9): who is told, what and when. The rules are pure, in
service.alerts.recipients; this is the database part. The emails go through the one way into
the outbox (service.notifications), which renders and sends them.

The jobs (`compose_digests`, `escalate_unacknowledged`) run in the worker's transaction, in
the system context, across clinics: every row they write names its clinic.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.alerts import recipients
from service.alerts.explain import rule_words, severity_words
from service.alerts.models import Alert
from service.alerts.policy import SEVERITIES
from service.clinics import service as clinics
from service.couples import service as couples
from service.db import audit, claims, uow
from service.notifications import service as notifications
from service.staff import service as staff

ALERT_TOPIC, DIGEST_TOPIC, ESCALATION_TOPIC = "alert.email", "alert.digest", "alert.escalation"


def announce(news: list[Alert], clinic: Any, now: datetime) -> int:
    """In the transaction of one submission: the emails its news causes, at most one per
    person (most severe alert first). Returns how many were enqueued."""
    supervisors = functools.cache(lambda: _supervisors(clinic.id))
    per_person: dict[str, tuple[list[recipients.Delivery], list[Alert]]] = {}
    for alert in sorted(news, key=lambda a: -SEVERITIES.index(a.severity)):
        for delivery in _plan(alert, clinic, supervisors, now):
            entry = per_person.setdefault(delivery.to.email.lower(), ([], []))
            entry[0].append(delivery)
            entry[1].append(alert)
    for deliveries, alerts in per_person.values():
        [delivery] = recipients.one_per_person(deliveries)
        _send(delivery, alerts, clinic)
    return len(per_person)


def _plan(
    alert: Alert, clinic: Any, supervisors: Callable[[], list[recipients.Person]], now: datetime
) -> list[recipients.Delivery]:
    return recipients.plan_alert(
        rule=alert.rule,
        therapist=_person(staff.member(alert.therapist_id)),
        supervisors=supervisors,
        policy=recipients.EmailPolicy.from_dict(clinic.email_policy),
        timezone=clinic.timezone,
        now=now,
    )


def _send(delivery: recipients.Delivery, alerts: list[Alert], clinic: Any) -> None:
    policy = recipients.EmailPolicy.from_dict(clinic.email_policy)
    items = [
        {**_about(alert, clinic, policy), "severity": severity_words(alert.severity)}
        for alert in alerts
    ]
    notifications.enqueue_email(
        clinic_id=clinic.id,
        topic=ALERT_TOPIC,
        to=delivery.to.email,
        template="alert",
        values={"alerts": items, "clinic_name": clinic.name, "reason": delivery.reason},
        meta={
            "alert_id": str(alerts[0].id),
            "alert_ids": [str(alert.id) for alert in alerts],
            "staff_id": str(delivery.to.staff_id),
        },
        not_before=delivery.not_before,
    )


def compose_digests(now: datetime) -> int:
    """Job: one digest per hourly/daily reader whose period has passed and who has open alerts
    changed since their last digest. Returns the number of digests enqueued."""
    enqueued = 0
    for reader in staff.digest_readers(tuple(recipients.DIGESTS)):
        last = notifications.last_email_meta(reader.clinic_id, DIGEST_TOPIC, reader.email)
        until = last.get("until")
        window = recipients.digest_window(
            reader.alert_emails, datetime.fromisoformat(until) if until else None, now
        )
        if window is None:
            continue
        alerts = _digest_alerts(reader.clinic_id, reader.id, *window)
        if not alerts:
            continue  # nothing to say; the next window still starts at the last digest
        clinic = clinics.by_id(reader.clinic_id)
        policy = recipients.EmailPolicy.from_dict(clinic.email_policy)
        items = [
            {**_about(alert, clinic, policy), "severity": severity_words(alert.severity)}
            for alert in alerts
        ]
        notifications.enqueue_email(
            clinic_id=clinic.id,
            topic=DIGEST_TOPIC,
            to=reader.email,
            template="digest",
            values={
                "period": "hourly" if reader.alert_emails == "hourly" else "daily",
                "alerts": items,
                "clinic_name": clinic.name,
            },
            meta={
                "digest": True,
                "staff_id": str(reader.id),
                "until": window[1].isoformat(),
                "alert_ids": [str(alert.id) for alert in alerts],
            },
            not_before=recipients.quiet_until(now, policy, clinic.timezone),
        )
        enqueued += 1
    return enqueued


def escalate_unacknowledged(now: datetime, after: timedelta) -> int:
    """Job: critical alerts still `open` (nobody acknowledged them) `after` their creation are
    emailed to the clinic's supervisors, once (`escalated_at`). Returns the alerts escalated."""
    taken = claims.claim(
        Alert,
        (
            Alert.severity == "critical",
            Alert.status == "open",
            Alert.escalated_at.is_(None),
            Alert.created_at <= now - after,
        ),
        order_by=(Alert.created_at, Alert.id),
        limit=500,
        # A bulk UPDATE passes the ORM by: the version (the alert's ETag) is moved here.
        values={"escalated_at": now, "version": Alert.version + 1},
        returning=(Alert.id,),
    )
    due = (
        uow.session()
        .scalars(
            sa.select(Alert)
            .where(Alert.id.in_([row.id for row in taken]))
            .order_by(Alert.created_at, Alert.id)
            .execution_options(populate_existing=True)
        )
        .all()
    )
    for alert in due:
        clinic = clinics.by_id(alert.clinic_id)
        policy = recipients.EmailPolicy.from_dict(clinic.email_policy)
        for delivery in recipients.plan_escalation(_supervisors(alert.clinic_id), now):
            notifications.enqueue_email(
                clinic_id=clinic.id,
                topic=ESCALATION_TOPIC,
                to=delivery.to.email,
                template="escalation",
                values={
                    **_about(alert, clinic, policy),
                    "hours": int(after.total_seconds() // 3600),
                },
                meta={"alert_id": str(alert.id), "staff_id": str(delivery.to.staff_id)},
                not_before=now,
            )
        uow.session().flush()
        audit.record("escalate", "alert", alert.id, clinic_id=alert.clinic_id)
    return len(due)


def _about(alert: Alert, clinic: Any, policy: recipients.EmailPolicy) -> dict[str, object]:
    """What every alert email may say: the rule in words, the clinic, the link's alert id, and
    the couple's label only for a clinic that opted in. Never names, scores or answers."""
    label = couples.label(alert.couple_id) if policy.include_couple_label else None
    return {
        "alert_id": str(alert.id),
        "rule": rule_words(alert.rule),
        "clinic_name": clinic.name,
        "couple_label": label,
    }


def _digest_alerts(
    clinic_id: uuid.UUID, reader_id: uuid.UUID, since: datetime, until: datetime
) -> list[Alert]:
    return list(
        uow.session().scalars(
            sa.select(Alert)
            .where(
                Alert.clinic_id == clinic_id,
                Alert.therapist_id == reader_id,
                Alert.status == "open",
                Alert.rule != recipients.SAFETY,
                Alert.updated_at > since,
                Alert.updated_at <= until,
            )
            .order_by(Alert.created_at, Alert.id)
        )
    )


def _person(member: Any) -> recipients.Person | None:
    if member is None:
        return None
    return recipients.Person(
        member.id, member.email, member.role, member.alert_emails, member.active
    )


def _supervisors(clinic_id: uuid.UUID) -> list[recipients.Person]:
    return [_person(member) for member in staff.active_supervisors(clinic_id)]
