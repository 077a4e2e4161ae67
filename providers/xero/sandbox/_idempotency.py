"""Xero's `Idempotency-Key`: the same key replays the first answer, errors included.

Per tenant, a key remembers a fingerprint of the request (method, path, query, body) and the
response it got. Within the window the same request gets that response again without
touching the books; the same key with a different request is refused. Past the window the
key is forgotten and the request is a new write (`providers._sandbox.KeyMemory`). The
6-minute window and the refusal's wording are UNCERTAIN (PLATFORMS.md §2.5), hence the
`idempotency_window` option and `POST /_sandbox/idempotency`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

from providers._sandbox import KeyMemory

MAX_KEY_LENGTH = 128


class Conflict(Enum):
    DIFFERENT_REQUEST = "different_request"


@dataclass(frozen=True)
class Remembered:
    fingerprint: str
    status: int
    body: bytes


@dataclass
class IdempotencyCache:
    memory: KeyMemory[Remembered]

    @staticmethod
    def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
        digest = hashlib.sha256(f"{method} {path}?{query}\n".encode())
        digest.update(body)
        return digest.hexdigest()

    def recall(self, tenant: str, key: str, fingerprint: str) -> Remembered | Conflict | None:
        entry = self.memory.recall((tenant, key))
        if entry is None:
            return None
        return entry if entry.fingerprint == fingerprint else Conflict.DIFFERENT_REQUEST

    def remember(self, tenant: str, key: str, fingerprint: str, status: int, body: bytes) -> None:
        self.memory.remember((tenant, key), Remembered(fingerprint, status, body))
