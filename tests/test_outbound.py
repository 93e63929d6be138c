"""Client-supplied URLs the service fetches (a client's JWKS) go through the SSRF guard."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from service.auth import adapters


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
