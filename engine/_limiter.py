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

from ._errors import RateLimited
from ._port import Limits, Quota

Monotonic = Callable[[], float]


class RateGate:
    def __init__(self, limits: Limits, *, throttle: bool = True,
                 monotonic: Monotonic = time.monotonic, longest_wait: float = 300.0) -> None:
        self.limits = limits
        self.longest_wait = longest_wait
        """A hold longer than this is not slept in the gate: `slot()` raises `RateLimited`, so
        the job goes back to the queue instead of sleeping in flight (a spent daily quota)."""
        self.throttle = throttle
        self._monotonic = monotonic
        self._slots = asyncio.Semaphore(max(limits.concurrency, 1))
        self._sent: deque[list[float]] = deque()
        self._batches: deque[list[float]] = deque()
        self._hold_until = 0.0
        self.waited = 0.0
        """Seconds spent waiting for the budget (reported by benchmarks)."""

    @asynccontextmanager
    async def slot(self, *, batch: bool = False) -> AsyncIterator[None]:
        """Hold one of the platform's concurrent slots, once the budget allows a request."""
        async with self._slots:
            stamps = await self._wait_turn(batch)
            try:
                yield
            finally:
                # The platform counted this request at some moment before its answer came
                # back: dating it by the answer keeps our windows at least as full as its.
                finished = self._monotonic()
                for stamp in stamps:
                    stamp[0] = finished

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (the platform said Retry-After)."""
        self._hold_until = max(self._hold_until, self._monotonic() + seconds)

    def observe(self, quota: Quota | None) -> None:
        if quota is None or not self.throttle:
            return
        if quota.minute_remaining is not None and quota.minute_remaining <= 0:
            oldest = min((stamp[0] for stamp in self._sent), default=self._monotonic())
            self._hold_until = max(self._hold_until, oldest + 60.0)

    async def _wait_turn(self, batch: bool) -> list[list[float]]:
        while True:
            now = self._monotonic()
            delay = self._hold_until - now
            if delay > self.longest_wait:
                raise RateLimited(f"the platform asked syncdesk to wait {delay:.0f} s more",
                                  retry_after=delay, http_status=None)
            if self.throttle:
                delay = max(delay, self._budget_delay(now, batch))
            if delay <= 0:
                stamps = [[now]]
                self._sent.append(stamps[0])
                if batch:
                    stamps.append([now])
                    self._batches.append(stamps[1])
                return stamps
            self.waited += delay
            await asyncio.sleep(delay)

    def _budget_delay(self, now: float, batch: bool) -> float:
        # The platform counts arrivals, we count departures: network jitter can squeeze ten
        # requests sent over one second into less, so the windows are slightly wider. And
        # the budget is the tenant's, not ours alone (the platform's own app, a `connect`,
        # other integrations spend it too), so we leave a tenth of it unused: one 429 from
        # QuickBooks costs the whole minute it asks us to wait.
        limits = self.limits
        delay = max(_window_delay(self._sent, _headroom(limits.per_minute), 61.0, now),
                    _window_delay(self._sent, _headroom(limits.per_second), 1.2, now))
        if batch:
            delay = max(delay, _window_delay(self._batches, _headroom(limits.batch_per_minute),
                                             61.0, now))
        return delay


def _headroom(limit: int | None) -> int | None:
    return None if limit is None else max(1, (limit * 9) // 10)


def _window_delay(sent: deque[list[float]], limit: int | None, window: float,
                  now: float) -> float:
    """How long until one more request fits `limit` requests per `window` seconds."""
    while sent and now - sent[0][0] >= 61.0 and len(sent) > 1:
        sent.popleft()
    if not limit:
        return 0.0
    recent = sorted(stamp[0] for stamp in sent if now - stamp[0] < window)
    if len(recent) < limit:
        return 0.0
    return recent[-limit] + window - now
