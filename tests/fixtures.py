"""Test data built through the real models and the real signing key.

Every test makes its own clinic(s) with unique slugs, so tests never see each other's rows and
need no cleanup: tenant isolation is what keeps them apart.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from dataclasses import dataclass

import pytest

from service.auth import tokens
from service.clients.models import OAuthClient
from service.clinics.models import Clinic
from service.core import context
from service.core.ids import new_secret
from service.core.passwords import hash_secret
from service.db import uow
from service.staff.models import StaffMember
from service.staff.policy import PLATFORM_SCOPE, scopes_for_role

PASSWORD = "correct horse battery staple"
_counter = itertools.count()
_PASSWORD_HASH: list[str] = []


def _password_hash() -> str:
    if not _PASSWORD_HASH:
        _PASSWORD_HASH.append(hash_secret(PASSWORD))
    return _PASSWORD_HASH[0]


@dataclass(frozen=True)
class StaffHandle:
    id: uuid.UUID
    clinic_id: uuid.UUID
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class ClientHandle:
    client_id: str
    secret: str | None
    clinic_id: uuid.UUID | None
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class ClinicHandle:
    """A clinic and helpers to add staff and clients to it."""

    id: uuid.UUID
    slug: str
    issuer: str
    ttl: int = 900

    def staff(self, role: str = "admin", **fields: object) -> StaffHandle:
        n = next(_counter)
        with context.system_context("test data"), uow.unit_of_work() as session:
            member = StaffMember(
                clinic_id=self.id,
                email=fields.pop("email", f"{role}{n}@{self.slug}.example"),
                role=role,
                display_name=fields.pop("display_name", f"{role.title()} {n}"),
                password_hash=_password_hash(),
                **fields,
            )
            session.add(member)
            session.flush()
            staff_id, email = member.id, member.email
        token = self.token_for(staff_id, role)
        return StaffHandle(staff_id, self.id, email, role, token)

    def token_for(
        self,
        staff_id: uuid.UUID,
        role: str,
        *,
        ttl: int | None = None,
        scopes: frozenset[str] | None = None,
    ) -> str:
        claims = tokens.access_token_claims(
            issuer=self.issuer,
            subject=str(staff_id),
            client_id="test-frontend",
            scopes=scopes if scopes is not None else scopes_for_role(role),
            ttl=ttl or self.ttl,
            clinic_id=self.id,
            roles=[role],
        )
        return tokens.sign(claims)

    def integrator(self, *scopes: str) -> ClientHandle:
        return make_client(self.issuer, clinic_id=self.id, scopes=scopes, kind="integrator")


def make_client(
    issuer: str, *, clinic_id: uuid.UUID | None, scopes: tuple[str, ...], kind: str
) -> ClientHandle:
    client_id = f"test-{kind}-{next(_counter)}-{new_secret()[:6]}"
    secret = new_secret()
    with context.system_context("test data"), uow.unit_of_work() as session:
        session.add(
            OAuthClient(
                client_id=client_id,
                clinic_id=clinic_id,
                name=client_id,
                kind=kind,
                token_endpoint_auth_method="client_secret_basic",
                secret_hash=hash_secret(secret),
                scopes=list(scopes),
            )
        )
    claims = tokens.access_token_claims(
        issuer=issuer,
        subject=client_id,
        client_id=client_id,
        scopes=scopes,
        ttl=900,
        clinic_id=clinic_id,
    )
    return ClientHandle(client_id, secret, clinic_id, tokens.sign(claims))


def create_clinic(issuer: str, **fields: object) -> ClinicHandle:
    slug = str(fields.pop("slug", f"clinic-{next(_counter)}-{new_secret()[:8].lower()}"))
    slug = "".join(ch if ch.isalnum() else "-" for ch in slug).strip("-").lower()
    with context.system_context("test data"), uow.unit_of_work() as session:
        clinic = Clinic(name=fields.pop("name", f"Clinic {slug}"), slug=slug, **fields)
        session.add(clinic)
        session.flush()
        clinic_id = clinic.id
    return ClinicHandle(clinic_id, slug, issuer)


@pytest.fixture
def make_clinic(app, settings):
    return functools.partial(create_clinic, settings.token_issuer)


@pytest.fixture
def clinic(make_clinic) -> ClinicHandle:
    return make_clinic()


@pytest.fixture
def other_clinic(make_clinic) -> ClinicHandle:
    return make_clinic()


@pytest.fixture
def admin(clinic) -> StaffHandle:
    return clinic.staff("admin")


@pytest.fixture
def platform(app, settings) -> ClientHandle:
    return make_client(
        settings.token_issuer, clinic_id=None, scopes=(PLATFORM_SCOPE,), kind="platform"
    )


def register_integrator(
    clinic_id: uuid.UUID, name: str, scopes: list[str], jwks: dict | None = None
) -> tuple[str, str | None]:
    """An integrator client registered as a clinic admin would (`/v1/clients`): (id, secret)."""
    from service.clients import service as clients

    with context.tenant_context(clinic_id), uow.unit_of_work():
        registered = clients.register(
            {
                "name": name,
                "scopes": scopes,
                "token_endpoint_auth_method": "private_key_jwt" if jwks else "client_secret_basic",
                "jwks": jwks,
            }
        )
        return registered.resource.client_id, registered.client_secret
