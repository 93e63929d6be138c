"""Roles and scopes: what each role may do. Pure rules, no framework imports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

MICROSECOND = timedelta(microseconds=1)
JWT_RESOLUTION = timedelta(seconds=1)  # `iat` is whole seconds (RFC 7519 NumericDate)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

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

# SMART v2 system scopes for FHIR R4 (`system/<type>.<permissions>`): `r` read, `s` search,
# `c` create, `u` update. What each FHIR route needs is checked by `covers`.
FHIR_READ_TYPES = (
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "Group",
    "Encounter",
    "Questionnaire",
    "QuestionnaireResponse",
    "Observation",
    "Flag",
)
FHIR_WRITE_TYPES = ("Patient", "Practitioner", "Appointment", "Encounter")
SYSTEM_SCOPES = (
    "system/*.rs",
    *(f"system/{kind}.rs" for kind in FHIR_READ_TYPES),
    "system/*.cu",
    *(f"system/{kind}.cu" for kind in FHIR_WRITE_TYPES),
)

# Scopes an admin may grant to an integrator client of the clinic.
INTEGRATOR_SCOPES = frozenset((*CLINIC_SCOPES, *SYSTEM_SCOPES))


def scopes_for_role(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())


def grantable_scopes(requested: set[str], role: str) -> set[str]:
    """A staff token carries what was asked for, limited to what the role allows."""
    return requested & scopes_for_role(role)


def covers(granted: set[str] | frozenset[str], scope: str) -> bool:
    """Does a set of granted scopes include `scope`? A SMART v2 system scope is covered by
    one for the same type (or `*`) whose permissions include all of its own."""
    if scope in granted:
        return True
    wanted = _system_scope(scope)
    if wanted is None:
        return False
    kind, permissions = wanted
    for held in granted:
        parsed = _system_scope(held)
        if parsed and parsed[0] in (kind, "*") and set(permissions) <= set(parsed[1]):
            return True
    return False


def _system_scope(scope: str) -> tuple[str, str] | None:
    """`system/Patient.rs` → ("Patient", "rs"); None for any other scope."""
    context, _, rest = scope.partition("/")
    kind, _, permissions = rest.partition(".")
    if context != "system" or not kind or not permissions or set(permissions) - set("cruds"):
        return None
    return kind, permissions


def issued_in_time(
    issued_at: datetime, valid_after: datetime | None, *, resolution: timedelta = MICROSECOND
) -> bool:
    """A credential issued at `issued_at` outlives a sign-out-everywhere (or password set) at
    `valid_after` when it was issued at or after it, compared at the credential's own
    resolution: a JWT's `iat` has whole seconds, so a token issued later in the same second
    counts as issued after (otherwise signing in right after setting a password fails about
    half the time)."""
    if valid_after is None:
        return True
    return issued_at >= valid_after - (valid_after - EPOCH) % resolution


def sign_out_everywhere(now: datetime) -> datetime:
    """`tokens_valid_after` for a sign-out everywhere (deactivation, role change): the start of
    the next whole second, so that no access token issued in this second survives it."""
    into_second = (now - EPOCH) % JWT_RESOLUTION
    return now - into_second + JWT_RESOLUTION if into_second else now
