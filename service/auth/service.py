"""Authorization-server use-cases: clients, staff login, codes, refresh-token families,
revocation. Flask-free; `server.py` adapts these to authlib.

Secrets (client secrets, codes, refresh tokens) are stored only as hashes. Lookups by secret
happen before the tenant is known, so they run in small `system_context` blocks; writes for a
known clinic run in `tenant_context`, where row-level security applies.

Each step that must survive a refused request (reuse detection revoking a family, a replayed
`jti`) commits in its own unit of work, whatever the HTTP status of the response.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.audit import service as audit
from service.auth import keys
from service.auth.models import (
    AuthorizationCode,
    ClientAssertionJti,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
    SigningKey,
)
from service.core import context
from service.core.clock import utcnow
from service.core.context import Actor
from service.core.errors import Invalid
from service.core.ids import digest, new_secret
from service.core.passwords import hash_secret, verify_secret
from service.db import uow
from service.staff import service as staff_service
from service.staff.models import StaffMember
from service.staff.policy import CLINIC_SCOPES, PLATFORM_SCOPE, grantable_scopes, scopes_for_role

MAX_EMAIL = 254
MAX_PASSWORD = 1024
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_CLIENT_ID = 64
MAX_REDIRECT_URI = 500


class GrantRefused(Exception):
    """The code or refresh token cannot be used (unknown, used, expired, revoked, user gone)."""


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffUser:
    """The resource owner after a successful login (authlib's `grant_user`)."""

    staff_id: uuid.UUID
    clinic_id: uuid.UUID
    role: str

    def get_user_id(self) -> str:
        return str(self.staff_id)


@dataclass(frozen=True)
class LoginOutcome:
    user: StaffUser | None = None
    needs_clinic: bool = False  # the email matches accounts at several clinics


@dataclass(frozen=True)
class Grant:
    """What one access token is issued for: a staff member through a client, or a client."""

    subject: str
    clinic_id: uuid.UUID | None
    scopes: frozenset[str]
    roles: tuple[str, ...] = ()


# --- scopes --------------------------------------------------------------------------------


def staff_scopes(requested: Iterable[str], role: str, client_scopes: Iterable[str]) -> set[str]:
    """A staff token: requested ∩ what the role may have ∩ what the client may ask for.
    Nothing requested means everything the role has (still within the client's scopes)."""
    wanted = set(requested) or set(scopes_for_role(role))
    return grantable_scopes(wanted, role) & set(client_scopes)


def client_scopes(client: OAuthClient, requested: Iterable[str]) -> set[str]:
    """A client-credentials token: platform clients get `platform` only; integrators get the
    requested scopes within their registered ones (all of them if none requested)."""
    allowed = {PLATFORM_SCOPE} if client.kind == "platform" else set(client.scopes)
    if client.kind == "integrator":
        allowed -= {PLATFORM_SCOPE}
    wanted = set(requested)
    return wanted & allowed if wanted else allowed


# --- clients -------------------------------------------------------------------------------


def find_client(client_id: str) -> OAuthClient | None:
    """An active client by `client_id` (clinic or not: the caller is not yet known)."""
    if not plain_text(client_id, MAX_CLIENT_ID):
        return None
    with context.system_context("oauth client lookup"), uow.unit_of_work() as session:
        client = session.scalar(
            sa.select(OAuthClient).where(
                OAuthClient.client_id == client_id, OAuthClient.revoked_at.is_(None)
            )
        )
    return client


def verify_client_secret(client: OAuthClient, secret: str) -> bool:
    """argon2 check against the stored hash (clients without a secret always fail)."""
    return verify_secret(client.secret_hash, secret or "")


def create_platform_client(name: str) -> tuple[str, str]:
    """A confidential operator client (scope `platform`, no clinic); returns (id, secret)."""
    client_id, secret = create_backend_client(name, kind="platform", scopes=[PLATFORM_SCOPE])
    assert secret is not None
    return client_id, secret


def create_backend_client(
    name: str,
    *,
    kind: str,
    scopes: Iterable[str],
    clinic_id: uuid.UUID | None = None,
    jwks: dict | None = None,
    jwks_uri: str | None = None,
) -> tuple[str, str | None]:
    """A client-credentials client. With `jwks`/`jwks_uri` it authenticates with
    private_key_jwt and has no secret; otherwise it gets a secret (returned once, stored hashed).
    Integrator clients belong to a clinic; platform clients to none."""
    if kind not in ("integrator", "platform"):
        raise Invalid("Unknown client kind.", errors={"kind": ["integrator or platform"]})
    if (kind == "integrator") != (clinic_id is not None):
        raise Invalid("Integrator clients belong to exactly one clinic; platform clients to none.")
    scopes = sorted(set(scopes))
    allowed = {PLATFORM_SCOPE} if kind == "platform" else set(CLINIC_SCOPES)
    if not scopes or not set(scopes) <= allowed:
        raise Invalid("Unsupported scopes.", errors={"scopes": sorted(set(scopes) - allowed)})
    if jwks is not None and not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list)):
        raise Invalid("A JWK Set needs a 'keys' list.", errors={"jwks": ["Not a JWK Set."]})
    if jwks_uri is not None and not (
        plain_text(jwks_uri, MAX_REDIRECT_URI) and jwks_uri.startswith(("https://", "http://"))
    ):
        raise Invalid("Invalid JWKS URI.", errors={"jwks_uri": ["An http(s) URL."]})
    asymmetric = bool(jwks or jwks_uri)
    secret = None if asymmetric else new_secret()
    client = OAuthClient(
        client_id=_new_client_id(kind),
        clinic_id=clinic_id,
        name=_name(name),
        kind=kind,
        token_endpoint_auth_method="private_key_jwt" if asymmetric else "client_secret_basic",
        secret_hash=hash_secret(secret) if secret else None,
        jwks=jwks,
        jwks_uri=jwks_uri,
        redirect_uris=[],
        scopes=scopes,
    )
    uow.session().add(client)
    uow.session().flush()
    if clinic_id is not None:
        audit.record("create", "oauth_client", client.id, clinic_id=clinic_id)
    return client.client_id, secret


def create_frontend_client(
    name: str, redirect_uris: Iterable[str], client_id: str | None = None
) -> str:
    """A first-party public client (authorization code + PKCE, no secret, no clinic)."""
    uris = _redirect_uris(redirect_uris)
    client_id = client_id or _new_client_id("frontend")
    if not plain_text(client_id, MAX_CLIENT_ID):
        raise Invalid("Invalid client id.", errors={"client_id": ["1-64 printable characters."]})
    session = uow.session()
    if session.scalar(sa.select(sa.exists().where(OAuthClient.client_id == client_id))):
        raise Invalid("This client id is taken.", errors={"client_id": ["Already taken."]})
    session.add(
        OAuthClient(
            client_id=client_id,
            clinic_id=None,
            name=_name(name),
            kind="frontend",
            token_endpoint_auth_method="none",  # noqa: S106 - a method name, not a secret
            redirect_uris=uris,
            scopes=list(CLINIC_SCOPES),
        )
    )
    session.flush()
    return client_id


def ensure_frontend_client(client_id: str, name: str, redirect_uris: Iterable[str]) -> OAuthClient:
    """Create the first-party client if missing, else make sure it has these redirect URIs
    (idempotent; used to register the docs client)."""
    uris = _redirect_uris(redirect_uris)
    session = uow.session()
    client = session.scalar(sa.select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        create_frontend_client(name, uris, client_id=client_id)
        return session.scalar(sa.select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client.kind != "frontend":
        raise Invalid("This client id belongs to another kind of client.")
    missing = [uri for uri in uris if uri not in client.redirect_uris]
    if missing:
        client.redirect_uris = [*client.redirect_uris, *missing]
    client.revoked_at = None
    session.flush()
    return client


def _new_client_id(kind: str) -> str:
    return f"{kind}-{new_secret()[:24]}"


def _name(name: str) -> str:
    name = (name or "").strip()
    if not plain_text(name, 120):
        raise Invalid("A name of 1-120 printable characters is required.")
    return name


def _redirect_uris(uris: Iterable[str]) -> list[str]:
    result = []
    for uri in uris:
        if (
            not plain_text(uri, MAX_REDIRECT_URI)
            or not uri.startswith(("https://", "http://"))
            or "#" in uri
        ):
            raise Invalid("Invalid redirect URI.", errors={"redirect_uris": [uri[:100]]})
        result.append(uri)
    if not result:
        raise Invalid("At least one redirect URI is required.")
    return result


def plain_text(value: object, max_length: int) -> bool:
    """A non-empty string without control characters, safe to send to the database."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and not any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
    )


# --- login ---------------------------------------------------------------------------------


def authenticate_staff(email: str, password: str, clinic_slug: str | None) -> LoginOutcome:
    """Check a login. Unknown email and wrong password cost the same and look the same; an
    email held at several clinics (with the right password) asks for the clinic."""
    email = (email or "").strip()
    clinic_slug = (clinic_slug or "").strip().lower() or None
    well_formed = (
        plain_text(email, MAX_EMAIL)
        and 0 < len(password or "") <= MAX_PASSWORD
        and (clinic_slug is None or bool(SLUG.match(clinic_slug)))
    )
    candidates = staff_service.candidates_for_login(email, clinic_slug) if well_formed else []
    if not candidates:
        verify_secret(None, password or "")  # as slow as a real check
        return LoginOutcome()
    matching = [
        (member, clinic)
        for member, clinic in candidates
        if verify_secret(member.password_hash, password)
    ]
    if not matching:
        return LoginOutcome()
    if len(candidates) > 1:
        return LoginOutcome(needs_clinic=True)
    member, _clinic = matching[0]
    return LoginOutcome(user=StaffUser(member.id, member.clinic_id, member.role))


# --- authorization codes -------------------------------------------------------------------


def save_authorization_code(
    code: str,
    *,
    user: StaffUser,
    client_id: str,
    redirect_uri: str | None,
    scopes: Iterable[str],
    code_challenge: str,
    code_challenge_method: str,
    ttl: int,
) -> None:
    """Store the code's digest for this staff member; the login is audited with it."""
    actor = Actor(
        kind="staff", subject=str(user.staff_id), clinic_id=user.clinic_id, roles=frozenset()
    )
    with context.tenant_context(user.clinic_id, actor=actor), uow.unit_of_work() as session:
        session.add(
            AuthorizationCode(
                clinic_id=user.clinic_id,
                code_hash=digest(code),
                client_id=client_id,
                staff_id=user.staff_id,
                redirect_uri=redirect_uri or "",
                scope=" ".join(sorted(set(scopes))),
                code_challenge=code_challenge,
                code_challenge_method=code_challenge_method,
                expires_at=utcnow() + timedelta(seconds=ttl),
            )
        )
        audit.record("login", "staff", user.staff_id, clinic_id=user.clinic_id)


def find_authorization_code(code: str) -> AuthorizationCode | None:
    with context.system_context("oauth code lookup"), uow.unit_of_work() as session:
        return session.scalar(
            sa.select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code))
        )


def redeem_authorization_code(
    code: AuthorizationCode, *, refresh_token: str, idle_ttl: int, absolute_ttl: int
) -> Grant:
    """Use the code once and open a refresh-token family (family id = the code's id, so a
    replayed code can revoke what it produced). A second use revokes that family."""
    now = utcnow()
    replayed = False
    with context.tenant_context(code.clinic_id), uow.unit_of_work() as session:
        used = session.execute(
            sa.update(AuthorizationCode)
            .where(AuthorizationCode.id == code.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:  # used concurrently: a replay
            _revoke_family(session, code.id, now)
            replayed = True
        else:
            if code.expires_at <= now:
                raise GrantRefused("The code has expired.")
            member = _usable_staff(code.staff_id, since=code.created_at)
            session.add(
                RefreshToken(
                    clinic_id=code.clinic_id,
                    token_hash=digest(refresh_token),
                    family_id=code.id,
                    client_id=code.client_id,
                    staff_id=code.staff_id,
                    scope=code.scope,
                    idle_expires_at=min(
                        now + timedelta(seconds=idle_ttl), now + timedelta(seconds=absolute_ttl)
                    ),
                    absolute_expires_at=now + timedelta(seconds=absolute_ttl),
                )
            )
    if replayed:
        raise GrantRefused("The code has been used.")
    return Grant(
        subject=str(member.id),
        clinic_id=member.clinic_id,
        scopes=frozenset(code.scope.split()) & scopes_for_role(member.role),
        roles=(member.role,),
    )


def revoke_code_family(code: AuthorizationCode) -> None:
    """A used code was presented again: revoke every refresh token it produced."""
    with context.tenant_context(code.clinic_id), uow.unit_of_work() as session:
        _revoke_family(session, code.id, utcnow())
        audit.record("code_replay", "staff", code.staff_id, clinic_id=code.clinic_id)


# --- refresh tokens ------------------------------------------------------------------------


def find_refresh_token(token: str) -> RefreshToken | None:
    with context.system_context("oauth refresh token lookup"), uow.unit_of_work() as session:
        return session.scalar(
            sa.select(RefreshToken).where(RefreshToken.token_hash == digest(token))
        )


def rotate_refresh_token(
    old: RefreshToken,
    *,
    new_token: str,
    requested_scopes: Iterable[str],
    client_scopes: Iterable[str],
    idle_ttl: int,
) -> Grant:
    """Exchange a refresh token for the next one of its family. Presenting a rotated (or
    revoked) link again is reuse: the whole family is revoked, committed, and refused."""
    now = utcnow()
    if old.revoked_at is not None:  # logged out or already caught: nothing more to revoke
        raise GrantRefused("The refresh token has been revoked.")
    reused = False
    with context.tenant_context(old.clinic_id), uow.unit_of_work() as session:
        rotated = session.execute(
            sa.update(RefreshToken)
            .where(
                RefreshToken.id == old.id,
                RefreshToken.rotated_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(rotated_at=now)
        )
        if rotated.rowcount != 1:
            _revoke_family(session, old.family_id, now)
            audit.record("refresh_token_reuse", "staff", old.staff_id, clinic_id=old.clinic_id)
            reused = True
        else:
            if now >= old.idle_expires_at or now >= old.absolute_expires_at:
                raise GrantRefused("The refresh token has expired.")
            started = session.scalar(
                sa.select(sa.func.min(RefreshToken.created_at)).where(
                    RefreshToken.family_id == old.family_id
                )
            )
            member = _usable_staff(old.staff_id, since=started or old.created_at)
            session.add(
                RefreshToken(
                    clinic_id=old.clinic_id,
                    token_hash=digest(new_token),
                    family_id=old.family_id,
                    client_id=old.client_id,
                    staff_id=old.staff_id,
                    scope=old.scope,
                    idle_expires_at=min(now + timedelta(seconds=idle_ttl), old.absolute_expires_at),
                    absolute_expires_at=old.absolute_expires_at,
                )
            )
    if reused:
        raise GrantRefused("The refresh token has already been used.")
    family_scopes = set(old.scope.split())
    wanted = (set(requested_scopes) or family_scopes) & family_scopes
    return Grant(
        subject=str(member.id),
        clinic_id=member.clinic_id,
        scopes=frozenset(staff_scopes(wanted, member.role, client_scopes)),
        roles=(member.role,),
    )


def revoke_refresh_family(token: RefreshToken) -> None:
    with context.tenant_context(token.clinic_id), uow.unit_of_work() as session:
        _revoke_family(session, token.family_id, utcnow())


def refresh_token_active(token: RefreshToken) -> bool:
    """Usable now: not rotated or revoked, not expired, its staff member still allowed."""
    now = utcnow()
    if token.rotated_at or token.revoked_at:
        return False
    if now >= token.idle_expires_at or now >= token.absolute_expires_at:
        return False
    with context.tenant_context(token.clinic_id), uow.unit_of_work() as session:
        started = session.scalar(
            sa.select(sa.func.min(RefreshToken.created_at)).where(
                RefreshToken.family_id == token.family_id
            )
        )
        try:
            _usable_staff(token.staff_id, since=started or token.created_at)
        except GrantRefused:
            return False
    return True


def _revoke_family(session: Session, family_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _usable_staff(staff_id: uuid.UUID, *, since: datetime) -> StaffMember:
    """The staff member, if still active and not logged out everywhere after `since`."""
    member = staff_service.get_active(staff_id)
    if member is None:
        raise GrantRefused("The account is no longer active.")
    if member.tokens_valid_after is not None and since < member.tokens_valid_after:
        raise GrantRefused("The session has been ended.")
    return member


# --- access tokens -------------------------------------------------------------------------


def access_token_active(claims: dict) -> bool:
    """A verified access token is still good: not revoked, and its staff member (still
    active, not logged out after `iat`) or its client (not revoked) still allowed."""
    issued_at = datetime.fromtimestamp(int(claims.get("iat", 0)), UTC)
    with context.system_context("oauth token introspection"), uow.unit_of_work() as session:
        if session.get(RevokedAccessToken, str(claims["jti"])) is not None:
            return False
        if claims.get("roles"):
            try:
                member = session.get(StaffMember, uuid.UUID(str(claims["sub"])))
            except ValueError:
                return False
            return bool(
                member is not None
                and member.active
                and (member.tokens_valid_after is None or issued_at >= member.tokens_valid_after)
            )
        return bool(
            session.scalar(
                sa.select(
                    sa.exists().where(
                        OAuthClient.client_id == str(claims.get("client_id")),
                        OAuthClient.revoked_at.is_(None),
                    )
                )
            )
        )


def revoke_access_token(jti: str, expires_at: datetime) -> None:
    """Refuse this JWT from now on (kept until it would have expired anyway)."""
    with uow.unit_of_work() as session:
        if session.get(RevokedAccessToken, jti) is None:
            session.add(RevokedAccessToken(jti=jti, expires_at=expires_at))


# --- private_key_jwt -----------------------------------------------------------------------


def remember_assertion_jti(client_id: str, jti: str, expires_at: datetime) -> bool:
    """Record a client assertion's `jti`; False when this client used it before."""
    try:
        with uow.unit_of_work() as session:
            session.execute(
                sa.delete(ClientAssertionJti).where(
                    ClientAssertionJti.client_id == client_id,
                    ClientAssertionJti.expires_at < utcnow(),
                )
            )
            session.add(ClientAssertionJti(client_id=client_id, jti=jti, expires_at=expires_at))
            session.flush()
    except IntegrityError:
        return False
    return True


# --- signing keys --------------------------------------------------------------------------


def rotate_signing_keys() -> dict[str, str | None]:
    """A new current key; the old one stays published as previous."""
    with context.system_context("rotate signing keys"), uow.unit_of_work() as session:
        previous = session.scalar(sa.select(SigningKey.kid).where(SigningKey.status == "current"))
    return {"kid": keys.rotate(), "previous": previous}
