"""The demo clinic for `make run`: `flask --app wsgi seed-demo`.

Idempotent: a second run creates nothing new and resets the demo passwords, so the logins it
prints always work. Fixed passwords are for a developer's machine only: production is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.audit import service as audit
from service.auth import service as auth
from service.auth.models import OAuthClient
from service.clinics.models import Clinic
from service.core import context
from service.core.passwords import hash_secret, verify_secret
from service.db import uow
from service.settings import Settings
from service.staff.models import StaffMember

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
        return {
            "clinic": {"id": str(clinic.id), "name": clinic.name, "slug": clinic.slug},
            "logins": logins,
            "docs_client_id": docs_client.client_id,
        }


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
    return auth.ensure_frontend_client(
        settings.docs_client_id,
        "API documentation (Swagger UI)",
        [f"{settings.base_url}/docs/oauth2-redirect.html"],
    )
