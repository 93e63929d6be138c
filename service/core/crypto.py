"""Encryption at rest for what the service must read back but never store readable.

Fernet (`cryptography`: AES-128-CBC with HMAC-SHA256, a timestamped token). Two keys, each
read from the environment as a current key plus old ones (`MultiFernet`): the current key
encrypts, every key decrypts, and `reseal` re-encrypts a token under the current key, so a
key is rotated by adding a new current key, re-sealing (`flask rotate-encryption-keys`), then
dropping the old one.

- `DATA` seals what outgoing emails say (their one-time links); bodies are purged once sent.
- `KEYS`, the key-encryption key, seals token signing keys and webhook secrets.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = [
    "DATA",
    "KEYS",
    "InvalidToken",
    "Sealer",
    "configure",
    "dev_key",
    "is_valid_key",
    "new_key",
]


class Sealer:
    """One purpose's keys. Unconfigured, it refuses to work rather than guess a key."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._fernet: MultiFernet | None = None

    def configure(self, keys: Sequence[str]) -> None:
        """`keys[0]` encrypts; all of them decrypt."""
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def seal(self, text: str) -> str:
        return self._keys().encrypt(text.encode()).decode()

    def open(self, token: str) -> str:
        """The plain text; `InvalidToken` when no configured key made this token."""
        return self._keys().decrypt(token.encode()).decode()

    def reseal(self, token: str) -> str:
        """The same plain text, encrypted under the current key."""
        return self._keys().rotate(token.encode()).decode()

    def seal_json(self, value: Any) -> str:
        return self.seal(json.dumps(value, separators=(",", ":")))

    def open_json(self, token: str) -> Any:
        return json.loads(self.open(token))

    def _keys(self) -> MultiFernet:
        if self._fernet is None:
            raise RuntimeError(f"encryption keys for {self.name} are not configured")
        return self._fernet


DATA = Sealer("data")
KEYS = Sealer("key encryption")


def configure(data_keys: Sequence[str], key_encryption_keys: Sequence[str]) -> None:
    """Done once per process (app, worker, migration) from the settings."""
    DATA.configure(data_keys)
    KEYS.configure(key_encryption_keys)


def new_key() -> str:
    return Fernet.generate_key().decode()


def is_valid_key(key: str) -> bool:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return False
    return True


def dev_key(purpose: str) -> str:
    """A fixed key per purpose for development and tests only (settings refuse it elsewhere)."""
    digest = hashlib.sha256(f"alliance-dev-only-{purpose}-key".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()
