"""Identifiers: time-ordered UUIDv7 keys and random secrets."""

import hashlib
import secrets
import uuid

import uuid6


def new_id() -> uuid.UUID:
    """A time-ordered v7 UUID, so primary-key indexes stay append-mostly."""
    return uuid.UUID(str(uuid6.uuid7()))


def new_secret(prefix: str = "") -> str:
    """A 256-bit URL-safe random secret (tokens, codes, links)."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret. Only such digests are stored, never the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()
