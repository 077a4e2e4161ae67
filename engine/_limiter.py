"""Client-side rate limiting that starts from a platform's published limits and adapts.

`RateGate.slot()` bounds concurrency and spaces requests within the per-second and
per-minute budgets. What the platform reports wins over what we assumed: a `Retry-After`
holds the gate, and a remaining-quota header of zero holds it until our oldest request in
the window ages out. Long waits (a daily quota) are not slept here: the worker parks the
connection instead, so nothing sleeps for hours inside a request.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ._port import Limits, Quota

Monotonic = Callable[[], float]


class RateGate:
    def __init__(self, limits: Limits, *, throttle: bool = True,
                 monotonic: Monotonic = time.monotonic) -> None:
        self.limits = limits
        self.throttle = throttle
        self._monotonic = monotonic
        self._slots = asyncio.Semaphore(max(limits.concurrency, 1))
        self._sent: deque[float] = deque()
        self._batches: deque[float] = deque()
        self._hold_until = 0.0
        self.waited = 0.0
        """Seconds spent waiting for the budget (reported by benchmarks)."""

    @asynccontextmanager
    async def slot(self, *, batch: bool = False) -> AsyncIterator[None]:
        """Hold one of the platform's concurrent slots, once the budget allows a request."""
        async with self._slots:
            await self._wait_turn(batch)
            yield

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (the platform said Retry-After)."""
        self._hold_until = max(self._hold_until, self._monotonic() + seconds)

    def observe(self, quota: Quota | None) -> None:
        if quota is None or not self.throttle:
            return
        if quota.minute_remaining is not None and quota.minute_remaining <= 0:
            oldest = self._sent[0] if self._sent else self._monotonic()
            self._hold_until = max(self._hold_until, oldest + 60.0)

    async def _wait_turn(self, batch: bool) -> None:
        while True:
            now = self._monotonic()
            delay = self._hold_until - now
            if self.throttle:
                delay = max(delay, self._budget_delay(now, batch))
            if delay <= 0:
                self._sent.append(now)
                if batch:
                    self._batches.append(now)
                return
            self.waited += delay
            await asyncio.sleep(delay)

    def _budget_delay(self, now: float, batch: bool) -> float:
        # The platform counts arrivals, we count departures: network jitter can squeeze ten
        # requests sent over one second into less. Slightly wider windows keep us under.
        limits = self.limits
        delay = max(_window_delay(self._sent, limits.per_minute, 61.0, now),
                    _window_delay(self._sent, limits.per_second, 1.2, now))
        if batch:
            delay = max(delay, _window_delay(self._batches, limits.batch_per_minute, 60.0, now))
        return delay


def _window_delay(sent: deque[float], limit: int | None, window: float, now: float) -> float:
    """How long until one more request fits `limit` requests per `window` seconds."""
    if window >= 60.0:
        while sent and now - sent[0] >= window:
            sent.popleft()
    if not limit or len(sent) < limit:
        return 0.0
    return sent[-limit] + window - now
