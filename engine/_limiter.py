"""One connection's rate budget: every HTTP request a provider sends takes a slot of it.

`RateGate` implements the port's `RequestBudget` from a platform's published `Limits`:
concurrency, requests per second and per minute (rolling windows, as the platforms count
them), a batch window where batch requests have their own (QuickBooks: 40 a minute), and a
day's quota. What the platform reports wins over what we counted: a `Retry-After` holds the
gate, a remaining-minute header of zero holds it until our oldest request ages out of the
window, and a remaining-day header replaces our own count of the day.

Nothing sleeps for long in here: a wait beyond `longest_wait` (a spent daily quota, a long
Retry-After) raises `RateLimited`, so the job goes back to the queue with its next attempt at
the reset and the worker parks the connection.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta

from ._errors import RateLimited
from ._port import Limits, Quota
from ._time import Clock, utcnow

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

IN_FLIGHT = math.inf
"""The stamp of a request not yet answered: the platform may count it at any moment until its
answer comes, so it is as recent as the newest (dated by its send time, a request in flight
longer than a window would look aged out while the platform still counts it)."""

SENDING: ContextVar[Callable[[bool], None] | None] = ContextVar("sending", default=None)
"""Set by the worker around a provider call: called as each of the call's requests leaves
the gate, with whether it is a batch request, so the worker knows which jobs a stop caught on
their way out and when a batch it made is in the batch window's count."""

MARGIN = 0.02
"""Share of each window left unused. Our stamps are the answers' times, later than the
platform's arrival times, so the windows already err on the safe side; the margin covers a
request the tenant's own app or another integration sends meanwhile."""


def budgeted(limit: int | None) -> int | None:
    """How many of a window's `limit` requests we allow ourselves: the margin rounded (60 a
    minute -> 59, not 58: a ceiling would leave 3.3 % unused). A window too small to spare a
    whole request within the margin spares none (10 a second -> 10; one spare would leave
    10 % unused): its requests are counted from their answers, so each window already lasts
    a round trip longer than the platform's, a few percent of a second."""
    if limit is None:
        return None
    return max(1, limit - round(limit * MARGIN))


class RateGate:
    def __init__(self, limits: Limits, *, throttle: bool = True,
                 monotonic: Monotonic = time.monotonic, clock: Clock = utcnow,
                 sleep: Sleep = asyncio.sleep, longest_wait: float = 300.0,
                 unseen: int = 1) -> None:
        """`unseen`: requests the platform may still count from just before this gate
        existed, counted as sent at its creation: connect's tenant lookup when the engine
        starts on a new connection at once, the last requests of a worker this one replaces.
        A window that spares no request (10 a second) would otherwise start one over."""
        self.limits = limits
        self.throttle = throttle
        self.longest_wait = longest_wait
        self._monotonic = monotonic
        self._sleep = sleep
        self._clock = clock
        self._slots = asyncio.Semaphore(max(limits.concurrency, 1))
        self._sent: deque[list[float]] = deque([monotonic()] for _ in range(unseen))
        self._batches: deque[list[float]] = deque()
        self._ready: set[object] = set()
        """Batch requests waiting whose own window has room. Singles leave them the general
        budget's next turns: a batch carries up to `batch_size` records, a single one, and a
        batch kept waiting behind singles spends its window late, so the next window's room
        opens late too."""
        self._promised = 0
        """Batch requests decided on and not yet in the batch window (`promise_batch`): its
        room is theirs already, and is not offered again."""
        self._expected = 0
        """Full batch requests the connection's waiting creates will fill (`expect_batches`):
        room a provider's batch of its own leaves to them."""
        self._hold_until = 0.0
        self._day: date | None = None
        self._day_used = 0
        self.requests = 0
        """Requests sent through the gate (reported by the engine and benchmarks)."""
        self.waited = 0.0
        """Seconds spent waiting for the budget (reported by benchmarks)."""

    @asynccontextmanager
    async def slot(self, *, batch: bool = False) -> AsyncIterator[None]:
        """Hold one of the platform's concurrent slots, once the budget allows a request."""
        waiter = object()
        try:
            stamps = await self._take_turn(batch, waiter)
        finally:
            self._ready.discard(waiter)
        try:
            leaving = SENDING.get()
            if leaving is not None:
                leaving(batch)
            yield
        finally:
            # The platform counted this request at some moment before its answer came
            # back: dating it by the answer keeps our windows at least as full as its.
            finished = self._monotonic()
            for stamp in stamps:
                stamp[0] = finished
            self._slots.release()

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (the platform said Retry-After)."""
        self._hold_until = max(self._hold_until, self._monotonic() + seconds)

    def observe(self, quota: Quota | None) -> None:
        if quota is None or not self.throttle:
            return
        if quota.minute_remaining is not None and quota.minute_remaining <= 0:
            now = self._monotonic()
            oldest = min((min(stamp[0], now) for stamp in self._sent), default=now)
            self._hold_until = max(self._hold_until, oldest + 60.0)
        if quota.day_remaining is not None and self.limits.per_day is not None:
            self._roll_day()
            self._day_used = max(self._day_used, self.limits.per_day - quota.day_remaining)

    def batch_room(self) -> int | None:
        """How many batch requests a provider may spend beside the connection's own work
        (None: batches have no limit of their own): the window's room (`window_room`) less
        the full batches the worker's waiting creates will fill (`expect_batches`). A batch
        of a few follow-ups in the last of that room leaves a full batch's creates to go one
        request each."""
        room = self.window_room()
        return None if room is None else max(room - self._expected, 0)

    def window_room(self) -> int | None:
        """How many batch requests could go no later than a single could (None: no limit of
        their own): now, or, while the general budget is spent too, by the time it frees a
        turn, since a single then waits as long and carries one record where a batch carries
        `batch_size`. Batches made beyond it would wait for the batch window while the
        general budget idles: the worker sends those creates one by one instead. Net of the
        batches promised and not yet sent."""
        limit = budgeted(self.limits.batch_per_minute)
        if not self.throttle or limit is None:
            return None
        now = self._monotonic()
        single_at = now + self._general_delay(now, len(self._ready))
        recent = sum(1 for stamp in self._batches if single_at - stamp[0] < 60.0)
        return max(limit - recent - self._promised, 0)

    def expect_batches(self, batches: int) -> None:
        """The full batch requests the connection's waiting creates will fill, as the worker
        last counted them: `batch_room` leaves their room to them."""
        self._expected = batches

    def promise_batch(self) -> Callable[[], None]:
        """Count one batch request's room of the batch window as taken from now until the
        returned callable is called (as that request leaves the gate, or when it does not go
        at all; calling it again does nothing)."""
        self._promised += 1
        kept = True

        def release() -> None:
            nonlocal kept
            if kept:
                kept, self._promised = False, self._promised - 1
        return release

    async def next_turn(self) -> int | None:
        """Wait for the general budget's next turn without taking it, then give the batch
        window's room at that moment (`window_room`: None, no window of its own), for the
        worker to decide whether a batch takes the turn. Asked at the moment a request could
        leave, not when its work was prepared: the batch window may reopen (or fill) in
        between."""
        await self._wait_turn(False, object())
        return self.window_room()

    def day_left(self) -> int | None:
        """Requests left in today's quota (UTC), by our count and the platform's headers."""
        if self.limits.per_day is None:
            return None
        self._roll_day()
        return max((budgeted(self.limits.per_day) or 0) - self._day_used, 0)

    async def _take_turn(self, batch: bool, waiter: object) -> list[list[float]]:
        """Wait for the budget's turn outside the concurrent slots (a request deferring to a
        batch must not hold the slot the batch needs), then for a slot, and take the turn if
        it is still there: another request may have taken it meanwhile."""
        while True:
            await self._wait_turn(batch, waiter)
            await self._slots.acquire()
            now = self._monotonic()
            if self._delay(now, batch, waiter) <= 0:
                stamps = [[IN_FLIGHT]]
                self._sent.append(stamps[0])
                if batch:
                    stamps.append([IN_FLIGHT])
                    self._batches.append(stamps[1])
                self.requests += 1
                self._day_used += 1
                return stamps
            self._slots.release()

    async def _wait_turn(self, batch: bool, waiter: object) -> None:
        while True:
            delay = self._delay(self._monotonic(), batch, waiter)
            if delay > self.longest_wait:
                raise RateLimited(f"the platform asked syncdesk to wait {delay:.0f} s more",
                                  retry_after=delay, http_status=None)
            if delay <= 0:
                return
            self.waited += delay
            await self._sleep(delay)

    def _delay(self, now: float, batch: bool, waiter: object) -> float:
        """Seconds until this request may go: a hold, the budget's windows; raises when
        today's quota is spent."""
        delay = self._hold_until - now
        if not self.throttle:
            return delay
        if self.day_left() == 0:
            self._refuse_until_tomorrow()
        limits = self.limits
        ahead = 0
        if batch and limits.batch_per_minute is not None:
            window = _window_delay(self._batches, budgeted(limits.batch_per_minute), 60.0, now)
            if window <= 0:
                self._ready.add(waiter)
            else:
                self._ready.discard(waiter)
            delay = max(delay, window)
        elif not batch:
            ahead = len(self._ready)
        return max(delay, self._general_delay(now, ahead))

    def _general_delay(self, now: float, ahead: int) -> float:
        """How long until one more request fits the per-minute and per-second windows, after
        `ahead` others that go first."""
        limits = self.limits
        return max(_window_delay(self._sent, budgeted(limits.per_minute), 60.0, now, ahead),
                   _window_delay(self._sent, budgeted(limits.per_second), 1.0, now, ahead))

    def _refuse_until_tomorrow(self) -> None:
        now = self._clock()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(),
                                    tzinfo=now.tzinfo)
        raise RateLimited(f"today's quota of {self.limits.per_day} requests is used up",
                          retry_after=(midnight - now).total_seconds(), daily=True,
                          http_status=None)

    def _roll_day(self) -> None:
        today = self._clock().date()
        if self._day != today:
            self._day, self._day_used = today, 0


def _window_delay(sent: deque[list[float]], limit: int | None, window: float,
                  now: float, ahead: int = 0) -> float:
    """How long until one more request fits `limit` requests per `window` seconds, after
    `ahead` others that go first."""
    while len(sent) > 1 and now - sent[0][0] >= 60.0:
        sent.popleft()
    if not limit:
        return 0.0
    recent = sorted(min(stamp[0], now) for stamp in sent if now - stamp[0] < window)
    recent += [now] * ahead
    if len(recent) < limit:
        return 0.0
    return recent[-limit] + window - now
