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
