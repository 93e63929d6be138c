"""Who is acting, and for which clinic: the tenant boundary as context variables.

The database layer reads `current()` when a transaction begins and scopes it to that clinic
(PostgreSQL row-level security). Exactly two places set it: request authentication and the
worker. `system_context()` is the audited bypass for work that must see across clinics
(finding a user at login, resolving a token, platform operations): the sessions opened in it
connect as the database's system role (service/db/session.py).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Actor:
    """The authenticated caller."""

    kind: str  # "staff", "client" (integrator or platform) or "system"
    subject: str  # staff id, client_id or a system job name
    clinic_id: uuid.UUID | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    client_id: str | None = None

    @property
    def staff_id(self) -> uuid.UUID | None:
        return uuid.UUID(self.subject) if self.kind == "staff" else None

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


@dataclass(frozen=True)
class RequestContext:
    actor: Actor | None = None
    clinic_id: uuid.UUID | None = None
    system: bool = False  # sessions connect as the system role; set only by system_context()
    request_id: str | None = None
    ip: str | None = None
    route: str | None = None  # the URL rule the request matched, for the audit trail


_context: ContextVar[RequestContext] = ContextVar("alliance_context", default=RequestContext())  # noqa: B039 - frozen


def current() -> RequestContext:
    return _context.get()


def set_context(ctx: RequestContext) -> None:
    _context.set(ctx)


def clinic_id() -> uuid.UUID | None:
    return _context.get().clinic_id


def actor() -> Actor | None:
    return _context.get().actor


def bind(
    *, actor: Actor | None = None, clinic_id: uuid.UUID | None = None, **extra: object
) -> None:
    """Set the caller and tenant for the rest of this request or job."""
    _context.set(_replace(_context.get(), actor=actor, clinic_id=clinic_id, **extra))


@contextlib.contextmanager
def system_context(reason: str, clinic_id: uuid.UUID | None = None) -> Iterator[None]:
    """Run a block that may see every clinic's rows. `reason` names the use for review."""
    token = _context.set(
        _replace(
            _context.get(),
            system=True,
            clinic_id=clinic_id,
            actor=_context.get().actor or Actor(kind="system", subject=reason),
        )
    )
    try:
        yield
    finally:
        _context.reset(token)


@contextlib.contextmanager
def tenant_context(clinic_id: uuid.UUID, actor: Actor | None = None) -> Iterator[None]:
    """Run a block as one clinic (worker jobs, CLI, public pages resolved by slug)."""
    token = _context.set(
        _replace(
            _context.get(), clinic_id=clinic_id, system=False, actor=actor or _context.get().actor
        )
    )
    try:
        yield
    finally:
        _context.reset(token)


def _replace(ctx: RequestContext, **changes: object) -> RequestContext:
    return replace(ctx, **changes)
