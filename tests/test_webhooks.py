"""Webhook endpoints, Standard Webhooks signing, the target guard, fan-out and delivery.

Receivers are real HTTP servers on loopback; every webhook they get is verified with the
`standardwebhooks` library from PyPI (an implementation nobody here wrote). Deliveries run
through the worker's own per-message path (`service.worker.outbox.deliver`).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.core import context, outbound
from service.core.clock import utcnow
from service.db import uow
from service.notifications import service as notifications
from service.notifications import webhooks
from service.notifications.models import OutboxMessage, WebhookEndpoint
from service.worker import outbox

PUBLIC_IP = "93.184.216.34"  # validated only: no traffic is ever sent there


# -- a real receiver ----------------------------------------------------------------------------


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool


class Receiver:
    """A threaded HTTP server on loopback that verifies every webhook it receives."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status: dict[str, int] = {}
        self.secrets: dict[str, str] = {}
        self.delay: float = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                secret = receiver.secrets.get(self.path)
                try:
                    verified = bool(secret) and Webhook(secret).verify(body, headers) is not None
                except WebhookVerificationError:
                    verified = False
                receiver.received.append(Received(self.path, headers, body, verified))
                time.sleep(receiver.delay)
                status = receiver.status.get(self.path, 200 if verified else 401)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@pytest.fixture
def receiver():
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def private_ok(app):
    """The operator setting that allows loopback targets (and plain http), for this test."""
    original = app.config["SETTINGS"]
    app.config["SETTINGS"] = dataclasses.replace(original, webhook_allow_private=True)
    yield app.config["SETTINGS"]
    app.config["SETTINGS"] = original


# -- helpers -----------------------------------------------------------------------------------


def create(client, caller, url: str, events=("alert.created",), **fields):
    return client.post(
        "/v1/webhook-endpoints",
        headers=caller.headers,
        json={"url": url, "events": list(events), **fields},
    )


def endpoint_at(client, caller, receiver: Receiver, path: str, events=("alert.created",)):
    response = create(client, caller, receiver.url(path), events)
    assert response.status_code == 201, response.json
    receiver.secrets[path] = response.json["secret"]
    return response.json


def emit(clinic_id, topic: str, payload: dict) -> None:
    with context.tenant_context(clinic_id), uow.unit_of_work():
        notifications.enqueue_event(topic, payload)


def drain(clinic_id, settings, rounds: int = 5) -> None:
    """Deliver the clinic's due webhook messages as the worker does, until none are due."""
    for _ in range(rounds):
        with context.system_context("test drain"), uow.unit_of_work() as session:
            due = session.scalars(
                sa.select(OutboxMessage.id)
                .where(
                    OutboxMessage.clinic_id == clinic_id,
                    OutboxMessage.channel == "webhook",
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= utcnow(),
                )
                .order_by(OutboxMessage.created_at)
            ).all()
        if not due:
            return
        for message_id in due:
            outbox.deliver(message_id, clinic_id, {"webhook": webhooks.deliver}, settings)


def deliveries(client, caller, endpoint_id) -> list[dict]:
    response = client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=caller.headers)
    assert response.status_code == 200, response.json
    return response.json["items"]


def update_endpoint(endpoint_id, **values) -> None:
    with context.system_context("test setup"), uow.unit_of_work() as session:
        session.execute(
            sa.update(WebhookEndpoint)
            .where(WebhookEndpoint.id == uuid.UUID(endpoint_id))
            .values(**values)
        )


# -- endpoints: secret, validation, ETag --------------------------------------------------------


def test_the_secret_is_shown_once_in_the_standard_format(client, admin):
    response = create(
        client, admin, f"https://{PUBLIC_IP}/hooks", ["alert.created"], description="EHR sync"
    )
    assert response.status_code == 201, response.json
    created = response.json
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 24
    assert response.headers["Location"] == f"/v1/webhook-endpoints/{created['id']}"
    one = client.get(response.headers["Location"], headers=admin.headers)
    assert one.status_code == 200 and "secret" not in one.json and one.headers["ETag"]
    listed = client.get("/v1/webhook-endpoints", headers=admin.headers).json["items"]
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    assert created["secret"] not in json.dumps(listed)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hook",  # a name resolving to loopback
        "https://[::1]/hook",
        "https://[fd00::1]/hook",  # unique-local
        "https://224.0.0.1/hook",  # multicast
        "https://192.168.1.10/hook",
        "https://100.64.0.1/hook",  # shared address space
        "https://2130706433/hook",  # 127.0.0.1 in decimal, as resolvers accept it
        "https://no-such-host.invalid/hook",  # does not resolve
        f"http://{PUBLIC_IP}/hook",  # plain http
        f"ftp://{PUBLIC_IP}/hook",
        f"https://user:pw@{PUBLIC_IP}/hook",
    ],
)
def test_private_loopback_and_non_https_targets_are_refused(client, admin, url):
    response = create(client, admin, url)
    assert response.status_code == 422, response.json
    assert "url" in response.json["errors"]


def test_a_public_https_target_is_accepted(client, admin):
    assert create(client, admin, f"https://{PUBLIC_IP}:8443/hook").status_code == 201


def test_the_operator_may_allow_private_targets(client, admin, private_ok):
    for url in ("https://10.0.0.1/hook", "http://127.0.0.1:9/hook", "https://localhost/hook"):
        assert create(client, admin, url).status_code == 201, url


def test_unknown_event_types_are_refused(client, admin):
    response = create(client, admin, f"https://{PUBLIC_IP}/h", ["alert.created", "couple.deleted"])
    assert response.status_code == 422 and "events.1" in response.json["errors"]
    assert create(client, admin, f"https://{PUBLIC_IP}/h", []).status_code == 422


def test_patch_checks_the_etag_and_the_url_again(client, admin):
    created = create(client, admin, f"https://{PUBLIC_IP}/h").json
    path = f"/v1/webhook-endpoints/{created['id']}"
    stale = client.patch(
        path, headers={**admin.headers, "If-Match": '"99"'}, json={"description": "x"}
    )
    assert stale.status_code == 412
    private = client.patch(path, headers=admin.headers, json={"url": "https://10.0.0.1/h"})
    assert private.status_code == 422 and "url" in private.json["errors"]
    ok = client.patch(
        path,
        headers={**admin.headers, "If-Match": '"1"'},
        json={"events": ["alert.resolved", "alert.created"]},
    )
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'
    assert ok.json["events"] == ["alert.created", "alert.resolved"]
    assert client.delete(path, headers={**admin.headers, "If-Match": '"1"'}).status_code == 412
    assert client.delete(path, headers=admin.headers).status_code == 204
    assert client.get(path, headers=admin.headers).status_code == 404


def test_another_clinics_endpoints_are_not_found(client, admin, other_clinic):
    created = create(client, admin, f"https://{PUBLIC_IP}/h").json
    intruder = other_clinic.staff("admin")
    path = f"/v1/webhook-endpoints/{created['id']}"
    assert client.get(path, headers=intruder.headers).status_code == 404
    assert client.get(f"{path}/deliveries", headers=intruder.headers).status_code == 404
    assert client.get("/v1/webhook-endpoints", headers=intruder.headers).json["items"] == []


def test_staff_without_the_scope_are_forbidden(client, clinic):
    therapist = clinic.staff("therapist")
    assert client.get("/v1/webhook-endpoints", headers=therapist.headers).status_code == 403
    assert create(client, therapist, f"https://{PUBLIC_IP}/h").status_code == 403


# -- fan-out, signing, delivery ----------------------------------------------------------------


def test_each_subscribed_endpoint_gets_one_signed_delivery(
    client, admin, clinic, receiver, private_ok
):
    first = endpoint_at(client, admin, receiver, "/a", ["alert.created", "alert.resolved"])
    second = endpoint_at(client, admin, receiver, "/b", ["alert.created"])
    endpoint_at(client, admin, receiver, "/c", ["session.completed"])  # not subscribed
    off = endpoint_at(client, admin, receiver, "/d", ["alert.created"])
    client.patch(
        f"/v1/webhook-endpoints/{off['id']}", headers=admin.headers, json={"enabled": False}
    )
    couple_id = str(uuid.uuid4())
    emit(clinic.id, "alert.created", {"alert_id": "a1", "couple_id": couple_id})

    drain(clinic.id, private_ok)

    assert [r.path for r in sorted(receiver.received, key=lambda r: r.path)] == ["/a", "/b"]
    assert all(r.verified for r in receiver.received)  # standardwebhooks accepted each one
    for endpoint, path in ((first, "/a"), (second, "/b")):
        got = receiver.at(path)[0]
        log = deliveries(client, admin, endpoint["id"])
        assert len(log) == 1
        assert log[0]["status"] == "sent" and log[0]["response_status"] == 200
        assert log[0]["latency_ms"] is not None and log[0]["attempts"] == 1
        assert got.headers["webhook-id"] == log[0]["id"]  # stable: the outbox message id
        body = json.loads(got.body)
        assert body["type"] == "alert.created"
        assert body["data"] == {"alert_id": "a1", "couple_id": couple_id}
        assert body["id"] and body["timestamp"].endswith("Z")
    # Both endpoints got the same event (same id), as separate messages.
    bodies = [json.loads(r.body) for r in receiver.received]
    assert bodies[0]["id"] == bodies[1]["id"]
    assert receiver.at("/a")[0].headers["webhook-id"] != receiver.at("/b")[0].headers["webhook-id"]


def test_a_tampered_body_or_a_stale_timestamp_fails_verification(
    client, admin, clinic, receiver, private_ok
):
    endpoint_at(client, admin, receiver, "/v")
    emit(clinic.id, "alert.created", {"alert_id": "a2"})
    drain(clinic.id, private_ok)
    [got] = receiver.at("/v")
    hook = Webhook(receiver.secrets["/v"])
    assert hook.verify(got.body, got.headers)["type"] == "alert.created"
    tampered = got.body.replace(b"a2", b"a3")
    with pytest.raises(WebhookVerificationError):
        hook.verify(tampered, got.headers)
    # A correctly signed message from 10 minutes ago: refused as a replay.
    old = int(time.time()) - 600
    stale = {
        **got.headers,
        "webhook-timestamp": str(old),
        "webhook-signature": webhooks.sign(
            receiver.secrets["/v"], got.headers["webhook-id"], old, got.body.decode()
        ),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):
        hook.verify(got.body, stale)
    # Another endpoint's secret does not verify it.
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(got.body, got.headers)


def test_a_410_disables_the_endpoint(client, admin, clinic, receiver, private_ok):
    endpoint = endpoint_at(client, admin, receiver, "/gone")
    receiver.status["/gone"] = 410
    emit(clinic.id, "alert.created", {"alert_id": "a4"})
    drain(clinic.id, private_ok)
    [log] = deliveries(client, admin, endpoint["id"])
    assert log["status"] == "dead" and log["response_status"] == 410
    after = client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=admin.headers).json
    assert after["enabled"] is False and "410" in after["disabled_reason"]
    emit(clinic.id, "alert.created", {"alert_id": "a5"})
    drain(clinic.id, private_ok)
    assert len(receiver.at("/gone")) == 1  # nothing more is sent to it
    retry = client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{log['id']}/retry",
        headers=admin.headers,
    )
    assert retry.status_code == 409  # enable it first


def test_a_500_is_temporary_and_a_manual_retry_delivers(
    client, admin, clinic, receiver, private_ok
):
    endpoint = endpoint_at(client, admin, receiver, "/flaky")
    receiver.status["/flaky"] = 500
    emit(clinic.id, "alert.created", {"alert_id": "a6"})
    drain(clinic.id, private_ok)
    [log] = deliveries(client, admin, endpoint["id"])
    assert log["status"] == "pending" and log["attempts"] == 1
    assert log["response_status"] == 500 and log["last_error"] == "HTTP 500"
    assert log["latency_ms"] is not None
    state = client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=admin.headers).json
    assert state["enabled"] is True and state["failing_since"] is not None

    del receiver.status["/flaky"]
    retry = client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{log['id']}/retry",
        headers=admin.headers,
    )
    assert retry.status_code == 200 and retry.json["status"] == "pending"
    drain(clinic.id, private_ok)
    [log] = deliveries(client, admin, endpoint["id"])
    assert log["status"] == "sent" and log["response_status"] == 200 and log["attempts"] == 2
    first, second = receiver.at("/flaky")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == log["id"]
    state = client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=admin.headers).json
    assert state["failing_since"] is None
    missing = client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{uuid.uuid4()}/retry",
        headers=admin.headers,
    )
    assert missing.status_code == 404


def test_three_days_of_failure_disable_the_endpoint(client, admin, clinic, receiver, private_ok):
    endpoint = endpoint_at(client, admin, receiver, "/down")
    receiver.status["/down"] = 503
    update_endpoint(endpoint["id"], failing_since=utcnow() - timedelta(days=3, minutes=1))
    emit(clinic.id, "alert.created", {"alert_id": "a7"})
    drain(clinic.id, private_ok)
    [log] = deliveries(client, admin, endpoint["id"])
    assert log["status"] == "dead" and log["response_status"] == 503
    state = client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=admin.headers).json
    assert state["enabled"] is False and "3 days" in state["disabled_reason"]
    # Re-enabled by the clinic: a fresh start.
    again = client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}", headers=admin.headers, json={"enabled": True}
    ).json
    assert again["enabled"] is True and again["disabled_reason"] is None
    assert again["failing_since"] is None


def test_redirects_are_not_followed(client, admin, clinic, receiver, private_ok):
    endpoint = endpoint_at(client, admin, receiver, "/moved")
    receiver.status["/moved"] = 302
    emit(clinic.id, "alert.created", {"alert_id": "a8"})
    drain(clinic.id, private_ok)
    [log] = deliveries(client, admin, endpoint["id"])
    assert log["status"] == "pending" and log["response_status"] == 302
    assert receiver.at("/elsewhere") == []


def test_a_slow_receiver_times_out(client, admin, clinic, receiver, private_ok, monkeypatch):
    assert webhooks.TIMEOUT_SECONDS == 10
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.3)
    endpoint = endpoint_at(client, admin, receiver, "/slow")
    receiver.delay = 1.0
    emit(clinic.id, "alert.created", {"alert_id": "a9"})
    drain(clinic.id, private_ok)
    [log] = deliveries(client, admin, endpoint["id"])
    assert log["status"] == "pending" and log["last_error"] == "timeout"


def test_the_target_is_checked_again_at_delivery_time(
    client, admin, clinic, receiver, private_ok, settings
):
    """Saved while private targets were allowed; the worker runs without that setting."""
    endpoint = endpoint_at(client, admin, receiver, "/rebound")
    emit(clinic.id, "alert.created", {"alert_id": "a10"})
    drain(clinic.id, settings)  # webhook_allow_private is False here
    assert receiver.at("/rebound") == []
    [log] = deliveries(client, admin, endpoint["id"])
    assert log["status"] == "pending" and log["last_error"].startswith("refused target")


def test_the_connection_guard_refuses_a_private_peer(receiver):
    """Even if the name check is passed (DNS rebinding), the connected address is checked."""
    http = outbound.outbound_session(allow_private=False)
    with pytest.raises(outbound.RefusedPeer):
        http.post(receiver.url("/x"), data=b"{}", timeout=2, allow_redirects=False)
    assert receiver.received == []


def test_rotation_signs_with_both_secrets_during_the_overlap(
    client, admin, clinic, receiver, private_ok
):
    endpoint = endpoint_at(client, admin, receiver, "/rot")
    old_secret = receiver.secrets["/rot"]
    rotated = client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=admin.headers
    )
    assert rotated.status_code == 200
    new_secret = rotated.json["secret"]
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    assert rotated.json["previous_secret_until"] is not None
    emit(clinic.id, "alert.created", {"alert_id": "a11"})
    drain(clinic.id, private_ok)
    [got] = receiver.at("/rot")
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(got.body, got.headers)  # receivers not yet updated
    Webhook(new_secret).verify(got.body, got.headers)  # receivers already updated

    update_endpoint(endpoint["id"], previous_secret_until=utcnow() - timedelta(seconds=1))
    emit(clinic.id, "alert.created", {"alert_id": "a12"})
    drain(clinic.id, private_ok)
    latest = receiver.at("/rot")[-1]
    assert len(latest.headers["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(latest.body, latest.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(latest.body, latest.headers)


def test_deliveries_of_a_deleted_endpoint_go_dead(client, admin, clinic, receiver, private_ok):
    endpoint = endpoint_at(client, admin, receiver, "/del")
    receiver.status["/del"] = 500
    emit(clinic.id, "alert.created", {"alert_id": "a13"})
    drain(clinic.id, private_ok)
    client.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=admin.headers)
    with context.system_context("test check"), uow.unit_of_work() as session:
        message = session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.recipient == endpoint["id"])
        )
        message_id = message.id
        message.next_attempt_at = utcnow()
    outbox.deliver(message_id, clinic.id, {"webhook": webhooks.deliver}, private_ok)
    with context.system_context("test check"), uow.unit_of_work() as session:
        message = session.get(OutboxMessage, message_id)
        assert message.status == "dead" and message.last_error == "endpoint deleted"


def test_the_delivery_log_pages_and_filters(client, admin, clinic, receiver, private_ok):
    endpoint = endpoint_at(client, admin, receiver, "/log")
    for n in range(3):
        emit(clinic.id, "alert.created", {"alert_id": f"p{n}"})
    drain(clinic.id, private_ok)
    path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    first = client.get(f"{path}?limit=2", headers=admin.headers)
    assert len(first.json["items"]) == 2 and 'rel="next"' in first.headers["Link"]
    rest = client.get(f"{path}?limit=2&cursor={first.json['next_cursor']}", headers=admin.headers)
    assert len(rest.json["items"]) == 1 and rest.json["next_cursor"] is None
    assert client.get(f"{path}?status=dead", headers=admin.headers).json["items"] == []
    assert client.get(f"{path}?status=bogus", headers=admin.headers).status_code == 400
