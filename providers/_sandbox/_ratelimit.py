"""Per-tenant request limits: per second, per minute (rolling), per day, and concurrency."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ._clock import Clock


@dataclass
class RateLimitPolicy:
    per_second: int | None = None
    per_minute: int | None = None
    per_day: int | None = None
    concurrency: int | None = None
    enabled: bool = True


@dataclass(frozen=True)
class RateVerdict:
    allowed: bool
    problem: str | None = None
    """Which limit was hit: second, minute, day, concurrent."""
    retry_after: int = 0
    minute_remaining: int | None = None
    day_remaining: int | None = None


@dataclass
class _Usage:
    recent: deque[datetime] = field(default_factory=deque)
    day: date | None = None
    day_count: int = 0
    in_flight: int = 0


@dataclass
class RateLimiter:
    clock: Clock
    policy: RateLimitPolicy = field(default_factory=RateLimitPolicy)
    rejected: int = 0
    _usage: dict[str, _Usage] = field(default_factory=dict)

    @contextmanager
    def admit(self, tenant: str) -> Iterator[RateVerdict]:
        """Count one request; the verdict says whether it may proceed."""
        verdict = self._take(tenant)
        if not verdict.allowed:
            self.rejected += 1
            yield verdict
            return
        usage = self._usage[tenant]
        usage.in_flight += 1
        try:
            yield verdict
        finally:
            usage.in_flight -= 1

    def _take(self, tenant: str) -> RateVerdict:
        policy = self.policy
        usage = self._usage.setdefault(tenant, _Usage())
        now = self.clock.now()
        if usage.day != now.date():
            usage.day, usage.day_count = now.date(), 0
        while usage.recent and now - usage.recent[0] >= timedelta(minutes=1):
            usage.recent.popleft()
        if not policy.enabled:
            return RateVerdict(True)

        def remaining(limit: int | None, used: int) -> int | None:
            return None if limit is None else max(limit - used, 0)

        minute_left = remaining(policy.per_minute, len(usage.recent))
        day_left = remaining(policy.per_day, usage.day_count)
        if day_left == 0:
            midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(),
                                        tzinfo=now.tzinfo)
            return RateVerdict(False, "day", math.ceil((midnight - now).total_seconds()),
                               minute_left, 0)
        if minute_left == 0:
            wait = 60 - (now - usage.recent[0]).total_seconds()
            return RateVerdict(False, "minute", max(math.ceil(wait), 1), 0, day_left)
        if policy.per_second is not None:
            last_second = sum(1 for t in usage.recent if now - t < timedelta(seconds=1))
            if last_second >= policy.per_second:
                return RateVerdict(False, "second", 1, minute_left, day_left)
        if policy.concurrency is not None and usage.in_flight >= policy.concurrency:
            return RateVerdict(False, "concurrent", 1, minute_left, day_left)
        usage.recent.append(now)
        usage.day_count += 1
        return RateVerdict(
            True,
            minute_remaining=remaining(policy.per_minute, len(usage.recent)),
            day_remaining=remaining(policy.per_day, usage.day_count),
        )
