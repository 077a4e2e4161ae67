"""Idempotency keys as a platform remembers them: for a window, measured on the sandbox clock.

Within the window a key answers what it answered first; past it the key is forgotten and the
same request is a new write (a second object) — the duplicate that only syncdesk's mark lookup
prevents. Neither QuickBooks nor Xero documents its window (PLATFORMS.md §1.5, §2.5,
UNCERTAIN), so it is a constructor option and a control route (`POST /_sandbox/idempotency`),
and `POST /_sandbox/clock` moves keys out of it like every other time-dependent thing.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from ._clock import Clock

DEFAULT_WINDOW = 360.0
"""Xero's keys were seen to last about 6 minutes; QuickBooks' window is unknown, and the short
one is the strict choice: nothing may lean on a long memory."""

T = TypeVar("T")


@dataclass
class KeyMemory(Generic[T]):
    """Keys and what they answered, forgotten `window` seconds after they were first used."""

    clock: Clock
    window: float = DEFAULT_WINDOW
    _entries: dict[Hashable, tuple[datetime, T]] = field(default_factory=dict)

    def recall(self, key: Hashable) -> T | None:
        entry = self._entries.get(key)
        if entry is None or self._expired(entry[0]):
            return None
        return entry[1]

    def remember(self, key: Hashable, value: T) -> None:
        # Oldest first (re-remembering moves a key to the end): expired keys are dropped as
        # new ones arrive, so a long run does not keep every key it ever saw.
        self._entries.pop(key, None)
        for old in list(self._entries):
            if not self._expired(self._entries[old][0]):
                break
            del self._entries[old]
        self._entries[key] = (self.clock.now(), value)

    def __len__(self) -> int:
        return sum(1 for at, _ in self._entries.values() if not self._expired(at))

    def _expired(self, at: datetime) -> bool:
        return self.clock.now() - at > timedelta(seconds=self.window)
