"""Real servers in tests listen on loopback, each on a port of its own."""

from __future__ import annotations

import socket
import threading
import time


def free_port() -> int:
    """A port nobody listens on now (servers that cannot bind port 0 themselves need one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HostileReceiver:
    """A raw HTTP receiver on loopback that never finishes answering, by path:
    `/drip-headers` sends a status line, then a header one byte every 0.2 s;
    `/drip-body` sends headers (no length), then the body one byte every 0.2 s;
    `/endless-body` sends headers, then body as fast as the client takes it.
    Each connection stops on its own after `give_up_after` seconds or bytes (so a client
    without limits ends the test instead of hanging it); `endings` says how each one ended:
    "client left" (it closed the connection) or "receiver gave up"."""

    DRIP_SECONDS = 0.2

    def __init__(self, give_up_after: float = 20.0, give_up_bytes: int = 256 * 1024 * 1024):
        self.give_up_after, self.give_up_bytes = give_up_after, give_up_bytes
        self.endings: list[str] = []
        self.sent: list[int] = []  # bytes sent on each connection
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ended(self, connections: int = 1) -> list[str]:
        """How the first `connections` ended, once they have (each does within its limit)."""
        deadline = time.monotonic() + self.give_up_after + 10
        while len(self.endings) < connections and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.endings

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            path = conn.recv(65536).split(b" ", 2)[1].decode()
            head, drip = {
                "/drip-headers": (b"HTTP/1.1 200 OK\r\nX-Drip: ", b"x"),
                "/drip-body": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"["),
                "/endless-body": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"[" * 65536),
            }[path]
            fast = path == "/endless-body"
            sent, started = 0, time.monotonic()
            try:
                conn.sendall(head)
                while time.monotonic() - started < self.give_up_after:
                    if sent >= self.give_up_bytes:
                        break
                    conn.sendall(drip)
                    sent += len(drip)
                    if not fast:
                        time.sleep(self.DRIP_SECONDS)
                ending = "receiver gave up"
            except OSError:  # the client shut or closed its side
                ending = "client left"
            self.sent.append(sent)
            self.endings.append(ending)
