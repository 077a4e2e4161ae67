"""Draining the demo business at the platforms' real limits: elapsed time against the floor.

The demo business (`engine.generate_demo`, 300 customers: 1,285 records) goes into one store
with every platform connected to its sandbox, each `syncdesk sandbox serve` in a process of
its own on loopback with the real default limits (`--sandbox-thread`: in this process, as
`syncdesk demo` serves them), and one engine drains it (production settings, throttle on)
the way `syncdesk demo` does. Per platform:

- `elapsed`: from the engine's start to the last answer that connection got;
- `floor`: the least time the platform's rolling windows allow for the requests needed
  (`least_time`: N per 60 s, N per 1 s, QuickBooks' 40 batch requests per 60 s), where
  requests needed is what the sandbox received (its `/_sandbox/state` count) less the 429s.
  That count is the honest measure here: the demo's pulls, lookups of records in doubt,
  name clashes and two-step writes are part of the work, and no cost table of ours would
  know them all. `rate_floor` in the detail is requests / rate (the largest over the
  limits); it is no floor: a rolling window lets a whole window's requests go at the
  start, and a run beats it by up to a minute (Xero's demo: 369 s against 389 s).
- `http_429`: 429s either the sandbox or the client counted (QuickBooks' batch limiter is
  not in the sandbox's count).

    python bench/drain.py            # the demo business (size 300); Wave takes ~25 min
    python bench/drain.py --quick    # size 10, QuickBooks, Xero, FreshBooks: one window each

Exit 1 when a full run misses a target (elapsed/floor <= 1.03, 0 429s), 2 when a platform
did not drain (jobs left pending, in flight or uncertain, or the deadline stopped it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import Answer, Budget, CountingTransport, Outcome, drain, emit, least_time
from console._fleet import SandboxFleet
from console._wiring import connect_sandbox, platforms
from engine import EngineSettings, Ledger, Sealer, Store, SyncEngine, generate_demo
from engine._connections import ConnectionRow
from engine._port import ConnectionSettings

UNFINISHED = ("pending", "in_flight", "uncertain")
FIRST_PORT = 19750
QUICK_PLATFORMS = ("quickbooks", "xero", "freshbooks")
"""Wave's 60/min cannot drain even the smallest demo (32 items alone) within a quick run."""


@contextlib.contextmanager
def served(names: list[str], first_port: int) -> Iterator[dict[str, str]]:
    """Each platform's sandbox as `syncdesk sandbox serve` in a process of its own, real
    limits, the demo company seeded: a platform's work is not the engine's. Served in this
    process, a sandbox shares its interpreter lock with the engine, and a burst's answers
    wait for the sandbox's CPU as much as the engine's."""
    syncdesk = Path(sys.executable).with_name("syncdesk")
    urls = {name: f"http://127.0.0.1:{first_port + n}" for n, name in enumerate(names)}
    processes = [subprocess.Popen([str(syncdesk), "sandbox", "serve", "--platform", name,
                                   "--port", str(first_port + n)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for n, name in enumerate(names)]
    try:
        for process, url in zip(processes, urls.values(), strict=True):
            deadline = time.monotonic() + 30
            while not _answers(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the sandbox at {url} did not start")
                # A process we cannot await: polled, bounded by the deadline above.
                time.sleep(0.05)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(f"{url}/_sandbox/state", timeout=1).status_code == 200
    return False


@contextlib.contextmanager
def threaded(names: list[str], first_port: int) -> Iterator[dict[str, str]]:
    """The sandboxes in a thread of this process, as `syncdesk demo` serves them."""
    with SandboxFleet(names, first_port=first_port, limits_enabled=True) as fleet:
        yield fleet.urls


def rate_floor(requests: int, batches: int, budget: Budget) -> float:
    """Requests needed / rate, the largest over the rates the platform documents."""
    bounds = [requests * 60.0 / budget.per_minute]
    if budget.per_second:
        bounds.append(requests / budget.per_second)
    if budget.batch_per_minute:
        bounds.append(batches * 60.0 / budget.batch_per_minute)
    return max(bounds)


async def _drain(db: Path, urls: dict[str, str], size: int, seed: int, deadline: float
                 ) -> dict[str, Any]:
    store = await Store.open(db)
    records = generate_demo(seed=seed, size=size)
    await Ledger(store).upsert(records)
    sealer = Sealer.load()
    for name in urls:
        await connect_sandbox(store, platforms()[name], urls[name], sealer)
    answers: dict[str, list[Answer]] = {name: [] for name in urls}

    def hook(row: ConnectionRow, s: ConnectionSettings) -> ConnectionSettings:
        return replace(s, transport=CountingTransport(answers[row.platform]))

    chosen = {name: platforms()[name] for name in urls}
    engine = SyncEngine(store, chosen, sealer, settings=EngineSettings(), settings_hook=hook)
    run = await drain(engine, deadline)
    rows = await store.fetch_all(
        "SELECT c.platform AS platform, k.status AS status, SUM(k.n) AS n "
        "FROM job_counts k JOIN connections c ON c.id = k.connection_id "
        "WHERE k.n > 0 GROUP BY c.platform, k.status")
    await store.close()
    statuses: dict[str, dict[str, int]] = {name: {} for name in urls}
    for row in rows:
        statuses[row["platform"]][row["status"]] = row["n"]
    return {"started": run.started, "stopped": run.stopped, "answers": answers,
            "statuses": statuses, "timed_out": run.timed_out, "records": len(records),
            "cpu": run.cpu}


def _report(name: str, result: dict[str, Any], state: dict[str, Any],
            outcome: Outcome) -> None:
    answers: list[Answer] = result["answers"][name]
    statuses: dict[str, int] = result["statuses"][name]
    # Stopped at the deadline, the drain took at least that long, whatever was answered last.
    last = result["stopped"] if result["timed_out"] else max((a.at for a in answers),
                                                             default=result["started"])
    elapsed = last - result["started"]
    client_429 = sum(1 for a in answers if a.status == 429)
    rejected = max(state["rate_limited"], client_429)
    needed = state["requests"] - rejected
    batches = sum(1 for a in answers if a.status == 200 and a.path.endswith("/batch"))
    budget = Budget.of(platforms()[name].capabilities.limits)
    least = least_time(needed, batches, budget)
    jobs = sum(statuses.values())
    left = sum(statuses.get(s, 0) for s in UNFINISHED)
    emit(f"drain.{name}.jobs", jobs, "jobs", "the demo's jobs for this platform",
         statuses=statuses)
    emit(f"drain.{name}.elapsed", elapsed, "s", "engine start to this connection's last answer",
         timed_out=result["timed_out"])
    emit(f"drain.{name}.requests", needed, "requests",
         "the sandbox's count less 429s: the floor's requests needed",
         sandbox_received=state["requests"], batch_requests=batches,
         client_answers=len(answers))
    emit(f"drain.{name}.floor", least, "s",
         "the requests needed under the rolling windows, zero latency",
         requests=needed, batch_requests=batches, limits=budget.describe(),
         rate_floor=round(rate_floor(needed, batches, budget), 2))
    if least >= 1.0:
        ratio = elapsed / least
        emit(f"drain.{name}.elapsed_over_floor", ratio, "ratio",
             "a lower bound: stopped at the deadline" if result["timed_out"]
             else "1.0 = as fast as the limits allow",
             **outcome.target(f"drain.{name}.elapsed_over_floor", ratio, at_most=1.03))
    emit(f"drain.{name}.http_429", rejected, "responses",
         "429s the sandbox or the client counted", sandbox_rate_limited=state["rate_limited"],
         client_429=client_429,
         **outcome.target(f"drain.{name}.http_429", rejected, at_most=0, always=True))
    outcome.planned(f"drain.{name} jobs finished", jobs - left, jobs)
    if result["timed_out"]:
        outcome.short.append(f"drain.{name}: stopped at the deadline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300, help="customers in the demo business")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--platforms", default=None,
                        help="comma-separated (default: all; quick: " +
                             ",".join(QUICK_PLATFORMS) + ")")
    parser.add_argument("--deadline", type=float, default=2400.0,
                        help="stop the engine after this many seconds (quick: 45)")
    parser.add_argument("--first-port", type=int, default=FIRST_PORT,
                        help="serve the sandboxes on this port and the next ones")
    parser.add_argument("--sandbox-thread", action="store_true",
                        help="serve the sandboxes in a thread of this process, as `syncdesk "
                             "demo` does, instead of a process each")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    names = list(platforms()) if args.platforms is None and not args.quick else \
        (args.platforms.split(",") if args.platforms else list(QUICK_PLATFORMS))
    if args.quick:
        args.size, args.deadline = 10, min(args.deadline, 45.0)
    workdir = Path(tempfile.mkdtemp(prefix="drain-"))
    os.environ.setdefault("SYNCDESK_KEY_FILE", str(workdir / "secret.key"))
    os.environ["SYNCDESK_CONFIG"] = str(workdir / "none.toml")
    outcome = Outcome(judged=not args.quick)
    serve = threaded if args.sandbox_thread else served
    with serve(names, args.first_port) as urls:
        result = asyncio.run(_drain(workdir / "drain.db", urls, args.size, args.seed,
                                    args.deadline))
        states = {n: httpx.get(f"{urls[n]}/_sandbox/state", timeout=10).json()
                  for n in names}
    emit("drain.records", result["records"], "records", f"demo business, size {args.size}",
         platforms=names)
    emit("drain.engine.cpu_s", result["cpu"], "s",
         "process CPU of the run (engine and the sandboxes' thread)" if args.sandbox_thread
         else "process CPU of the run (the engine; the sandboxes in their own processes)")
    for name in names:
        _report(name, result, states[name], outcome)
    return outcome.exit_code()


if __name__ == "__main__":
    sys.exit(main())
