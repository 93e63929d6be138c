"""`/v1/clients`: an admin registers, lists, reads and revokes the clinic's integrator clients."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from joserfc.jwk import ECKey

from service.auth import tokens
from service.clients.models import OAuthClient
from service.core import context
from service.core.ids import new_secret
from service.core.passwords import verify_secret
from service.db import uow

SECRET_BODY = {
    "name": "Acme EHR sync",
    "scopes": ["couples.read", "sessions.read", "couples.read"],
    "token_endpoint_auth_method": "client_secret_basic",
}


def _public_jwks() -> dict:
    return {"keys": [{**ECKey.generate_key("P-256").as_dict(private=False), "kid": "k1"}]}


def _stored(client_pk: str) -> OAuthClient:
    with context.system_context("test check"), uow.unit_of_work() as session:
        return session.get(OAuthClient, uuid.UUID(client_pk))


def _token_for(client_id: str, clinic_id: uuid.UUID, issuer: str, *scopes: str) -> str:
    claims = tokens.access_token_claims(
        issuer=issuer,
        subject=client_id,
        client_id=client_id,
        scopes=scopes,
        ttl=300,
        clinic_id=clinic_id,
    )
    return tokens.sign(claims)


def test_admin_registers_a_secret_client_shown_once(client, admin):
    response = client.post("/v1/clients", json=SECRET_BODY, headers=admin.headers)

    assert response.status_code == 201, response.json
    created = response.json
    assert response.headers["Location"] == f"/v1/clients/{created['id']}"
    assert created["client_id"] and created["client_secret"]
    assert created["scopes"] == ["couples.read", "sessions.read"]
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    assert created["revoked_at"] is None

    stored = _stored(created["id"])
    assert stored.clinic_id == admin.clinic_id and stored.kind == "integrator"
    assert stored.secret_hash != created["client_secret"]
    assert verify_secret(stored.secret_hash, created["client_secret"])

    one = client.get(f"/v1/clients/{created['id']}", headers=admin.headers)
    assert one.status_code == 200
    assert "client_secret" not in one.json and "secret_hash" not in one.json
    assert one.json["client_id"] == created["client_id"]
    listed = client.get("/v1/clients", headers=admin.headers).json["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    assert all("client_secret" not in item for item in listed)


def test_private_key_jwt_client_with_inline_jwks_or_https_uri(client, admin):
    inline = client.post(
        "/v1/clients",
        json={
            "name": "Keyed EHR",
            "scopes": ["feedback.read"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": _public_jwks(),
        },
        headers=admin.headers,
    )
    assert inline.status_code == 201, inline.json
    assert inline.json["client_secret"] is None
    assert inline.json["jwks"]["keys"][0]["kid"] == "k1"
    assert _stored(inline.json["id"]).secret_hash is None

    by_uri = client.post(
        "/v1/clients",
        json={
            "name": "Keyed EHR 2",
            "scopes": ["feedback.read"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://ehr.example/.well-known/jwks.json",
        },
        headers=admin.headers,
    )
    assert by_uri.status_code == 201, by_uri.json
    assert by_uri.json["jwks_uri"] == "https://ehr.example/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"scopes": ["couples.read", "platform"]}, "scopes"),
        ({"scopes": ["couples.read", "everything"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
        ({"redirect_uris": ["https://x.example"]}, "redirect_uris"),
        ({"name": "Bad\x00name"}, "name"),
        ({"jwks_uri": "https://ehr.example/jwks.json"}, "jwks_uri"),  # not for secret clients
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),  # no keys
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "http://ehr.example/jwks.json",
            },
            "jwks_uri",
        ),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}}, "jwks"),
        (
            {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct"}]}},
            "jwks",
        ),
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]},
            },
            "jwks",
        ),
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "bad", "y": "bad"}]},
            },
            "jwks",
        ),
    ],
)
def test_bad_registration_is_422_naming_the_field(client, admin, changes, field):
    response = client.post("/v1/clients", json={**SECRET_BODY, **changes}, headers=admin.headers)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json


@pytest.mark.parametrize("role", ["supervisor", "therapist"])
def test_only_admins_manage_clients(client, clinic, admin, role):
    created = client.post("/v1/clients", json=SECRET_BODY, headers=admin.headers).json
    caller = clinic.staff(role)
    assert client.post("/v1/clients", json=SECRET_BODY, headers=caller.headers).status_code == 403
    assert client.get("/v1/clients", headers=caller.headers).status_code == 403
    assert client.get(f"/v1/clients/{created['id']}", headers=caller.headers).status_code == 403
    revoke = client.post(f"/v1/clients/{created['id']}/revoke", headers=caller.headers)
    assert revoke.status_code == 403


def test_clients_refuse_anonymous_integrators_and_platform(client, clinic, admin, platform):
    created = client.post("/v1/clients", json=SECRET_BODY, headers=admin.headers).json
    integrator = clinic.integrator("clinic.read", "clinic.write")
    for method, url in (
        ("get", "/v1/clients"),
        ("post", "/v1/clients"),
        ("get", f"/v1/clients/{created['id']}"),
        ("post", f"/v1/clients/{created['id']}/revoke"),
    ):
        kwargs = {"json": SECRET_BODY} if url == "/v1/clients" and method == "post" else {}
        assert getattr(client, method)(url, **kwargs).status_code == 401
        for caller in (integrator, platform):
            response = getattr(client, method)(url, headers=caller.headers, **kwargs)
            assert response.status_code == 403


def test_another_clinics_admin_gets_404_and_sees_none_of_them(client, admin, other_clinic):
    created = client.post("/v1/clients", json=SECRET_BODY, headers=admin.headers).json
    intruder = other_clinic.staff("admin")

    assert client.get(f"/v1/clients/{created['id']}", headers=intruder.headers).status_code == 404
    revoke = client.post(f"/v1/clients/{created['id']}/revoke", headers=intruder.headers)
    assert revoke.status_code == 404
    assert _stored(created["id"]).revoked_at is None
    assert client.get("/v1/clients", headers=intruder.headers).json["items"] == []


def test_platform_and_frontend_clients_are_not_listed(client, admin, platform):
    listed = client.get("/v1/clients?limit=200", headers=admin.headers).json["items"]
    assert platform.client_id not in {item["client_id"] for item in listed}
    with context.system_context("test check"), uow.unit_of_work() as session:
        platform_pk = session.scalar(
            sa.select(OAuthClient.id).where(OAuthClient.client_id == platform.client_id)
        )
    assert client.get(f"/v1/clients/{platform_pk}", headers=admin.headers).status_code == 404


def test_revoked_clients_tokens_stop_working(client, clinic, admin, settings):
    created = client.post(
        "/v1/clients", json={**SECRET_BODY, "scopes": ["staff.read"]}, headers=admin.headers
    ).json
    token = _token_for(created["client_id"], clinic.id, settings.token_issuer, "staff.read")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/staff", headers=headers).status_code == 200

    revoked = client.post(f"/v1/clients/{created['id']}/revoke", headers=admin.headers)

    assert revoked.status_code == 200
    assert revoked.json["revoked_at"] is not None
    assert client.get("/v1/staff", headers=headers).status_code == 401
    again = client.post(f"/v1/clients/{created['id']}/revoke", headers=admin.headers)
    assert again.status_code == 200 and again.json["revoked_at"] == revoked.json["revoked_at"]


def test_revoking_a_fixture_integrator_found_through_the_list(client, clinic, admin):
    integrator = clinic.integrator("staff.read")
    assert client.get("/v1/staff", headers=integrator.headers).status_code == 200
    listed = client.get("/v1/clients", headers=admin.headers).json["items"]
    (mine,) = [item for item in listed if item["client_id"] == integrator.client_id]
    client.post(f"/v1/clients/{mine['id']}/revoke", headers=admin.headers)
    assert client.get("/v1/staff", headers=integrator.headers).status_code == 401


def test_idempotent_registration_never_stores_the_secret(client, admin):
    headers = {**admin.headers, "Idempotency-Key": f"client-{new_secret()[:12]}"}
    first = client.post("/v1/clients", json=SECRET_BODY, headers=headers)
    again = client.post("/v1/clients", json=SECRET_BODY, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.headers["Idempotent-Replayed"] == "true"  # deprecated, still sent
    assert again.json["id"] == first.json["id"]
    assert first.json["client_secret"] and again.json["client_secret"] is None
    assert {k: v for k, v in again.json.items() if k != "client_secret"} == {
        k: v for k, v in first.json.items() if k != "client_secret"
    }
    assert len(client.get("/v1/clients", headers=admin.headers).json["items"]) == 1
    with context.system_context("test check"), uow.unit_of_work() as session:
        stored = session.execute(
            sa.text("SELECT response_body FROM idempotency_keys WHERE key = :k"),
            {"k": headers["Idempotency-Key"]},
        ).scalar_one()
    assert first.json["client_secret"] not in stored


def test_client_reads_and_changes_are_audited(client, admin):
    created = client.post("/v1/clients", json=SECRET_BODY, headers=admin.headers).json
    client.get("/v1/clients", headers=admin.headers)
    client.get(f"/v1/clients/{created['id']}", headers=admin.headers)
    client.post(f"/v1/clients/{created['id']}/revoke", headers=admin.headers)

    events = client.get(
        "/v1/audit-events",
        query_string={"resource_id": created["id"], "limit": 50},
        headers=admin.headers,
    ).json["items"]
    assert [e["action"] for e in events] == ["create", "read", "read", "revoke"]
    assert {e["resource_type"] for e in events} == {"client"}
    assert {e["actor_id"] for e in events} == {str(admin.id)}
