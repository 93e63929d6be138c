"""Client-supplied URLs the service calls (a client's JWKS, webhook targets) go through the
SSRF guard, and no receiver can hold a call past its deadline or make it read without end."""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from service.auth import adapters
from service.core import outbound
from service.notifications import webhooks
from tests.loopback import HostileReceiver
from tests.test_webhooks import create, deliveries, drain, emit


class _Jwks(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"keys": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def test_a_jwks_url_on_a_private_address_is_never_fetched():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json"
        assert requests.get(url, timeout=5).json() == {"keys": []}  # it is reachable ...
        assert adapters._fetch_jwks(url) is None  # ... but the service refuses to fetch it
        https_url = url.replace("http://", "https://")
        assert adapters._fetch_jwks(https_url) is None  # loopback, even over https
    finally:
        httpd.shutdown()


# -- what a receiver can cost us: a total deadline and a body cap ---------------------------


@pytest.fixture
def hostile():
    receiver = HostileReceiver()
    yield receiver
    receiver.close()


def test_a_receiver_dripping_its_headers_cannot_hold_a_webhook_delivery(
    app, client, admin, clinic, hostile, monkeypatch
):
    allowing = dataclasses.replace(app.config["SETTINGS"], webhook_allow_private=True)
    monkeypatch.setitem(app.config, "SETTINGS", allowing)  # loopback targets, for this test
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 1.0)
    made = create(client, admin, hostile.url("/drip-headers"))
    assert made.status_code == 201, made.json
    emit(clinic.id, "alert.created", {"alert_id": "a1"})
    drain(clinic.id, allowing, rounds=2)  # the fan-out, then the delivery
    [log] = deliveries(client, admin, made.json["id"])
    assert log["status"] == "pending" and log["last_error"] == "timeout"  # retried later
    assert log["latency_ms"] >= 1000  # it waited out its deadline ...
    assert hostile.ended() == ["client left"]  # ... and then left, while bytes still came
    assert hostile.sent[0] < (hostile.give_up_after / hostile.DRIP_SECONDS) / 2


def test_a_body_dripping_forever_is_a_timeout_not_a_short_answer(hostile):
    with pytest.raises(outbound.DeadlineExceeded):
        outbound.call(
            "GET", hostile.url("/drip-body"), allow_private=True, deadline=1.0, max_body=1024
        )
    assert hostile.ended() == ["client left"]


def test_an_endless_body_is_cut_at_the_cap(hostile):
    with pytest.raises(outbound.BodyTooLarge):
        outbound.call(
            "GET", hostile.url("/endless-body"), allow_private=True, deadline=30, max_body=65536
        )
    assert hostile.ended() == ["client left"]  # long before the receiver's own limit
    assert hostile.sent[0] < hostile.give_up_bytes


def test_an_answer_within_both_limits_is_read_whole():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json"
        reply = outbound.call("GET", url, allow_private=True, deadline=5, max_body=1024)
    finally:
        httpd.shutdown()
    assert reply.status == 200 and json.loads(reply.body) == {"keys": []}
