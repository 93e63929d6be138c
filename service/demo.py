"""The demo clinic for `make run`: `flask --app wsgi seed-demo`.

Idempotent: a second run creates nothing new and resets the demo passwords, so the logins it
prints always work. Fixed passwords are for a developer's machine only: production is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.alerts import evaluation
from service.cli import as_clinic
from service.clients import service as clients
from service.clients.models import OAuthClient
from service.clinics.models import Clinic
from service.core import context
from service.core.clock import utcnow
from service.core.context import Actor
from service.core.errors import Conflict
from service.core.paging import PageRequest
from service.core.passwords import hash_secret, verify_secret
from service.couples import service as couples
from service.db import audit, uow
from service.feedback import links
from service.instruments.catalog import SAC8
from service.settings import Settings
from service.staff.models import StaffMember
from service.therapy_sessions import service as sessions

CLINIC = {
    "name": "Harbor Couples Clinic",
    "slug": "demo",
    "timezone": "Europe/London",
    "locale": "en-GB",
}


class DemoRefused(RuntimeError):
    pass


@dataclass(frozen=True)
class DemoStaff:
    email: str
    role: str
    display_name: str
    password: str
    profile: dict[str, Any] = field(default_factory=dict)


STAFF = (
    DemoStaff("admin@harbor.example", "admin", "Maya Okafor", "harbor-admin-demo"),
    DemoStaff("supervisor@harbor.example", "supervisor", "Dr. Jonas Berg", "harbor-super-demo"),
    DemoStaff(
        "ana.reyes@harbor.example",
        "therapist",
        "Dr. Ana Reyes",
        "harbor-ana-demo",
        {
            "pronouns": "she/her",
            "bio": "Couples therapist for twelve years. I help partners slow down hard "
            "conversations and find the need underneath the argument.",
            "approaches": ["EFT", "Gottman"],
            "languages": ["en", "es"],
            "accepting_new": True,
            "listed_publicly": True,
        },
    ),
    DemoStaff(
        "sam.whitfield@harbor.example",
        "therapist",
        "Sam Whitfield",
        "harbor-sam-demo",
        {
            "pronouns": "they/them",
            "bio": "I work with couples of every shape, including LGBTQ+ and blended families, "
            "on trust after a rupture and on sharing the load fairly.",
            "approaches": ["Gottman", "IBCT"],
            "languages": ["en", "fr"],
            "accepting_new": False,
            "listed_publicly": True,
        },
    ),
)


def seed(settings: Settings) -> dict[str, Any]:
    """Create (or complete) the demo clinic, its staff and the Swagger UI client."""
    if settings.is_production:
        raise DemoRefused("seed-demo refuses to run with ALLIANCE_ENV=production")
    with context.system_context("demo seed"), uow.unit_of_work() as session:
        clinic = _clinic(session)
        logins = [_staff(session, clinic, member) for member in STAFF]
        docs_client = _docs_client(settings)
        staff_ids = {
            member.email: member.id
            for member in session.scalars(
                sa.select(StaffMember).where(StaffMember.clinic_id == clinic.id)
            )
        }
    admin = Actor(
        kind="staff",
        subject=str(staff_ids[STAFF[0].email]),
        clinic_id=clinic.id,
        roles=frozenset({"admin"}),
    )
    with as_clinic(clinic.id, admin):
        couples_made = _practice(staff_ids)
        partner_link = _open_partner_link(settings.base_url)
    return {
        "clinic": {"id": str(clinic.id), "name": clinic.name, "slug": clinic.slug},
        "logins": logins,
        "docs_client_id": docs_client.client_id,
        "couples": couples_made,
        "partner_link": partner_link,
    }


@dataclass(frozen=True)
class DemoCouple:
    label: str
    therapist_email: str
    partners: tuple[dict[str, Any], dict[str, Any]]
    goals: tuple[str, ...]
    # Each partner's average answer (0-10) per weekly session; None = no feedback given.
    history: tuple[tuple[int | None, ...], tuple[int | None, ...]]


COUPLES = (
    DemoCouple(
        "Jordan & Riley",
        "ana.reyes@harbor.example",
        (
            {
                "display_name": "Jordan Avery",
                "email": "jordan@example.org",
                "pronouns": "he/him",
                "personal_goals": ["Stop the cold silences"],
            },
            {
                "display_name": "Riley Avery",
                "email": "riley@example.org",
                "pronouns": "she/her",
                "personal_goals": ["Feel like a team again"],
            },
        ),
        ("Argue without hurting each other",),
        (
            (9, 9, 9, 9, 9, 9, 9, 9, 8, 7, 6, 6),  # Jordan drifts away: drop and trend
            (9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9),
        ),
    ),
    DemoCouple(
        "Priya & Tom",
        "ana.reyes@harbor.example",
        (
            {
                "display_name": "Priya Nair",
                "feedback_channel": "in_clinic",
                "pronouns": "she/her",
                "personal_goals": ["Be heard about the move"],
            },
            {
                "display_name": "Tom Becker",
                "feedback_channel": "in_clinic",
                "pronouns": "he/him",
                "personal_goals": ["Less blame"],
            },
        ),
        ("Decide together about moving abroad",),
        (
            (9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9),  # a split: Tom falls behind Priya
            (9, 8, 8, 7, 7, 6, 6, 6, 6, 6, 6, 6),
        ),
    ),
    DemoCouple(
        "Lee & Morgan",
        "sam.whitfield@harbor.example",
        (
            {
                "display_name": "Lee Chen",
                "email": "lee@example.org",
                "pronouns": "they/them",
                "personal_goals": ["Rebuild trust"],
            },
            {
                "display_name": "Morgan Diaz",
                "email": "morgan@example.org",
                "pronouns": "she/her",
                "personal_goals": ["Share the load at home"],
            },
        ),
        ("Trust after the affair",),
        (
            (8, 8, 9, 8, 9, 9, 8, 9, 9, 9, 9, 9),  # Morgan stops answering
            (8, 8, 8, 8, 9, 8, 8, 8, 9, None, None, None),
        ),
    ),
)
OPEN_LINK_COUPLE = "Priya & Tom"
DEMO_WEEKS = 12


def _practice(staff_ids: dict[str, Any]) -> list[dict[str, Any]]:
    """Three couples with three months of weekly completed sessions (made once)."""
    existing = couples.list_couples(PageRequest(limit=len(COUPLES))).items
    if existing:
        return [{"id": str(couple.id), "label": couple.label} for couple in existing]
    made = []
    first = (utcnow() - timedelta(weeks=DEMO_WEEKS)).replace(minute=0, second=0, microsecond=0)
    for offset, demo in enumerate(COUPLES):
        couple = couples.create(
            {
                "label": demo.label,
                "therapist_id": staff_ids[demo.therapist_email],
                "status": "active",
                "shared_goals": list(demo.goals),
                "partners": [{"feedback_channel": "email", **partner} for partner in demo.partners],
            }
        )
        one, two = (partner.id for partner in couple.partners)
        for week in range(DEMO_WEEKS):
            booked = sessions.schedule(
                {
                    "couple_id": couple.id,
                    "starts_at": first + timedelta(weeks=week, hours=offset),
                    "duration_minutes": 50,
                    "modality": "in_person" if week % 3 else "video",
                }
            )
            sessions.complete(booked.id, {one: 50 + (week % 3) * 5, two: 50 - (week % 3) * 5})
            for partner_id, scores in zip((one, two), demo.history, strict=True):
                if scores[week] is not None:
                    evaluation.record_staff_entry(
                        booked.id,
                        {
                            "partner_id": partner_id,
                            "answers": _answers(scores[week]),
                            "source": "staff_entry",
                        },
                    )
        made.append({"id": str(couple.id), "label": couple.label})
    return made


def _answers(average: int) -> dict[str, int]:
    """SAC-8 answers around an average; the watch item `balance` a point lower."""
    answers = {item["key"]: average for item in SAC8["items"]}
    answers["balance"] = max(0, average - 1)
    return answers


def _open_partner_link(base_url: str) -> str | None:
    """A fresh in-clinic link from today's session, so a newcomer can answer the form."""
    couple = next(c for c in couples.list_couples(PageRequest(limit=10), q=OPEN_LINK_COUPLE).items)
    recent = sessions.list_sessions(
        PageRequest(limit=50),
        couple_id=couple.id,
        status="completed",
        start=utcnow() - timedelta(days=1),
    ).items
    for booked in recent:
        reissued = links.reissue_in_clinic_links(booked.id, base_url)
        if reissued:
            return reissued[0].url
    for hours_ago in range(1, 24):
        try:
            booked = sessions.schedule(
                {
                    "couple_id": couple.id,
                    "duration_minutes": 50,
                    "modality": "in_person",
                    "starts_at": utcnow().replace(second=0, microsecond=0)
                    - timedelta(hours=hours_ago),
                }
            )
        except Conflict:
            continue
        completed = links.complete_session(booked.id, None, base_url)
        return completed.feedback_links[0].url
    return None


def _clinic(session: Session) -> Clinic:
    clinic = session.scalar(sa.select(Clinic).where(Clinic.slug == CLINIC["slug"]))
    if clinic is None:
        clinic = Clinic(**CLINIC)
        session.add(clinic)
        session.flush()
        audit.record("create", "clinic", clinic.id, clinic_id=clinic.id)
    return clinic


def _staff(session: Session, clinic: Clinic, demo: DemoStaff) -> dict[str, str]:
    member = session.scalar(
        sa.select(StaffMember).where(
            StaffMember.clinic_id == clinic.id, StaffMember.email == demo.email
        )
    )
    if member is None:
        member = StaffMember(
            clinic_id=clinic.id,
            email=demo.email,
            role=demo.role,
            display_name=demo.display_name,
            password_hash=hash_secret(demo.password),
            **demo.profile,
        )
        session.add(member)
        session.flush()
        audit.record("create", "staff", member.id, clinic_id=clinic.id)
    elif not member.active or not verify_secret(member.password_hash, demo.password):
        member.active = True
        member.password_hash = hash_secret(demo.password)
        session.flush()
        audit.record("update", "staff", member.id, clinic_id=clinic.id)
    return {
        "role": demo.role,
        "name": demo.display_name,
        "email": demo.email,
        "password": demo.password,
        "clinic": clinic.slug,
    }


def _docs_client(settings: Settings) -> OAuthClient:
    """The public first-party client Swagger UI (/docs) signs in with (authorization code+PKCE)."""
    return clients.ensure_frontend_client(
        settings.docs_client_id,
        "API documentation (Swagger UI)",
        [f"{settings.base_url}/docs/oauth2-redirect.html"],
    )
