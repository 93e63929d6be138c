"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: `smtp` gives the
recorder and settings pointing the app's email channel at it."""

from __future__ import annotations

import dataclasses
import email
import email.policy

import pytest
from aiosmtpd.controller import Controller

from tests.loopback import free_port


class Recorder:
    """Accepts and keeps every message, or answers DATA with `reply` (e.g. "451 ...")."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []
        self.reply: str | None = None

    async def handle_DATA(self, server, session, envelope):
        if self.reply:
            return self.reply
        self.received.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    def messages(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default) for _, raw in self.received
        ]


@pytest.fixture(scope="module")
def smtp_server():
    recorder = Recorder()
    port = free_port()  # Controller(port=0) fails (PITFALLS)
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


@pytest.fixture
def smtp(smtp_server, settings):
    recorder, port = smtp_server
    recorder.received.clear()
    recorder.reply = None
    return recorder, dataclasses.replace(
        settings, smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=5
    )
