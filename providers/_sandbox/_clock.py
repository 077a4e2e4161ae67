from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time that tests can move forward (token expiry, rate windows, quotas)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)
