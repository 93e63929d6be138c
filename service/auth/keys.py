"""Signing keys for JWT access tokens (ES256). The current key signs; the previous one stays
published in the JWKS and keeps verifying until tokens it signed have expired."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from joserfc.jwk import ECKey, KeySet

from service.auth.models import SigningKey
from service.core import context
from service.core.clock import monotonic
from service.core.ids import new_secret
from service.db import uow

ALGORITHM = "ES256"
_CACHE_SECONDS = 30


class _KeyCache:
    """Verification keys cached per process; refreshed on an unknown `kid` or after 30 s."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._public: KeySet | None = None

    def public_keys(self, *, kid: str | None = None) -> KeySet:
        with self._lock:
            stale = monotonic() - self._loaded_at > _CACHE_SECONDS
            unknown = (
                kid is not None and self._public is not None and not _has_kid(self._public, kid)
            )
            if self._public is None or stale or unknown:
                self._public = KeySet.import_key_set({"keys": published_jwks()["keys"]})
                self._loaded_at = monotonic()
            return self._public

    def clear(self) -> None:
        with self._lock:
            self._public = None


cache = _KeyCache()


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


def _published() -> list[SigningKey]:
    with context.system_context("signing keys"), uow.unit_of_work() as session:
        return list(
            session.scalars(
                sa.select(SigningKey)
                .where(SigningKey.status.in_(("current", "previous")))
                .order_by(SigningKey.created_at.desc())
            )
        )


def published_jwks() -> dict[str, list[dict]]:
    return {"keys": [key.public_jwk for key in _published()]}


def signing_key() -> ECKey:
    """The current private key, creating the first one on first use."""
    for key in _published():
        if key.status == "current":
            return ECKey.import_key(key.private_jwk)
    rotate()
    return signing_key()


def rotate() -> dict[str, str | None]:
    """Make a new current key; the old current becomes previous, older ones are retired.
    Returns the new and the previous key ids."""
    kid = new_secret()[:16]
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"})
    with context.system_context("rotate signing keys"), uow.unit_of_work() as session:
        previous = session.scalar(sa.select(SigningKey.kid).where(SigningKey.status == "current"))
        session.execute(
            sa.update(SigningKey).where(SigningKey.status == "previous").values(status="retired")
        )
        session.execute(
            sa.update(SigningKey).where(SigningKey.status == "current").values(status="previous")
        )
        session.add(
            SigningKey(
                kid=kid,
                private_jwk=key.as_dict(private=True),
                public_jwk=key.as_dict(private=False),
                status="current",
            )
        )
    cache.clear()
    return {"kid": kid, "previous": previous}
