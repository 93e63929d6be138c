"""Real servers in tests listen on loopback, each on a port of its own."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nobody listens on now (servers that cannot bind port 0 themselves need one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
