"""Outbound HTTP to addresses clients give us (webhook targets, JWKS URLs): the SSRF guard.

Only HTTPS to public addresses: host names are resolved and every address checked, and the
connection itself checks the address it actually reached, so a name re-pointed between the
check and the connect (DNS rebinding) is refused too. `allow_private` (an operator setting,
used by tests on loopback) lifts the address checks and allows plain http.

`call` bounds what a receiver can cost us: a total deadline (a per-read timeout alone lets a
receiver that drips a byte at a time hold the worker forever) and a cap on the body read.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class UnsafeTarget(ValueError):
    """The URL may not be called from here; the message says why (safe to show)."""


def refused_address(address: str) -> str | None:
    """Why this IP address is not a public target, or None if it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for reason, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if hit:
            return reason
    if not ip.is_global:  # shared (100.64/10), documentation ranges, unique-local ...
        return "not public"
    return None


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse anything but an HTTPS URL whose host resolves only to public addresses.

    With `allow_private` (operator setting) private targets and plain http are allowed.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget("Not a valid URL.") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeTarget("Use an https:// URL with a host name.")
    if parts.scheme == "http" and not allow_private:
        raise UnsafeTarget("Use https://; plain http is not allowed.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("Credentials in the URL are not allowed.")
    if allow_private:
        return
    for address in _resolve(parts.hostname, port or 443):
        reason = refused_address(address)
        if reason:
            raise UnsafeTarget(
                f"The host resolves to a {reason} address ({address}); targets must be public."
            )


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"The host name {host!r} does not resolve.") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise UnsafeTarget(f"The host name {host!r} does not resolve.")
    return addresses


class RefusedPeer(Exception):
    """Not an OSError on purpose: urllib3 must not retry it or wrap it."""


class DeadlineExceeded(requests.Timeout):
    """The whole call (connect, headers, body) took longer than its deadline."""


class BodyTooLarge(requests.RequestException):
    """The receiver sent more than the caller reads."""


class _Deadline:
    """Shuts the call's sockets down when its time is up: a read blocked on a receiver that
    drips bytes then fails at once, whatever its per-read timeout."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


_deadline: ContextVar[_Deadline | None] = ContextVar("alliance_outbound_deadline", default=None)


def _connection(connection_class: type, *, check_peer: bool) -> type:
    class Connection(connection_class):  # type: ignore[misc, valid-type]
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            reason = refused_address(sock.getpeername()[0]) if check_peer else None
            if reason:
                sock.close()
                raise RefusedPeer(f"connected to a {reason} address")
            deadline = _deadline.get()
            if deadline is not None:
                deadline.watch(sock)
            return sock

    return Connection


def _pools(*, check_peer: bool) -> dict[str, type]:
    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = _connection(HTTPConnection, check_peer=check_peer)

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _connection(HTTPSConnection, check_peer=check_peer)

    return {"http": HTTPPool, "https": HTTPSPool}


_POOLS = {check_peer: _pools(check_peer=check_peer) for check_peer in (True, False)}


class _GuardedAdapter(HTTPAdapter):
    """Checks the address each connection actually reached (closes the DNS rebinding gap),
    unless private targets are allowed, and puts each connection under the call's deadline."""

    def __init__(self, *, check_peer: bool) -> None:
        self.check_peer = check_peer  # before super().__init__, which builds the pools
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS[self.check_peer]


def outbound_session(allow_private: bool) -> requests.Session:
    """A requests session that only reaches public addresses (unless allowed)."""
    http = requests.Session()
    http.trust_env = False  # no proxies from the environment: they would reach anywhere
    adapter = _GuardedAdapter(check_peer=not allow_private)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


READ_CHUNK = 16 * 1024


def call(
    method: str, url: str, *, allow_private: bool, deadline: float, max_body: int, **options: Any
) -> Reply:
    """One request (no redirects) that ends within `deadline` seconds, connect, headers and
    body together (else DeadlineExceeded, a requests.Timeout), reading at most `max_body`
    bytes of the body (else BodyTooLarge); `max_body=0` reads none, for callers that need only
    the status. `options` go to requests (data, headers)."""
    limit = _Deadline(deadline)
    token = _deadline.set(limit)
    try:
        with limit, outbound_session(allow_private) as http:
            response = http.request(
                method, url, stream=True, timeout=deadline, allow_redirects=False, **options
            )
            with response:
                body = _read(response, max_body) if max_body else b""
            # Headers or a body with no length "end" when the socket is shut: never trust an
            # answer the deadline cut short.
            if limit.expired:
                raise DeadlineExceeded(f"no complete answer within {deadline:g} s")
    except requests.RequestException as exc:
        if limit.expired and not isinstance(exc, DeadlineExceeded):
            raise DeadlineExceeded(f"no complete answer within {deadline:g} s") from exc
        raise
    finally:
        _deadline.reset(token)
    return Reply(response.status_code, body)


def _read(response: requests.Response, max_body: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(READ_CHUNK):
        body += chunk
        if len(body) > max_body:
            raise BodyTooLarge(f"the body exceeds {max_body} bytes")
    return bytes(body)
