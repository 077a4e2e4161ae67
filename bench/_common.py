"""What the benchmark scripts share: JSON-lines output and a demo world on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

import httpx

from engine import EngineReport, Limits, SyncEngine


def emit(name: str, value: float | int, unit: str, reference: str = "", **extra: Any) -> None:
    """One figure as one JSON object per line, so a program can read the results."""
    record = {"name": name, "value": round(value, 4) if isinstance(value, float) else value,
              "unit": unit, "reference": reference, **extra}
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


# -- floors: the least time the documented limits allow -----------------------------------

@dataclass(frozen=True)
class Budget:
    """A platform's documented request limits, as a floor computation needs them."""

    per_minute: int
    per_second: int | None = None
    batch_size: int = 1
    batch_per_minute: int | None = None
    unbatched: frozenset[str] = frozenset()
    """Request units sent one per request although the platform has batches."""

    @classmethod
    def of(cls, limits: Limits, unbatched: frozenset[str] = frozenset()) -> Budget:
        return cls(per_minute=limits.per_minute, per_second=limits.per_second,
                   batch_size=limits.batch_size, batch_per_minute=limits.batch_per_minute,
                   unbatched=unbatched)

    def describe(self) -> dict[str, int | None]:
        return {"per_minute": self.per_minute, "per_second": self.per_second,
                "batch_size": self.batch_size, "batch_per_minute": self.batch_per_minute}


class Windows:
    """A perfect zero-latency client: each request leaves as early as the rolling windows
    allow (N per 60 s, N per 1 s, batch requests' own N per 60 s). Sending every request as
    early as allowed is optimal for sliding windows, and concurrency never binds at zero
    latency, so the last send time is a floor no client can beat."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.sent: list[float] = []
        self.batches: list[float] = []

    def earliest(self, batch: bool) -> float:
        budget, sent = self.budget, self.sent
        at = sent[-1] if sent else 0.0
        if len(sent) >= budget.per_minute:
            at = max(at, sent[-budget.per_minute] + 60.0)
        if budget.per_second and len(sent) >= budget.per_second:
            at = max(at, sent[-budget.per_second] + 1.0)
        if batch and budget.batch_per_minute and len(self.batches) >= budget.batch_per_minute:
            at = max(at, self.batches[-budget.batch_per_minute] + 60.0)
        return at

    def send(self, batch: bool) -> float:
        at = self.earliest(batch)
        self.sent.append(at)
        if batch:
            self.batches.append(at)
        return at

    @property
    def last(self) -> float:
        return self.sent[-1] if self.sent else 0.0


def least_time(requests: int, batches: int, budget: Budget) -> float:
    """Floor for `requests` requests of which `batches` go to a batch endpoint with its own
    window, in any order: the later of the general windows' floor for all of them and the
    batch window's floor for the batches (each alone is a bound every client must meet)."""
    general = Windows(replace(budget, batch_per_minute=None))
    for _ in range(requests):
        general.send(False)
    if not budget.batch_per_minute:
        return general.last
    batch_only = Windows(Budget(per_minute=budget.batch_per_minute))
    for _ in range(batches):
        batch_only.send(False)
    return max(general.last, batch_only.last)


# -- what the client saw ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Answer:
    at: float
    """`time.monotonic()` when the answer came back."""
    status: int
    path: str


class CountingTransport(httpx.AsyncHTTPTransport):
    """Every answer a client got, with its status and time (429s from every limiter, token
    calls too: filter by `path`)."""

    def __init__(self, answers: list[Answer]) -> None:
        super().__init__()
        self.answers = answers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.answers.append(Answer(time.monotonic(), response.status_code, request.url.path))
        return response


# -- targets and the exit code ------------------------------------------------------------

class Outcome:
    """Which figures missed their targets and what the run left undone; the exit code.

    1: a figure missed its target; 2: the run did less than planned (it says nothing then
    about targets, whose figures describe a different run)."""

    def __init__(self, *, judged: bool = True) -> None:
        self.judged = judged
        """False (`--quick`): figures are printed with their targets but a miss is not
        an error, since floors of a few seconds on a shared machine are mostly noise."""
        self.missed: list[str] = []
        self.short: list[str] = []

    def target(self, name: str, value: float, *, at_most: float | None = None,
               at_least: float | None = None, always: bool = False) -> dict[str, Any]:
        """Fields for `emit`; `always`: judged in quick runs too (counts such as 429s)."""
        met = (at_most is None or value <= at_most) and (at_least is None or value >= at_least)
        bound = f"<= {at_most:g}" if at_most is not None else f">= {at_least:g}"
        if not met and (self.judged or always):
            self.missed.append(f"{name} = {value:g}, target {bound}")
        return {"target": bound, "met": met}

    def planned(self, what: str, done: int, planned: int) -> None:
        if done < planned:
            self.short.append(f"{what}: {done} of {planned}")

    def exit_code(self) -> int:
        for line in self.short:
            sys.stderr.write(f"less than planned: {line}\n")
        for line in self.missed:
            sys.stderr.write(f"target missed: {line}\n")
        return 2 if self.short else 1 if self.missed else 0


@dataclass(frozen=True)
class Drained:
    report: EngineReport
    started: float
    """`time.monotonic()` when the engine started."""
    stopped: float
    cpu: float
    """This process's CPU seconds during the run."""
    timed_out: bool


async def drain(engine: SyncEngine, deadline: float) -> Drained:
    """Run `engine` until nothing is due, or stop it at `deadline` seconds."""
    stop = asyncio.Event()
    timed_out: list[bool] = []

    def give_up() -> None:
        timed_out.append(True)
        stop.set()

    timer = asyncio.get_running_loop().call_later(deadline, give_up)
    started, cpu = time.monotonic(), time.process_time()
    try:
        report = await engine.run(stop, until_idle=True)
    finally:
        timer.cancel()
    return Drained(report, started, time.monotonic(), time.process_time() - cpu,
                   bool(timed_out))

