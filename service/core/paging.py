"""Keyset paging values shared by services and the HTTP layer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")
Key = tuple[datetime, uuid.UUID]


@dataclass(frozen=True)
class PageRequest:
    limit: int = 50
    after: Key | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_after: Key | None
