"""RateGate on a fake clock: every limit kind, the platform's headers, 429s and the day.

The gate's monotonic clock, its UTC clock and its sleep are all the test's: a sleep moves
time on at once and is written down, so each test says exactly how long the gate waited and
when each request left, without waiting itself.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from engine import Limits, Quota, RateLimited
from engine._limiter import RateGate, budgeted


class FakeClock:
    """Monotonic seconds and the UTC time together; `sleep` advances both."""

    def __init__(self, utc: datetime = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)) -> None:
        self.now = 1000.0
        self.start = utc
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def utc(self) -> datetime:
        return self.start + timedelta(seconds=self.now - 1000.0)

    async def sleep(self, seconds: float) -> None:
        """Wake when `seconds` have passed, letting other sleepers run meanwhile (each wakes
        at its own time, not after the others' sleeps added up)."""
        self.slept.append(round(seconds, 6))
        wake = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, wake)


def gate_on(clock: FakeClock, limits: Limits, *, throttle: bool = True,
            longest_wait: float = 300.0, unseen: int = 0) -> RateGate:
    return RateGate(limits, throttle=throttle, monotonic=clock, clock=clock.utc,
                    sleep=clock.sleep, longest_wait=longest_wait, unseen=unseen)


async def send(gate: RateGate, clock: FakeClock, n: int = 1, *, batch: bool = False,
               takes: float = 0.0) -> list[float]:
    """`n` requests one after another, each answered `takes` seconds after it left; when
    each left."""
    left = []
    for _ in range(n):
        async with gate.slot(batch=batch):
            left.append(clock.now - 1000.0)
            clock.now += takes
    return left


def test_the_margin_leaves_two_percent_spare_rounded() -> None:
    """At most 3 % of any window unused: 10 a second keeps all 10 (one spare would be 10 %);
    the answer-time stamps are that window's margin."""
    assert [budgeted(n) for n in (60, 40, 500, 600, 5000, 10, 1)] == \
        [59, 39, 490, 588, 4900, 10, 1]
    assert budgeted(None) is None


async def test_per_second_a_rolling_second() -> None:
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=1000, per_second=10, concurrency=20))
    assert await send(gate, clock, 10) == [0.0] * 10
    assert await send(gate, clock, 2) == [1.0, 1.0]  # the 11th waits for the first to age
    assert clock.slept == [1.0] and gate.requests == 12


async def test_a_new_gate_counts_a_request_sent_before_it() -> None:
    """Connect's tenant lookup came just before the engine's first requests: with 10 a
    second and no spare, a gate that forgot it would send an 11th in that second."""
    clock = FakeClock()
    gate = RateGate(Limits(per_minute=1000, per_second=10, concurrency=20), monotonic=clock,
                    clock=clock.utc, sleep=clock.sleep)
    clock.now += 0.25
    assert await send(gate, clock, 10) == [0.25] * 9 + [1.0]


async def test_per_minute_a_rolling_minute_not_a_clock_minute() -> None:
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=60, concurrency=5))  # 59 allowed
    await send(gate, clock, 30)
    clock.now += 30
    await send(gate, clock, 29)
    # The 60th waits until the first 30 are a minute old, and then 30 go at once: a
    # fixed window would let 59 more go at t = 60 and answer them with a 429 at t = 61.
    assert await send(gate, clock, 31) == [60.0] * 30 + [90.0]
    assert clock.slept == [30.0, 30.0]


async def test_requests_are_counted_from_their_answer() -> None:
    """The platform counted a request somewhere before its answer came: dating it by the
    answer keeps our window at least as full as the platform's."""
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=1, concurrency=1))
    assert await send(gate, clock, 2, takes=5.0) == [0.0, 65.0]


async def test_a_request_in_flight_counts_until_its_answer() -> None:
    """Dated by its send time, a request still in flight after a second would look aged out
    of the second while the platform may count it from any moment until it answers."""
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=1000, per_second=1, concurrency=5))
    answered = asyncio.Event()
    left: list[float] = []
    answer_at = 0.0

    async def slow() -> None:
        nonlocal answer_at
        async with gate.slot():
            left.append(clock.now - 1000.0)
            await answered.wait()
            answer_at = clock.now - 1000.0

    async def second() -> None:
        async with gate.slot():
            left.append(clock.now - 1000.0)

    first = asyncio.create_task(slow())
    await asyncio.sleep(0)
    clock.now += 1.5  # sent a second and a half ago, not answered yet
    waiting = asyncio.create_task(second())
    for _ in range(5):
        await asyncio.sleep(0)
    assert left == [0.0]  # the request in flight still fills the second (the fake sleeps
    answered.set()        # of the one waiting have moved the clock on meanwhile)
    await asyncio.gather(first, waiting)
    assert answer_at > 1.5 and left == [0.0, answer_at + 1.0]


async def test_concurrency_holds_the_next_request_until_one_returns() -> None:
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=1000, concurrency=2))
    answered = asyncio.Event()
    inside: list[int] = []

    async def request(n: int) -> None:
        async with gate.slot():
            inside.append(n)
            if n < 2:
                await answered.wait()

    tasks = [asyncio.create_task(request(n)) for n in range(3)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert inside == [0, 1]  # the third waits for a slot, not for time
    answered.set()
    await asyncio.gather(*tasks)
    assert inside == [0, 1, 2] and clock.slept == []


async def test_batches_have_their_own_window_beside_the_general_one() -> None:
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=500, concurrency=10, batch_size=30,
                                 batch_per_minute=40))
    assert gate.batch_room() == 39
    for _ in range(39):
        clock.now += 0.2  # under QBO's 10 a second
        await send(gate, clock, batch=True)
    assert gate.batch_room() == 0
    assert await send(gate, clock, 1) == [pytest.approx(7.8)]  # singles still flow
    clock.now += 60
    assert gate.batch_room() == 39
    # Without a limit of their own, batches are plain requests.
    assert gate_on(clock, Limits(per_minute=60, concurrency=5, batch_size=50)) \
        .batch_room() is None


async def test_a_batch_whose_window_has_room_goes_before_waiting_singles() -> None:
    """Behind singles, a batch would spend its window late and the next window's room
    would open late too (QuickBooks' last minute then trickles out one by one)."""
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=500, per_second=10, concurrency=20,
                                 batch_size=30, batch_per_minute=40))
    await send(gate, clock, 10)  # this second is spent
    left: dict[str, float] = {}

    async def request(name: str, batch: bool) -> None:
        async with gate.slot(batch=batch):
            left[name] = clock.now - 1000.0

    await asyncio.gather(*(request(f"single {n}", False) for n in range(10)),
                         request("batch", True))
    assert left["batch"] == 1.0
    assert sorted(left.values()) == [1.0] * 10 + [2.0]


async def test_batch_room_counts_what_reopens_before_a_single_could_go() -> None:
    """With the general budget spent as well, a single would wait as long as a batch: the
    batch window's room is what it holds by then (a batch carries 30 records, a single 1)."""
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=500, per_second=10, concurrency=20,
                                 batch_size=30, batch_per_minute=2))
    await send(gate, clock, 2, batch=True)
    clock.now += 59.5
    assert gate.batch_room() == 0  # a single could go now, the batches only in 0.5 s
    await send(gate, clock, 10)  # this second is spent: the next single goes at 60.5 s
    assert gate.batch_room() == 2


async def test_batch_or_single_is_decided_when_the_general_turn_comes() -> None:
    """The worker asks at send time: a batch window spent when its work was prepared may
    have reopened by the general budget's next turn, and room already decided is not
    offered twice."""
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=500, per_second=10, concurrency=20,
                                 batch_size=30, batch_per_minute=2))
    await send(gate, clock, 2, batch=True)
    clock.now += 1.0
    assert await gate.next_turn() == 0  # a single may go now; no batch until 60 s
    assert clock.slept == []
    clock.now += 58.0
    await send(gate, clock, 10)  # this second is spent: the next turn is at 60 s
    sent = gate.requests
    assert await gate.next_turn() == 2
    assert clock.now - 1000.0 == 60.0 and gate.requests == sent  # waited, took nothing
    first = gate.promise_batch()
    assert await gate.next_turn() == 1
    second = gate.promise_batch()
    assert await gate.next_turn() == 0 and gate.batch_room() == 0
    second()
    second()  # a release said twice gives the room back once
    assert gate.batch_room() == 1
    first()
    assert gate.batch_room() == 2


async def test_a_provider_is_offered_the_room_beyond_the_full_batches_expected() -> None:
    """The worker's waiting creates will fill full batches: a provider's batch of a few
    follow-ups may not take their room (its few then go alone, a request each), the
    worker's own batches still may."""
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=500, per_second=10, concurrency=20,
                                 batch_size=30, batch_per_minute=40))
    gate.expect_batches(37)
    assert gate.batch_room() == 2 and gate.window_room() == 39
    gate.expect_batches(45)
    assert gate.batch_room() == 0 and await gate.next_turn() == 39
    gate.expect_batches(0)
    assert gate.batch_room() == 39


async def test_a_batch_beyond_the_window_waits_for_the_oldest_batch() -> None:
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=500, concurrency=10, batch_size=30,
                                 batch_per_minute=2))
    assert await send(gate, clock, 2, batch=True, takes=0.5) == [0.0, 0.5]
    assert await send(gate, clock, 1, batch=True) == [60.5]


async def test_retry_after_holds_the_gate_and_a_long_one_is_refused() -> None:
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=60, concurrency=2), longest_wait=300)
    gate.hold(17)  # a 429 with Retry-After: 17
    assert await send(gate, clock) == [17.0]
    gate.hold(7200)  # a spent daily quota
    with pytest.raises(RateLimited) as refused:
        async with gate.slot():
            pytest.fail("a request went out during the hold")
    assert refused.value.retry_after == pytest.approx(7200) and clock.slept == [17.0]
    clock.now += 7200
    assert await send(gate, clock) == [7217.0]  # the hold is over: requests flow again


async def test_a_spent_minute_header_waits_for_our_oldest_request_to_age() -> None:
    """X-MinLimit-Remaining: 0 — the tenant's other apps spent the minute; ours is free
    again when our oldest request is a minute old."""
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=60, concurrency=5))
    await send(gate, clock, 3)
    clock.now += 10
    gate.observe(Quota(minute_remaining=0, day_remaining=None))
    assert await send(gate, clock) == [60.0]


async def test_the_day_header_replaces_our_count_and_a_spent_day_waits_for_midnight() -> None:
    clock = FakeClock(datetime(2026, 5, 4, 23, 0, tzinfo=UTC))
    gate = gate_on(clock, Limits(per_minute=60, concurrency=5, per_day=5000))
    assert gate.day_left() == 4900
    await send(gate, clock, 2)
    assert gate.day_left() == 4898
    # Another app of the tenant's spent most of the day: the platform's count wins...
    gate.observe(Quota(minute_remaining=50, day_remaining=103))
    assert gate.day_left() == 3
    # ...but never gives back what we counted ourselves.
    gate.observe(Quota(minute_remaining=50, day_remaining=4000))
    assert gate.day_left() == 3
    await send(gate, clock, 3)
    with pytest.raises(RateLimited) as refused:
        async with gate.slot():
            pytest.fail("a request went out with the day spent")
    assert refused.value.daily and refused.value.retry_after == pytest.approx(3600)
    assert clock.slept == []  # refused at once, nothing slept in the gate
    clock.now += 3600  # midnight UTC: a new day, the whole quota again
    assert gate.day_left() == 4900
    assert await send(gate, clock) == [3600.0]


async def test_the_same_day_count_by_ourselves() -> None:
    clock = FakeClock(datetime(2026, 5, 4, 22, 0, tzinfo=UTC))
    gate = gate_on(clock, Limits(per_minute=1000, concurrency=5, per_day=3))
    await send(gate, clock, 3)
    with pytest.raises(RateLimited) as refused:
        await send(gate, clock)
    assert refused.value.daily and refused.value.retry_after == pytest.approx(7200)


async def test_unthrottled_the_gate_counts_but_never_waits_nor_reads_headers() -> None:
    clock = FakeClock()
    gate = gate_on(clock, Limits(per_minute=2, per_second=1, concurrency=5, per_day=2),
                   throttle=False)
    gate.observe(Quota(minute_remaining=0, day_remaining=0))
    assert await send(gate, clock, 5) == [0.0] * 5
    assert gate.requests == 5 and clock.slept == []
