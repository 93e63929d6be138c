"""The email channel: an outbox message as a MIME message, over SMTP or into a folder.

`send(message, settings)` is what the worker calls. SMTP replies map onto the retry policy
(RFC 5321 §4.2.1): 4xx and anything that breaks the connection are temporary, 5xx permanent.
Without an SMTP host (`make run`) each message is written as `<mail_dir>/<outbox id>.eml`,
which any mail client opens. Errors name the reply code or the exception class only: never
the message, its recipient or the server's reply text (which often echoes the address).
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import uuid
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from jinja2 import TemplateError

from service.core.clock import utcnow
from service.core.crypto import InvalidToken
from service.notifications.compose import compose
from service.notifications.delivery import Outcome
from service.notifications.models import OutboxMessage
from service.settings import Settings

log = logging.getLogger(__name__)


def message_id(message: OutboxMessage, settings: Settings) -> str:
    """Stable per outbox row, so a redelivered message is recognised as the same one."""
    return f"<outbox-{message.id}@{_domain(settings.smtp_from)}>"


def build(message: OutboxMessage, settings: Settings) -> EmailMessage:
    """Text with an HTML alternative, and the headers receivers need to thread and dedupe."""
    payload = message.payload or {}
    composed = compose(payload["template"], message.content, settings, locale=payload.get("locale"))
    mime = EmailMessage()
    mime["From"] = settings.smtp_from
    mime["To"] = message.recipient
    mime["Subject"] = composed.subject
    mime["Date"] = format_datetime(utcnow())
    mime["Message-ID"] = message_id(message, settings)
    mime["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    if payload.get("digest"):
        mime["List-Unsubscribe"] = f"<{settings.preferences_url}>"
    mime.set_content(composed.text)
    mime.add_alternative(composed.html, subtype="html")
    return mime


def send(message: OutboxMessage, settings: Settings) -> Outcome:
    try:
        mime = build(message, settings)
    # Never fixable by retrying (InvalidToken: sealed under a key no longer configured).
    except (ValueError, TypeError, KeyError, TemplateError, InvalidToken) as exc:
        return Outcome(ok=False, permanent=True, error=f"unbuildable message: {type(exc).__name__}")
    if not settings.smtp_host:
        return _write(message, mime, settings)
    return _smtp(message, mime, settings)


def _smtp(message: OutboxMessage, mime: EmailMessage, settings: Settings) -> Outcome:
    started = utcnow()
    try:
        with _connect(settings) as smtp:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(
                mime, from_addr=parseaddr(settings.smtp_from)[1], to_addrs=[message.recipient]
            )
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _reply in exc.recipients.values()]
        return _refused(codes[0] if codes else 0)
    except smtplib.SMTPAuthenticationError as exc:
        # The operator's credentials, not this message: retry until someone fixes them.
        return Outcome(ok=False, error=f"SMTP authentication failed ({exc.smtp_code})")
    except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused, greeting 5xx
        return _refused(exc.smtp_code)
    except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS failure
        return Outcome(ok=False, error=f"SMTP connection failed: {type(exc).__name__}")
    latency = int((utcnow() - started).total_seconds() * 1000)
    return Outcome(ok=True, latency_ms=latency)


def _connect(settings: Settings) -> smtplib.SMTP:
    if settings.smtp_ssl:
        return smtplib.SMTP_SSL(
            settings.smtp_host,
            settings.smtp_port,
            timeout=settings.smtp_timeout,
            context=ssl.create_default_context(),
        )
    return smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)


def _refused(code: int) -> Outcome:
    permanent = 500 <= code < 600
    kind = "permanent" if permanent else "temporary"
    return Outcome(ok=False, permanent=permanent, error=f"SMTP {code} ({kind})")


def _write(message: OutboxMessage, mime: EmailMessage, settings: Settings) -> Outcome:
    """Development: one readable .eml per outbox row (a redelivery overwrites its own file)."""
    folder = Path(settings.mail_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{message.id}.eml"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(mime.as_bytes())
        os.replace(tmp, target)
    except OSError as exc:
        return Outcome(ok=False, error=f"mail folder not writable: {type(exc).__name__}")
    log.info("email written to the mail folder", extra={"outbox_id": str(message.id)})
    return Outcome(ok=True)


def forget_copies(message_ids: Iterable[uuid.UUID], mail_dir: str) -> None:
    """Erasure: the mail folder's copies of these messages (if it ever wrote any)."""
    for message_id in message_ids:
        (Path(mail_dir) / f"{message_id}.eml").unlink(missing_ok=True)


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"
