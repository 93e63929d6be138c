"""Email over a real SMTP server (aiosmtpd on loopback): the MIME message, reply codes mapped
to retry decisions, and the alert emails of DESIGN §9 asserted on what the server received —
no partner name, email, score or answer, unless the clinic opted in to the couple's label."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import functools
import re
import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from service.alerts import emails as alert_mail
from service.alerts import recipients as alert_emails
from service.alerts.models import Alert
from service.core import context
from service.core.clock import utcnow
from service.core.ids import new_id
from service.db import uow
from service.instruments.catalog import SAC8
from service.notifications import email as mail
from service.notifications.compose import compose
from service.notifications.models import OutboxMessage
from service.staff.models import StaffMember
from tests.scenario import CoupleInCare

ITEMS = [item["key"] for item in SAC8["items"]]
LOW = {key: 7 for key in ITEMS} | {"heard": 8}  # 71.25 %: below the 75 % cutoff
FINE = {key: 8 for key in ITEMS} | {"heard": 9}  # 81.25 %
PARTNERS = [
    {
        "display_name": "Ana Quintero",
        "email": "ana.quintero@partners.example",
        "feedback_channel": "in_clinic",
    },
    {
        "display_name": "Ben Okafor",
        "email": "ben.okafor@partners.example",
        "feedback_channel": "in_clinic",
    },
]
LABEL = "Couple 17-B"


def a_message(subject: str = "Hello", text: str = "Plain words.", **meta) -> OutboxMessage:
    """An already composed email (the `prerendered` template sends its values as they are)."""
    words = {"subject": subject, "text": text, "html": "<p>HTML words.</p>"}
    return OutboxMessage(
        id=new_id(),
        channel="email",
        topic="test",
        recipient="to@x.example",
        payload={**meta, "template": "prerendered"},
        content=words,
    )


# -- the channel -----------------------------------------------------------------------------


def test_an_outbox_message_arrives_as_one_mime_message_with_both_parts(smtp):
    recorder, settings = smtp
    settings = dataclasses.replace(settings, smtp_from="Clinic Mail <mail@clinic.example>")
    message = a_message()
    outcome = mail.send(message, settings)
    assert outcome.ok and not outcome.error
    assert len(recorder.received) == 1
    rcpt, _ = recorder.received[0]
    assert rcpt == ["to@x.example"]
    received = recorder.messages()[0]
    assert received["Message-ID"] == f"<outbox-{message.id}@clinic.example>"
    assert received["From"] == "Clinic Mail <mail@clinic.example>"
    assert received["To"] == "to@x.example" and received["Subject"] == "Hello"
    assert received["Date"] and "List-Unsubscribe" not in received
    assert received.get_content_type() == "multipart/alternative"
    assert received.get_body(("plain",)).get_content().strip() == "Plain words."
    assert received.get_body(("html",)).get_content().strip() == "<p>HTML words.</p>"
    # Sent again (at-least-once): the same Message-ID, so the receiver can dedupe.
    assert mail.send(message, settings).ok
    assert recorder.messages()[1]["Message-ID"] == received["Message-ID"]


def test_digests_carry_list_unsubscribe(smtp):
    recorder, settings = smtp
    settings = dataclasses.replace(settings, email_preferences_url="https://a.example/prefs")
    mail.send(a_message(digest=True), settings)
    assert recorder.messages()[0]["List-Unsubscribe"] == "<https://a.example/prefs>"


def test_a_4xx_reply_is_temporary(smtp):
    recorder, settings = smtp
    recorder.reply = "451 4.3.0 Try again later"
    outcome = mail.send(a_message(text="secret words"), settings)
    assert not outcome.ok and not outcome.permanent
    assert "451" in outcome.error and "secret" not in outcome.error
    assert recorder.received == []


def test_a_5xx_reply_is_permanent(smtp):
    recorder, settings = smtp
    recorder.reply = "550 5.1.1 <to@x.example>: no such user"
    outcome = mail.send(a_message(), settings)
    assert not outcome.ok and outcome.permanent
    assert "550" in outcome.error and "x.example" not in outcome.error


def test_smtp_down_is_temporary(settings):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=2)
    outcome = mail.send(a_message(), down)
    assert not outcome.ok and not outcome.permanent
    assert outcome.error.startswith("SMTP connection failed")


def test_without_an_smtp_host_mail_lands_as_a_readable_eml(settings, tmp_path):
    """`make run` has no SMTP host: each message becomes <mail_dir>/<outbox id>.eml."""
    local = dataclasses.replace(settings, smtp_host="", mail_dir=str(tmp_path / "mail"))
    message = a_message(subject="Your invitation")
    assert mail.send(message, local).ok
    files = list((tmp_path / "mail").glob("*.eml"))
    assert [f.name for f in files] == [f"{message.id}.eml"]
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Your invitation"
    assert parsed["Message-ID"] == f"<outbox-{message.id}@alliance.localhost>"
    assert parsed.get_body(("plain",)).get_content().strip() == "Plain words."


def test_the_default_settings_write_mail_under_var_mail():
    from service.settings import ROOT, Settings

    assert Settings().smtp_host == "" and Settings().mail_dir == str(ROOT / "var" / "mail")


# -- alert emails, raised through the API ----------------------------------------------------


def care_of(client, clinic, therapist=None, label="The Quinteros") -> CoupleInCare:
    """A couple whose partners have names and emails an alert email must never show."""
    return CoupleInCare(client, clinic, partners=PARTNERS, label=label, therapist=therapist)


def forbidden(care: CoupleInCare) -> list[str]:
    """What must never be in an alert email: names, emails, scores, answers."""
    words = [p["display_name"] for p in PARTNERS] + [p["email"] for p in PARTNERS]
    words += [part for p in PARTNERS for part in p["display_name"].split()]
    for response in care.answered:
        for key in ("total", "pct"):
            if response.get(key) is not None:
                words += [str(response[key]), f"{response[key]:g}"]
        words += [f"{key}: " for key in ITEMS] + [f'"{key}"' for key in ITEMS]
    return words


def emails(clinic_id: uuid.UUID, topic: str | None = None) -> list[OutboxMessage]:
    with context.tenant_context(clinic_id), uow.unit_of_work() as session:
        stmt = (
            sa.select(OutboxMessage)
            .where(OutboxMessage.channel == "email")
            .options(sa.orm.undefer(OutboxMessage.content))
        )
        if topic:
            stmt = stmt.where(OutboxMessage.topic == topic)
        rows = list(session.scalars(stmt.order_by(OutboxMessage.created_at, OutboxMessage.id)))
        session.expunge_all()
    return rows


def deliver(rows: list[OutboxMessage], settings) -> None:
    for row in rows:
        outcome = mail.send(row, settings)
        assert outcome.ok, outcome.error


def parts(message: email.message.EmailMessage) -> tuple[str, str]:
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def assert_clean(body: str, care: CoupleInCare, *extra: str) -> None:
    """No name, email, score or answer: checked outside links and the clinic's own name
    (ids in URLs and the test clinic's random slug have digits)."""
    body = body.replace(f"Clinic {care.clinic.slug}", " ")
    words = re.sub(r"https?://[^\s\"<>]+|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", " ", body)
    for word in [*forbidden(care), *extra]:
        assert word not in words, word


escalate = functools.partial(alert_mail.escalate_unacknowledged, after=timedelta(hours=24))


def as_job(job, *args):
    """Run a periodic job as the worker does: system context, one transaction."""
    with context.system_context("test job"), uow.unit_of_work():
        return job(*args)


def test_alert_email_has_rule_severity_and_link_but_no_names_scores_or_answers(
    client, clinic, smtp, settings
):
    recorder, smtp_settings = smtp
    care = care_of(client, clinic)
    care.session(ana=LOW)
    [alert] = care.alerts()
    [row] = emails(clinic.id, "alert.email")
    assert row.recipient == care.therapist.email
    assert (row.payload["alert_id"], row.payload["staff_id"]) == (
        alert["id"],
        str(care.therapist.id),
    )
    deliver([row], smtp_settings)
    [received] = recorder.messages()
    assert received["To"] == care.therapist.email
    text, html = parts(received)
    for body in (text, html, received["Subject"]):
        assert "Alliance below the clinic" in body  # the rule, in words
        assert_clean(body, care, "The Quinteros", "Quintero")
    assert "Warning" in received["Subject"] or "Critical" in received["Subject"]
    link = settings.alert_url(alert["id"])
    assert link == f"{settings.base_url}/app/alerts/{alert['id']}"  # the alert page
    assert link in text and f'href="{link}"' in html


def test_a_clinic_may_opt_in_to_the_couple_label_and_still_no_names_or_scores(
    client, make_clinic, smtp
):
    recorder, smtp_settings = smtp
    clinic = make_clinic(email_policy={"include_couple_label": True})
    care = care_of(client, clinic, label=LABEL)
    care.session(ana=LOW)
    deliver(emails(clinic.id, "alert.email"), smtp_settings)
    [received] = recorder.messages()
    text, html = parts(received)
    assert LABEL in text and LABEL in html
    for body in (text, html):
        assert_clean(body, care)


def test_quiet_hours_postpone_an_immediate_alert_email(client, make_clinic):
    zone = "Pacific/Auckland"
    local = utcnow().astimezone(alert_emails._zone(zone))
    start, end = local - timedelta(hours=1), local + timedelta(hours=1)
    clinic = make_clinic(
        timezone=zone,
        email_policy={
            "quiet_hours": {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
        },
    )
    care = care_of(client, clinic)
    care.session(ana=LOW)
    [row] = emails(clinic.id, "alert.email")
    expected = end.replace(second=0, microsecond=0).astimezone(UTC)
    assert row.next_attempt_at == expected
    assert row.next_attempt_at > row.created_at + timedelta(minutes=30)


def test_quiet_hours_rules():
    policy = alert_emails.EmailPolicy.from_dict({"quiet_hours": {"start": "21:00", "end": "07:00"}})
    berlin = "Europe/Berlin"  # UTC+1 in January
    late = datetime(2027, 1, 10, 21, 30, tzinfo=UTC)  # 22:30 in Berlin
    assert alert_emails.quiet_until(late, policy, berlin) == datetime(2027, 1, 11, 6, 0, tzinfo=UTC)
    early = datetime(2027, 1, 10, 4, 0, tzinfo=UTC)  # 05:00 in Berlin
    assert alert_emails.quiet_until(early, policy, berlin) == datetime(
        2027, 1, 10, 6, 0, tzinfo=UTC
    )
    day = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
    assert alert_emails.quiet_until(day, policy, berlin) == day
    assert alert_emails.quiet_until(late, alert_emails.EmailPolicy(), berlin) == late
    broken = alert_emails.EmailPolicy.from_dict({"quiet_hours": {"start": "late"}})
    assert alert_emails.quiet_until(late, broken, berlin) == late


def test_a_digest_reader_gets_no_immediate_email_and_one_digest(client, clinic, smtp):
    recorder, smtp_settings = smtp
    therapist = clinic.staff("therapist", alert_emails="hourly")
    care = care_of(client, clinic, therapist=therapist)
    care.session(ana=LOW)
    assert care.alerts() and emails(clinic.id) == []
    as_job(alert_mail.compose_digests, utcnow())
    [digest] = emails(clinic.id, "alert.digest")
    assert digest.recipient == therapist.email and digest.payload["digest"] is True
    as_job(alert_mail.compose_digests, utcnow())  # within the hour: nothing more
    assert len(emails(clinic.id, "alert.digest")) == 1
    deliver([digest], smtp_settings)
    [received] = recorder.messages()
    assert received["List-Unsubscribe"].startswith("<http")
    assert "hourly" in received["Subject"]
    text, html = parts(received)
    for body in (text, html):
        assert "Alliance below the clinic" in body
        assert_clean(body, care, "The Quinteros")
    # An hour later, with nothing new: still one digest.
    as_job(alert_mail.compose_digests, utcnow() + timedelta(hours=2))
    assert len(emails(clinic.id, "alert.digest")) == 1


def test_the_therapist_can_choose_a_digest(client, clinic):
    therapist = clinic.staff("therapist")
    me = client.get(f"/v1/staff/{therapist.id}", headers=therapist.headers)
    assert me.json["alert_emails"] == "immediate"
    changed = client.patch(
        f"/v1/staff/{therapist.id}",
        json={"alert_emails": "daily"},
        headers={**therapist.headers, "If-Match": me.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["alert_emails"] == "daily"
    wrong = client.patch(
        f"/v1/staff/{therapist.id}",
        json={"alert_emails": "weekly"},
        headers={**therapist.headers, "If-Match": changed.headers["ETag"]},
    )
    assert wrong.status_code == 422


def test_safety_concern_goes_to_therapist_and_supervisors_at_once(client, make_clinic, smtp):
    recorder, smtp_settings = smtp
    local = utcnow().astimezone(UTC)
    clinic = make_clinic(
        email_policy={
            "quiet_hours": {  # quiet right now: ignored
                "start": (local - timedelta(hours=1)).strftime("%H:%M"),
                "end": (local + timedelta(hours=1)).strftime("%H:%M"),
            }
        }
    )
    therapist = clinic.staff("therapist", alert_emails="daily")  # digest: ignored
    supervisors = [clinic.staff("supervisor"), clinic.staff("supervisor")]
    clinic.staff("supervisor", active=False)
    care = care_of(client, clinic, therapist=therapist)
    before = utcnow()
    care.session(ana=FINE, safety=True)
    rows = emails(clinic.id, "alert.email")
    assert sorted(r.recipient for r in rows) == sorted(
        [therapist.email, *(s.email for s in supervisors)]
    )
    assert all(row.next_attempt_at <= utcnow() and row.next_attempt_at >= before for row in rows)
    deliver(rows, smtp_settings)
    received = recorder.messages()
    assert len(received) == 3
    for message in received:
        assert "safety concern" in message["Subject"]
        for body in parts(message):
            assert_clean(body, care, "The Quinteros")


@pytest.mark.parametrize("state", ["open", "acknowledged", "snoozed"])
def test_every_safety_tick_emails_the_therapist_and_supervisors_whatever_the_alert_state(
    client, clinic, smtp, state
):
    recorder, smtp_settings = smtp
    supervisor = clinic.staff("supervisor")
    care = care_of(client, clinic)
    care.session(ana=FINE, safety=True)
    [alert] = care.alerts()
    url = f"/v1/alerts/{alert['id']}"
    if state == "acknowledged":
        client.post(f"{url}/acknowledge", headers=care.therapist.headers)
    if state == "snoozed":
        until = (utcnow() + timedelta(days=3)).isoformat()
        client.post(f"{url}/snooze", json={"until": until}, headers=care.therapist.headers)
    assert care.alerts()[0]["status"] == state
    care.session(ana=FINE, safety=True)  # ticked again
    [again] = care.alerts()
    assert again["id"] == alert["id"] and again["occurrences"] == 2
    assert again["status"] == "open"  # a new tick needs attention again
    rows = emails(clinic.id, "alert.email")
    assert sorted(r.recipient for r in rows) == sorted([care.therapist.email, supervisor.email] * 2)
    deliver(rows, smtp_settings)
    assert len(recorder.messages()) == 4
    assert all("safety concern" in m["Subject"] for m in recorder.messages())


def test_one_submission_sends_at_most_one_email_per_person(client, clinic, smtp):
    """Ana's sharp fall raises an alliance alert and a split at once: one email, both in it."""
    recorder, smtp_settings = smtp
    care = care_of(client, clinic)
    for _ in range(3):
        care.session(ana={key: 10 for key in ITEMS}, ben={key: 10 for key in ITEMS})
    session_id = care.complete()["id"]
    care.enter(session_id, care.ben, {key: 10 for key in ITEMS})
    care.enter(session_id, care.ana, {key: 6 for key in ITEMS})  # one submission, two concerns
    assert {a["concern"] for a in care.alerts()} == {"alliance", "split"}
    [row] = emails(clinic.id, "alert.email")
    assert len(row.payload["alert_ids"]) == 2
    deliver([row], smtp_settings)
    [received] = recorder.messages()
    text, _html = parts(received)
    assert text.count("Open it (sign-in required)") == 2
    assert "(and 1 more)" in received["Subject"]


def test_unacknowledged_critical_alerts_escalate_to_supervisors_once(client, clinic, smtp):
    recorder, smtp_settings = smtp
    supervisor = clinic.staff("supervisor")
    care = care_of(client, clinic)
    care.session(ana=FINE, safety=True)  # critical at once
    [alert] = care.alerts()
    assert alert["severity"] == "critical"
    as_job(escalate, utcnow() + timedelta(hours=23))
    assert emails(clinic.id, "alert.escalation") == []
    as_job(escalate, utcnow() + timedelta(hours=25))
    [row] = emails(clinic.id, "alert.escalation")
    assert row.recipient == supervisor.email
    as_job(escalate, utcnow() + timedelta(hours=49))
    assert len(emails(clinic.id, "alert.escalation")) == 1  # once
    with context.tenant_context(clinic.id), uow.unit_of_work() as session:
        assert session.get(Alert, uuid.UUID(alert["id"])).escalated_at is not None
    deliver([row], smtp_settings)
    [received] = recorder.messages()
    assert "Unacknowledged" in received["Subject"]
    for body in parts(received):
        assert "24 hours" in body
        assert_clean(body, care, "The Quinteros")


def test_an_acknowledged_critical_alert_does_not_escalate(client, clinic):
    clinic.staff("supervisor")
    care = care_of(client, clinic)
    care.session(ana=FINE, safety=True)
    [alert] = care.alerts()
    acked = client.post(f"/v1/alerts/{alert['id']}/acknowledge", headers=care.therapist.headers)
    assert acked.status_code == 200, acked.json
    as_job(escalate, utcnow() + timedelta(hours=25))
    assert emails(clinic.id, "alert.escalation") == []


# -- staff invitations -----------------------------------------------------------------------


def test_inviting_a_staff_member_emails_the_invite_link(client, clinic, admin, smtp):
    recorder, smtp_settings = smtp
    response = client.post(
        "/v1/staff",
        headers=admin.headers,
        json={
            "email": "new.therapist@clinic.example",
            "role": "therapist",
            "display_name": "Noor Haddad",
        },
    )
    assert response.status_code == 201, response.json
    [row] = emails(clinic.id, "staff.invitation")
    assert row.recipient == "new.therapist@clinic.example"
    deliver([row], smtp_settings)
    [received] = recorder.messages()
    text, html = parts(received)
    assert response.json["invite_url"] in text and response.json["invite_url"] in html
    assert "a therapist" in text


def test_onboarding_emails_the_first_admin(client, platform, settings):
    slug = f"onboard-{new_id().hex[:10]}"
    response = client.post(
        "/v1/clinics",
        headers=platform.headers,
        json={
            "name": "Harbour Couples Practice",
            "slug": slug,
            "timezone": "Europe/Lisbon",
            "admin_email": "first.admin@harbour.example",
            "admin_name": "Rui Costa",
        },
    )
    assert response.status_code == 201, response.json
    [row] = emails(uuid.UUID(response.json["id"]), "staff.invitation")
    assert row.recipient == "first.admin@harbour.example"
    words = compose(row.payload["template"], row.content, settings)
    assert response.json["admin_invite_url"] in words.text
    assert "Harbour Couples Practice" in words.subject


def test_the_staff_member_exists_with_the_immediate_default(clinic):
    with context.tenant_context(clinic.id), uow.unit_of_work() as session:
        member = StaffMember(email="x@y.example", role="therapist", display_name="X")
        session.add(member)
        session.flush()
        assert member.alert_emails == "immediate"


def test_who_gets_an_alert_email():
    now = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
    person = alert_emails.Person
    therapist = person(uuid.uuid4(), "t@x.example", "therapist", "immediate")
    gone = dataclasses.replace(therapist, active=False)
    sup = person(uuid.uuid4(), "s@x.example", "supervisor")
    both = dataclasses.replace(sup, email="T@x.example")  # the therapist is also a supervisor
    plan = functools.partial(
        alert_emails.plan_alert, policy=alert_emails.EmailPolicy(), timezone="UTC", now=now
    )
    to = lambda deliveries: [d.to.email for d in deliveries]  # noqa: E731
    assert to(plan(rule="low_alliance", therapist=therapist, supervisors=lambda: [sup])) == [
        "t@x.example"
    ]
    assert to(plan(rule="low_alliance", therapist=gone, supervisors=lambda: [sup])) == [
        "s@x.example"
    ]  # nobody else would hear of it
    assert to(
        plan(rule="safety_concern", therapist=therapist, supervisors=lambda: [sup, both])
    ) == [
        "t@x.example",
        "s@x.example",
    ]
    daily = dataclasses.replace(therapist, alert_emails="daily")
    assert plan(rule="low_alliance", therapist=daily, supervisors=lambda: [sup]) == []
    assert alert_emails.digest_window("daily", now - timedelta(hours=3), now) is None
    assert alert_emails.digest_window("daily", now - timedelta(days=2), now) == (
        now - timedelta(days=2),
        now,
    )
    assert alert_emails.digest_window("immediate", None, now) is None
