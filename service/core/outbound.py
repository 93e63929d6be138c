"""Outbound HTTP to addresses clients give us (webhook targets, JWKS URLs): the SSRF guard.

Only HTTPS to public addresses: host names are resolved and every address checked, and the
connection itself checks the address it actually reached, so a name re-pointed between the
check and the connect (DNS rebinding) is refused too. `allow_private` (an operator setting,
used by tests on loopback) lifts the address checks and allows plain http.
"""

from __future__ import annotations

import ipaddress
import socket
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


def _guarded(connection_class: type) -> type:
    class Guarded(connection_class):  # type: ignore[misc, valid-type]
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            reason = refused_address(sock.getpeername()[0])
            if reason:
                sock.close()
                raise RefusedPeer(f"connected to a {reason} address")
            return sock

    return Guarded


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _guarded(HTTPConnection)


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _guarded(HTTPSConnection)


class _GuardedAdapter(HTTPAdapter):
    """Checks the address each connection actually reached (closes the DNS rebinding gap)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def outbound_session(allow_private: bool) -> requests.Session:
    """A requests session that only reaches public addresses (unless allowed)."""
    http = requests.Session()
    http.trust_env = False  # no proxies from the environment: they would reach anywhere
    if not allow_private:
        http.mount("http://", _GuardedAdapter())
        http.mount("https://", _GuardedAdapter())
    return http
