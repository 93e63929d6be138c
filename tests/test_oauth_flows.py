"""The authorization server over real HTTP, driven by authlib's own OAuth 2 client.

The login step is a browser stand-in: a `requests.Session` that GETs the login page, reads
the CSRF token, POSTs the form and reads the redirect's `Location` without following it.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jws import extract_compact

from service.auth import keys
from service.auth.models import SigningKey
from service.cli import create_client, create_platform_client, rotate_keys
from service.clients import service as clients
from service.clients.models import OAuthClient
from service.core import context
from service.db import uow
from service.db.audit import AuditEvent
from service.staff.models import StaffMember
from tests.fixtures import PASSWORD, register_integrator

REDIRECT_URI = "https://frontend.example/callback"
BAD_CREDENTIALS = "The email or password is incorrect."


# --- helpers -------------------------------------------------------------------------------

TIMEOUT = 10


def http_get(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT, **kwargs)


def http_post(url: str, **kwargs: object) -> requests.Response:
    return requests.post(url, timeout=TIMEOUT, **kwargs)


@pytest.fixture
def urls(live_server):
    class Urls:
        base = live_server
        authorize = f"{live_server}/oauth/authorize"
        token = f"{live_server}/oauth/token"
        revoke = f"{live_server}/oauth/revoke"
        introspect = f"{live_server}/oauth/introspect"
        jwks = f"{live_server}/oauth/jwks.json"
        clinic = f"{live_server}/v1/clinic"

    return Urls


@pytest.fixture
def frontend(live_server) -> str:
    with context.system_context("test"), uow.unit_of_work():
        return clients.create_frontend_client("Test frontend", [REDIRECT_URI])


@pytest.fixture
def platform_client(live_server) -> tuple[str, str]:
    with context.system_context("test"), uow.unit_of_work():
        return clients.create_platform_client("Test operator")


def public_session(client_id: str, scope: str | None = None) -> OAuth2Session:
    return OAuth2Session(
        client_id,
        redirect_uri=REDIRECT_URI,
        scope=scope,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
        revocation_endpoint_auth_method="none",
    )


def csrf_token(page: requests.Response) -> str:
    return unescape(re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1))


def form_action(page: requests.Response) -> str:
    return urljoin(
        page.url, unescape(re.search(r'<form method="post" action="([^"]*)"', page.text).group(1))
    )


def alert(page: requests.Response) -> str:
    match = re.search(r'role="alert"[^>]*>(.*?)</p>', page.text, re.S)
    return unescape(match.group(1)).strip() if match else ""


def login(url: str, email: str, password: str = PASSWORD, **extra: str) -> requests.Response:
    """Sign in on the login page like a browser; the response is not followed."""
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False)
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf_token(page), "email": email, "password": password, **extra}
    return browser.post(form_action(page), data=form, allow_redirects=False)


def authorize(urls, client_id: str, email: str, scope: str | None = None, **params: str):
    """Code + PKCE up to the redirect: (oauth session, verifier, state, Location)."""
    oauth = public_session(client_id, scope)
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(urls.authorize, code_verifier=verifier, **params)
    response = login(url, email)
    assert response.status_code == 302, response.text
    return oauth, verifier, state, response.headers["Location"]


def sign_in(
    urls, client_id: str, email: str, scope: str | None = None
) -> tuple[OAuth2Session, dict]:
    oauth, verifier, state, location = authorize(urls, client_id, email, scope)
    token = oauth.fetch_token(
        urls.token, authorization_response=location, state=state, code_verifier=verifier
    )
    return oauth, token


def claims_of(access_token: str) -> dict:
    return json.loads(extract_compact(access_token.encode()).payload)


def header_of(access_token: str) -> dict:
    return extract_compact(access_token.encode()).protected


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Assertion(PrivateKeyJWT):
    """private_key_jwt with a short `exp` (authlib signs for an hour by default) and an
    optional fixed `jti` to replay."""

    def __init__(self, token_endpoint: str, *, ttl: int = 60, jti: str | None = None) -> None:
        super().__init__(token_endpoint, alg="ES256")
        self.ttl = ttl
        self.jti = jti

    def sign(self, auth, token_endpoint):
        claims = {"exp": int(time.time()) + self.ttl, "jti": self.jti or generate_token(36)}
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=self.token_endpoint,
            alg=self.alg,
            claims=claims,
            header={"kid": auth.client_secret.kid},
        )


@pytest.fixture
def jwt_client(clinic):
    """An integrator client of `clinic` that authenticates with private_key_jwt."""
    key = ECKey.generate_key("P-256", parameters={"kid": generate_token(8)}, private=True)
    client_id, secret = register_integrator(
        clinic.id,
        "EHR bridge",
        ["clinic.read", "couples.read"],
        jwks={"keys": [key.as_dict(private=False)]},
    )
    assert secret is None
    return client_id, key


def jwt_session(client_id: str, key: ECKey, urls, **assertion: object) -> OAuth2Session:
    session = OAuth2Session(client_id, key, token_endpoint_auth_method="private_key_jwt")
    session.register_client_auth_method(Assertion(urls.token, **assertion))
    return session


# --- authorization code + PKCE -------------------------------------------------------------


def test_code_with_pkce_s256_gives_tokens_that_read_the_users_clinic(urls, clinic, frontend):
    therapist = clinic.staff("therapist")
    oauth, token = sign_in(urls, frontend, therapist.email, scope="clinic.read couples.read")

    assert token["token_type"] == "Bearer"
    assert token["refresh_token"]
    assert set(token["scope"].split()) == {"clinic.read", "couples.read"}
    claims = claims_of(token["access_token"])
    assert claims["sub"] == str(therapist.id)
    assert claims["clinic_id"] == str(clinic.id)
    assert claims["roles"] == ["therapist"]
    assert claims["client_id"] == frontend
    own = oauth.get(urls.clinic)
    assert own.status_code == 200, own.text
    assert own.json()["id"] == str(clinic.id)
    with context.system_context("test"), uow.unit_of_work() as session:
        logins = session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.action == "login", AuditEvent.resource_id == therapist.id
            )
        ).all()
    assert [(e.clinic_id, e.actor_id) for e in logins] == [(clinic.id, str(therapist.id))]


def test_staff_token_scope_is_limited_by_role_and_defaults_to_the_roles_scopes(
    urls, clinic, frontend
):
    therapist = clinic.staff("therapist")
    _, asked = sign_in(urls, frontend, therapist.email, scope="clinic.read staff.write")
    assert asked["scope"] == "clinic.read"  # a therapist cannot get staff.write
    _, default = sign_in(urls, frontend, therapist.email)
    assert "couples.write" in default["scope"].split()
    assert "staff.write" not in default["scope"].split()


def test_authorize_without_code_challenge_is_refused(urls, clinic, frontend):
    oauth = public_session(frontend, "clinic.read")
    url, state = oauth.create_authorization_url(urls.authorize)  # no code_verifier: no PKCE
    assert "code_challenge" not in url
    response = http_get(url, allow_redirects=False)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["invalid_request"]
    assert query["state"] == [state]
    assert "code" not in query


def test_authorize_with_plain_code_challenge_is_refused(urls, clinic, frontend):
    oauth = public_session(frontend, "clinic.read")
    verifier = generate_token(48)
    url, _ = oauth.create_authorization_url(
        urls.authorize, code_challenge=verifier, code_challenge_method="plain"
    )
    response = http_get(url, allow_redirects=False)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["invalid_request"]
    # ... and a login attempt on that request issues no code either
    therapist = clinic.staff("therapist")
    posted = login_page_post_without_page(url, therapist.email)
    assert "code=" not in posted.headers.get("Location", "")


def login_page_post_without_page(url: str, email: str) -> requests.Response:
    return http_post(url, data={"email": email, "password": PASSWORD}, allow_redirects=False)


def test_authorize_with_unknown_redirect_uri_shows_an_error_page_and_never_redirects(
    urls, frontend
):
    oauth = OAuth2Session(
        frontend, redirect_uri="https://evil.example/cb", code_challenge_method="S256"
    )
    url, _ = oauth.create_authorization_url(urls.authorize, code_verifier=generate_token(48))
    response = http_get(url, allow_redirects=False)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not valid" in response.text


def test_code_verifier_mismatch_is_invalid_grant(urls, clinic, frontend):
    therapist = clinic.staff("therapist")
    oauth, _verifier, state, location = authorize(urls, frontend, therapist.email, "clinic.read")
    with pytest.raises(OAuthError) as refused:
        oauth.fetch_token(
            urls.token,
            authorization_response=location,
            state=state,
            code_verifier=generate_token(48),
        )
    assert refused.value.error == "invalid_grant"


def test_code_replay_is_invalid_grant_and_revokes_what_the_code_gave(urls, clinic, frontend):
    therapist = clinic.staff("therapist")
    oauth, verifier, state, location = authorize(urls, frontend, therapist.email, "clinic.read")
    first = oauth.fetch_token(
        urls.token, authorization_response=location, state=state, code_verifier=verifier
    )
    with pytest.raises(OAuthError) as replay:
        oauth.fetch_token(
            urls.token, authorization_response=location, state=state, code_verifier=verifier
        )
    assert replay.value.error == "invalid_grant"
    with pytest.raises(OAuthError) as family:
        public_session(frontend).refresh_token(urls.token, refresh_token=first["refresh_token"])
    assert family.value.error == "invalid_grant"


# --- refresh tokens ------------------------------------------------------------------------


def test_refresh_rotation_gives_a_new_refresh_token_each_time_and_old_ones_stop_working(
    urls, clinic, frontend
):
    therapist = clinic.staff("therapist")
    _, first = sign_in(urls, frontend, therapist.email, "clinic.read")
    oauth = public_session(frontend)
    second = oauth.refresh_token(urls.token, refresh_token=first["refresh_token"])
    third = oauth.refresh_token(urls.token, refresh_token=second["refresh_token"])
    tokens = {first["refresh_token"], second["refresh_token"], third["refresh_token"]}
    assert len(tokens) == 3
    assert third["scope"] == "clinic.read"
    assert http_get(urls.clinic, headers=bearer(third["access_token"])).status_code == 200
    with pytest.raises(OAuthError) as old:
        oauth.refresh_token(urls.token, refresh_token=first["refresh_token"])
    assert old.value.error == "invalid_grant"


def test_reused_refresh_token_revokes_the_whole_family(urls, clinic, frontend):
    therapist = clinic.staff("therapist")
    _, first = sign_in(urls, frontend, therapist.email, "clinic.read")
    oauth = public_session(frontend)
    second = oauth.refresh_token(urls.token, refresh_token=first["refresh_token"])

    with pytest.raises(OAuthError) as reuse:  # the rotated token, presented again
        oauth.refresh_token(urls.token, refresh_token=first["refresh_token"])
    assert reuse.value.error == "invalid_grant"
    with pytest.raises(OAuthError) as newest:  # the family's newest token is dead too
        oauth.refresh_token(urls.token, refresh_token=second["refresh_token"])
    assert newest.value.error == "invalid_grant"
    # another login of the same person is a different family and keeps working
    _, other = sign_in(urls, frontend, therapist.email, "clinic.read")
    assert oauth.refresh_token(urls.token, refresh_token=other["refresh_token"])["access_token"]


def test_refresh_is_refused_once_the_staff_member_is_deactivated(urls, clinic, frontend):
    therapist = clinic.staff("therapist")
    _, first = sign_in(urls, frontend, therapist.email, "clinic.read")
    with context.system_context("test"), uow.unit_of_work() as session:
        session.get(StaffMember, therapist.id).active = False
    with pytest.raises(OAuthError) as refused:
        public_session(frontend).refresh_token(urls.token, refresh_token=first["refresh_token"])
    assert refused.value.error == "invalid_grant"


def test_refresh_is_refused_for_a_family_older_than_tokens_valid_after(urls, clinic, frontend):
    from service.core.clock import utcnow

    therapist = clinic.staff("therapist")
    _, first = sign_in(urls, frontend, therapist.email, "clinic.read")
    with context.system_context("test"), uow.unit_of_work() as session:
        session.get(StaffMember, therapist.id).tokens_valid_after = utcnow()
    with pytest.raises(OAuthError) as refused:
        public_session(frontend).refresh_token(urls.token, refresh_token=first["refresh_token"])
    assert refused.value.error == "invalid_grant"


def test_revoking_a_refresh_token_revokes_its_family(urls, clinic, frontend):
    therapist = clinic.staff("therapist")
    _, first = sign_in(urls, frontend, therapist.email, "clinic.read")
    oauth = public_session(frontend)
    second = oauth.refresh_token(urls.token, refresh_token=first["refresh_token"])
    response = oauth.revoke_token(
        urls.revoke, token=second["refresh_token"], token_type_hint="refresh_token"
    )
    assert response.status_code == 200
    with pytest.raises(OAuthError):
        oauth.refresh_token(urls.token, refresh_token=second["refresh_token"])


# --- client credentials --------------------------------------------------------------------


def test_client_credentials_with_client_secret_basic(urls, clinic, platform_client):
    client_id, secret = register_integrator(clinic.id, "Billing export", ["clinic.read"])
    integrator = OAuth2Session(client_id, secret, token_endpoint_auth_method="client_secret_basic")
    token = integrator.fetch_token(urls.token, grant_type="client_credentials")
    claims = claims_of(token["access_token"])
    assert claims["clinic_id"] == str(clinic.id)
    assert claims["sub"] == claims["client_id"] == client_id
    assert token["scope"] == "clinic.read"
    assert "refresh_token" not in token
    assert integrator.get(urls.clinic).json()["id"] == str(clinic.id)

    wrong = OAuth2Session(
        client_id, "not-the-secret", token_endpoint_auth_method="client_secret_basic"
    )
    with pytest.raises(OAuthError) as refused:
        wrong.fetch_token(urls.token, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"

    platform_id, platform_secret = platform_client
    operator = OAuth2Session(platform_id, platform_secret)
    platform_token = operator.fetch_token(
        urls.token, grant_type="client_credentials", scope="platform clinic.read"
    )
    platform_claims = claims_of(platform_token["access_token"])
    assert platform_claims["scope"] == "platform"
    assert "clinic_id" not in platform_claims


def test_client_credentials_with_private_key_jwt(urls, clinic, jwt_client):
    client_id, key = jwt_client
    session = jwt_session(client_id, key, urls)
    token = session.fetch_token(urls.token, grant_type="client_credentials", scope="clinic.read")
    claims = claims_of(token["access_token"])
    assert claims["clinic_id"] == str(clinic.id)
    assert claims["scope"] == "clinic.read"
    assert session.get(urls.clinic).json()["id"] == str(clinic.id)


def test_private_key_jwt_with_a_replayed_jti_is_invalid_client(urls, jwt_client):
    client_id, key = jwt_client
    session = jwt_session(client_id, key, urls, jti=generate_token(36))
    assert session.fetch_token(urls.token, grant_type="client_credentials")["access_token"]
    with pytest.raises(OAuthError) as replay:
        session.fetch_token(urls.token, grant_type="client_credentials")
    assert replay.value.error == "invalid_client"


def test_private_key_jwt_expiring_too_far_ahead_is_invalid_client(urls, settings, jwt_client):
    client_id, key = jwt_client
    session = jwt_session(client_id, key, urls, ttl=settings.client_assertion_max_ttl + 120)
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(urls.token, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


def test_private_key_jwt_signed_by_an_unregistered_key_is_invalid_client(urls, jwt_client):
    client_id, _key = jwt_client
    stranger = ECKey.generate_key("P-256", parameters={"kid": generate_token(8)}, private=True)
    with pytest.raises(OAuthError) as refused:
        jwt_session(client_id, stranger, urls).fetch_token(
            urls.token, grant_type="client_credentials"
        )
    assert refused.value.error == "invalid_client"


# --- revocation, introspection, expiry, lifetime ---------------------------------------------


def test_revoked_access_token_introspects_inactive_and_gets_401(
    urls, clinic, frontend, platform_client
):
    therapist = clinic.staff("therapist")
    oauth, token = sign_in(urls, frontend, therapist.email, "clinic.read")
    access = token["access_token"]
    operator = OAuth2Session(*platform_client)

    active = operator.introspect_token(urls.introspect, token=access).json()
    assert active["active"] is True
    assert active["sub"] == str(therapist.id)
    assert active["client_id"] == frontend
    assert active["clinic_id"] == str(clinic.id)
    assert active["scope"] == "clinic.read"
    assert active["token_type"] == "Bearer"
    assert active["exp"] > active["iat"]

    revoked = oauth.revoke_token(urls.revoke, token=access, token_type_hint="access_token")
    assert revoked.status_code == 200
    assert operator.introspect_token(urls.introspect, token=access).json() == {"active": False}
    response = http_get(urls.clinic, headers=bearer(access))
    assert response.status_code == 401
    # the refresh token is not affected by revoking one access token
    assert oauth.refresh_token(urls.token, refresh_token=token["refresh_token"])["access_token"]


def test_revocation_answers_200_for_unknown_tokens(urls, frontend):
    response = public_session(frontend).revoke_token(urls.revoke, token="not-a-token")
    assert response.status_code == 200


def test_introspection_needs_a_confidential_client(urls, clinic, frontend):
    therapist = clinic.staff("therapist")
    response = public_session(frontend).introspect_token(urls.introspect, token=therapist.token)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_introspection_is_inactive_for_garbage(urls, platform_client):
    operator = OAuth2Session(*platform_client)
    assert operator.introspect_token(urls.introspect, token="x.y.z").json() == {"active": False}


def test_expired_access_token_gets_401(urls, clinic):
    therapist = clinic.staff("therapist")
    expired = clinic.token_for(therapist.id, "therapist", ttl=-60)
    response = http_get(urls.clinic, headers=bearer(expired))
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_access_token_lifetime_is_the_configured_ttl_not_authlibs_default(
    urls, settings, clinic, frontend, platform_client
):
    therapist = clinic.staff("therapist")
    _, staff_token = sign_in(urls, frontend, therapist.email, "clinic.read")
    refreshed = public_session(frontend).refresh_token(
        urls.token, refresh_token=staff_token["refresh_token"]
    )
    client_token = OAuth2Session(*platform_client).fetch_token(
        urls.token, grant_type="client_credentials"
    )
    for token in (staff_token, refreshed, client_token):
        claims = claims_of(token["access_token"])
        assert token["expires_in"] == settings.access_token_ttl
        assert claims["exp"] - claims["iat"] == settings.access_token_ttl
        assert settings.access_token_ttl <= 900


# --- the login page --------------------------------------------------------------------------


def test_login_unknown_email_and_wrong_password_show_the_same_message(urls, clinic, frontend):
    therapist = clinic.staff("therapist")
    oauth = public_session(frontend, "clinic.read")
    url, _ = oauth.create_authorization_url(urls.authorize, code_verifier=generate_token(48))

    unknown = login(url, f"nobody-{uuid.uuid4().hex}@example.org")
    wrong = login(url, therapist.email, password="not the password")
    for response in (unknown, wrong):
        assert response.status_code == 200
        assert "Location" not in response.headers
        assert 'name="clinic"' not in response.text
    assert alert(unknown) == alert(wrong) == BAD_CREDENTIALS


def test_login_page_is_an_accessible_form(urls, frontend):
    oauth = public_session(frontend, "clinic.read")
    url, _ = oauth.create_authorization_url(urls.authorize, code_verifier=generate_token(48))
    page = http_get(url)
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert '<label for="email">' in page.text and 'id="email"' in page.text
    assert '<label for="password">' in page.text and 'id="password"' in page.text
    assert page.headers["X-Frame-Options"] == "DENY"


def test_login_with_an_email_at_two_clinics_asks_for_the_clinic(
    urls, clinic, other_clinic, frontend
):
    email = f"shared-{uuid.uuid4().hex[:8]}@example.org"
    clinic.staff("therapist", email=email)
    admin_elsewhere = other_clinic.staff("admin", email=email)
    oauth = public_session(frontend, "clinic.read")
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(urls.authorize, code_verifier=verifier)

    browser = requests.Session()
    page = browser.get(url)
    form = {"csrf_token": csrf_token(page), "email": email, "password": PASSWORD}
    asked = browser.post(form_action(page), data=form, allow_redirects=False)
    assert asked.status_code == 200
    assert "Location" not in asked.headers
    assert '<label for="clinic">' in asked.text
    assert "more than one clinic" in alert(asked)

    chosen = browser.post(
        form_action(asked),
        data={**form, "csrf_token": csrf_token(asked), "clinic": other_clinic.slug},
        allow_redirects=False,
    )
    assert chosen.status_code == 302, chosen.text
    token = oauth.fetch_token(
        urls.token,
        authorization_response=chosen.headers["Location"],
        state=state,
        code_verifier=verifier,
    )
    claims = claims_of(token["access_token"])
    assert claims["clinic_id"] == str(other_clinic.id)
    assert claims["sub"] == str(admin_elsewhere.id)


def test_login_with_clinic_in_the_authorize_request_needs_no_question(
    urls, clinic, other_clinic, frontend
):
    email = f"shared-{uuid.uuid4().hex[:8]}@example.org"
    mine = clinic.staff("therapist", email=email)
    other_clinic.staff("admin", email=email)
    oauth, verifier, state, location = authorize(
        urls, frontend, email, "clinic.read", clinic=clinic.slug
    )
    token = oauth.fetch_token(
        urls.token, authorization_response=location, state=state, code_verifier=verifier
    )
    assert claims_of(token["access_token"])["sub"] == str(mine.id)


def test_login_without_csrf_token_is_refused(urls, clinic, frontend):
    therapist = clinic.staff("therapist")
    oauth = public_session(frontend, "clinic.read")
    url, _ = oauth.create_authorization_url(urls.authorize, code_verifier=generate_token(48))
    browser = requests.Session()
    page = browser.get(url)
    data = {"email": therapist.email, "password": PASSWORD}

    missing = browser.post(form_action(page), data=data, allow_redirects=False)
    forged = browser.post(
        form_action(page), data={**data, "csrf_token": "forged"}, allow_redirects=False
    )
    for response in (missing, forged):
        assert response.status_code == 400
        assert "Location" not in response.headers
        assert "expired" in alert(response)


# --- discovery and keys ----------------------------------------------------------------------


def test_metadata_documents_only_s256_and_the_jwks_has_the_current_key(urls, settings):
    metadata = http_get(f"{urls.base}/.well-known/oauth-authorization-server").json()
    AuthorizationServerMetadata(metadata).validate()
    assert metadata["issuer"] == settings.token_issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["token_endpoint"] == urls.token
    assert set(metadata["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "none",
        "client_secret_basic",
        "private_key_jwt",
    }
    assert "implicit" not in metadata["grant_types_supported"]

    smart = http_get(f"{urls.base}/.well-known/smart-configuration").json()
    assert smart["token_endpoint"] == urls.token
    assert smart["code_challenge_methods_supported"] == ["S256"]
    assert {"client-confidential-asymmetric", "client-public", "permission-v2"} <= set(
        smart["capabilities"]
    )

    published = http_get(metadata["jwks_uri"]).json()
    assert keys.signing_key().kid in {key["kid"] for key in published["keys"]}
    assert all("d" not in key for key in published["keys"])  # public halves only


def test_after_key_rotation_both_keys_are_published_and_old_tokens_still_verify(urls, clinic):
    therapist = clinic.staff("therapist")
    old_token = therapist.token
    old_kid = header_of(old_token)["kid"]
    new_kid = keys.rotate()["kid"]

    published = {key["kid"] for key in http_get(urls.jwks).json()["keys"]}
    assert {old_kid, new_kid} <= published
    assert http_get(urls.clinic, headers=bearer(old_token)).status_code == 200
    new_token = clinic.token_for(therapist.id, "therapist")
    assert header_of(new_token)["kid"] == new_kid
    assert http_get(urls.clinic, headers=bearer(new_token)).status_code == 200


# --- CLI -------------------------------------------------------------------------------------


def test_cli_commands_print_json(app, urls):
    runner = app.test_cli_runner()

    created = runner.invoke(create_platform_client, ["--name", "Operations"])
    assert created.exit_code == 0, created.output
    platform = json.loads(created.output)
    assert set(platform) == {"client_id", "client_secret"}
    token = OAuth2Session(platform["client_id"], platform["client_secret"]).fetch_token(
        urls.token, grant_type="client_credentials"
    )
    assert token["scope"] == "platform"

    uris = ["https://app.example/callback", "http://127.0.0.1:5173/callback"]
    made = runner.invoke(
        create_client,
        ["--name", "Clinic app", "--public", "--redirect-uri", uris[0], "--redirect-uri", uris[1]],
    )
    assert made.exit_code == 0, made.output
    frontend = json.loads(made.output)
    assert set(frontend) == {"client_id"}
    with context.system_context("test"), uow.unit_of_work() as session:
        row = session.scalar(
            sa.select(OAuthClient).where(OAuthClient.client_id == frontend["client_id"])
        )
        assert (row.kind, row.token_endpoint_auth_method, row.secret_hash) == (
            "frontend",
            "none",
            None,
        )
        assert row.redirect_uris == uris
        assert row.clinic_id is None
        current = session.scalar(sa.select(SigningKey.kid).where(SigningKey.status == "current"))

    assert runner.invoke(create_client, ["--name", "x", "--redirect-uri", uris[0]]).exit_code != 0

    rotated = runner.invoke(rotate_keys)
    assert rotated.exit_code == 0, rotated.output
    result = json.loads(rotated.output)
    assert result["previous"] == current
    assert result["kid"] != current
    published = {key["kid"] for key in http_get(urls.jwks).json()["keys"]}
    assert {result["kid"], current} <= published


def test_ensure_frontend_client_is_idempotent(live_server, settings):
    uri = f"{settings.base_url}/docs/oauth2-redirect.html"
    client_id = f"docs-{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        with context.system_context("test"), uow.unit_of_work():
            client = clients.ensure_frontend_client(client_id, "Docs", [uri])
    assert client.redirect_uris == [uri]
    assert client.token_endpoint_auth_method == "none"


# --- hostile input -----------------------------------------------------------------------------


def test_hostile_input_gets_oauth_errors_never_500(urls, clinic, frontend, jwt_client):
    client_id, key = jwt_client
    nan_assertion = jwt.encode(
        {"alg": "ES256", "kid": key.kid},
        {
            "iss": client_id,
            "sub": client_id,
            "aud": urls.token,
            "exp": float("nan"),
            "jti": generate_token(20),
        },
        key,
    )
    assertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    token_requests = [
        {"grant_type": "client_credentials", "client_id": "a\x00b"},
        {"grant_type": "authorization_code", "client_id": frontend, "code": "\x00" * 10},
        {"grant_type": "refresh_token", "client_id": frontend, "refresh_token": "x" * 5000},
        {
            "grant_type": "client_credentials",
            "client_assertion_type": assertion,
            "client_assertion": "a.b.c",
        },
        {
            "grant_type": "client_credentials",
            "client_assertion_type": assertion,
            "client_assertion": nan_assertion,
        },
        {"grant_type": "password", "username": "a", "password": "b"},
        {"grant_type": "implicit"},
    ]
    for data in token_requests:
        response = http_post(urls.token, data=data)
        assert 400 <= response.status_code < 500, (data, response.text)
        assert "error" in response.json()

    oauth = public_session(frontend, "clinic.read")
    url, _ = oauth.create_authorization_url(urls.authorize, code_verifier=generate_token(48))
    for email, extra in (
        ("a\x00@example.org", {}),
        ("x" * 5000, {}),
        ("a@b.c", {"clinic": "\x00"}),
    ):
        page = login(url, email, **extra)
        assert page.status_code == 200
        assert alert(page) == BAD_CREDENTIALS
    assert http_get(f"{urls.authorize}?client_id=%00&response_type=code").status_code == 400
    for endpoint in (urls.revoke, urls.introspect):
        response = http_post(endpoint, data={"token": "\x00", "client_id": "\x00"})
        assert 400 <= response.status_code < 500


def test_integrators_cannot_introspect_another_clinics_tokens(urls, clinic, other_clinic):
    client_id, secret = register_integrator(other_clinic.id, "Other EHR", ["clinic.read"])
    therapist = clinic.staff("therapist")
    outsider = OAuth2Session(client_id, secret)
    assert outsider.introspect_token(urls.introspect, token=therapist.token).json() == {
        "active": False
    }


@pytest.mark.postgres_only
def test_concurrent_use_of_one_refresh_token_gives_at_most_one_token_and_kills_the_family(
    urls, clinic, frontend
):
    therapist = clinic.staff("therapist")
    _, first = sign_in(urls, frontend, therapist.email, "clinic.read")
    data = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": frontend,
    }
    barrier = threading.Barrier(4)

    def refresh(_: int) -> requests.Response:
        barrier.wait()
        return http_post(urls.token, data=data)

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(refresh, range(4)))
    issued = [r.json() for r in responses if r.status_code == 200]
    assert len(issued) <= 1
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code != 200)
    for token in issued:
        again = http_post(
            urls.token,
            data={**data, "refresh_token": token["refresh_token"]},
        )
        assert again.status_code == 400
