"""RateGate on a fake clock: what it sleeps, and what it refuses to sleep."""

from __future__ import annotations

import pytest

from engine import Limits, RateLimited
from engine._limiter import RateGate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_hold_longer_than_the_longest_wait_is_refused_not_slept() -> None:
    clock = FakeClock()
    gate = RateGate(Limits(per_minute=60, concurrency=2), monotonic=clock, longest_wait=300)
    gate.hold(7200)  # a spent daily quota
    with pytest.raises(RateLimited) as refused:
        async with gate.slot():
            pytest.fail("a request went out during the hold")
    assert refused.value.retry_after == pytest.approx(7200)
    clock.now += 7200
    async with gate.slot():
        pass  # the hold is over: requests flow again


def test_the_margin_leaves_one_request_or_two_percent_spare() -> None:
    from engine._limiter import budgeted

    assert [budgeted(n) for n in (60, 40, 500, 600, 5000, 10)] == [59, 39, 490, 588, 4900, 9]


async def test_batch_room_counts_the_batch_window_and_refills_as_it_rolls() -> None:
    clock = FakeClock()
    gate = RateGate(Limits(per_minute=500, concurrency=10, batch_size=30, batch_per_minute=40),
                    monotonic=clock)
    assert gate.batch_room() == 39
    for _ in range(39):
        async with gate.slot(batch=True):
            pass
    assert gate.batch_room() == 0
    async with gate.slot():  # singles still flow on the general budget
        pass
    clock.now += 60
    assert gate.batch_room() == 39
