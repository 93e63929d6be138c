"""Identifiers: time-ordered UUIDv7 keys and random secrets."""

import base64
import binascii
import hashlib
import secrets
import uuid

import uuid6


def new_id() -> uuid.UUID:
    """A time-ordered v7 UUID, so primary-key indexes stay append-mostly."""
    return uuid.UUID(int=uuid6.uuid7().int)


def new_secret(prefix: str = "") -> str:
    """A 256-bit URL-safe random secret (tokens, codes, links)."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret. Only such digests are stored, never the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


# A routed secret names its clinic: 22 characters of the clinic's id, then the random part.
# Its lookup runs in that clinic (row-level security, one shard), never across clinics.
ROUTE_LENGTH = 22
ROUTED_LENGTH = ROUTE_LENGTH + 43


def routed_secret(clinic_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(clinic_id.bytes).rstrip(b"=").decode() + new_secret()


def route_of(secret: str) -> uuid.UUID | None:
    """The clinic a routed secret names; None for any other string."""
    if len(secret) != ROUTED_LENGTH:
        return None
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(secret[:ROUTE_LENGTH] + "=="))
    except (ValueError, binascii.Error):
        return None
