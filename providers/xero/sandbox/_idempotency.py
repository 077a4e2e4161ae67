"""Xero's `Idempotency-Key`: the same key replays the first answer, errors included.

Per tenant, a key remembers a fingerprint of the request (method, path, query, body) and the
response it got. Within the window the same request gets that response again without
touching the books; the same key with a different request is refused. The 6-minute window
and the refusal's wording are UNCERTAIN (PLATFORMS.md §2.5), hence a constructor knob.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from providers._sandbox import Clock

MAX_KEY_LENGTH = 128


class Conflict(Enum):
    DIFFERENT_REQUEST = "different_request"


@dataclass(frozen=True)
class Remembered:
    fingerprint: str
    status: int
    body: bytes
    at: datetime


@dataclass
class IdempotencyCache:
    clock: Clock
    window: float = 360.0
    _entries: dict[tuple[str, str], Remembered] = field(default_factory=dict)

    @staticmethod
    def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
        digest = hashlib.sha256(f"{method} {path}?{query}\n".encode())
        digest.update(body)
        return digest.hexdigest()

    def recall(self, tenant: str, key: str, fingerprint: str) -> Remembered | Conflict | None:
        entry = self._entries.get((tenant, key))
        if entry is None or self.clock.now() - entry.at > timedelta(seconds=self.window):
            return None
        return entry if entry.fingerprint == fingerprint else Conflict.DIFFERENT_REQUEST

    def remember(self, tenant: str, key: str, fingerprint: str, status: int, body: bytes) -> None:
        self._entries[(tenant, key)] = Remembered(fingerprint, status, body, self.clock.now())
