"""Roles and scopes: what each role may do. Pure rules, no framework imports."""

from __future__ import annotations

ROLES = ("admin", "supervisor", "therapist")

CLINIC_SCOPES = (
    "clinic.read",
    "clinic.write",
    "staff.read",
    "staff.write",
    "couples.read",
    "couples.write",
    "sessions.read",
    "sessions.write",
    "feedback.read",
    "feedback.write",
    "alerts.read",
    "alerts.write",
    "webhooks.manage",
    "audit.read",
)
PLATFORM_SCOPE = "platform"

_READ_CLINICAL = (
    "clinic.read",
    "staff.read",
    "couples.read",
    "sessions.read",
    "feedback.read",
    "alerts.read",
)

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset(CLINIC_SCOPES),
    "supervisor": frozenset((*_READ_CLINICAL, "alerts.write")),
    "therapist": frozenset(
        (*_READ_CLINICAL, "couples.write", "sessions.write", "feedback.write", "alerts.write")
    ),
}
# Every scope some staff role may hold, in CLINIC_SCOPES order: what a first-party frontend
# asks for at sign-in (the authorization server narrows it to the user's role).
_HELD_BY_A_ROLE = frozenset().union(*ROLE_SCOPES.values())
STAFF_SCOPES = tuple(scope for scope in CLINIC_SCOPES if scope in _HELD_BY_A_ROLE)

# Scopes an admin may grant to an integrator client of the clinic.
INTEGRATOR_SCOPES = frozenset(CLINIC_SCOPES)


def scopes_for_role(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())


def grantable_scopes(requested: set[str], role: str) -> set[str]:
    """A staff token carries what was asked for, limited to what the role allows."""
    return requested & scopes_for_role(role)
