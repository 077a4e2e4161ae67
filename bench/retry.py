"""Bulk retry on a big store: every failed record queued again, in-process and through the CLI.

The store is `build_store.build()`'s with a bad week's failures (12 % of the jobs drawn failed,
so 1,000,000 jobs hold ~108,000 failed ones over four connections). Two copies of it:

- in-process: `SyncService.retry_matching(JobFilter(statuses=("failed",)))`, timed around the
  command alone (one write transaction, committed);
- CLI: `syncdesk retry --status failed --yes --db …` as a person runs it, timed from spawn to
  exit (Python start-up, the dry-run count the CLI asks first, the retry, the close).

Both copies are then checked: `job_counts` and the problem groups equal GROUP BYs over
`sync_jobs` (`SyncState.drift`), no failed job is left, and the retry wrote one event, not
one per job. `retry.enqueue_100k_ms` is judged (target <= 2,000 ms, exit 1 on a miss) when
at least 100,000 jobs were retried; exit 2 when fewer were retried than had failed.

    python bench/retry.py                # 1,000,000 jobs (~108,000 failed)
    python bench/retry.py --jobs 5000    # a smoke run
    python bench/retry.py --store S.db   # on a store built before (copied, left as it is)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import Outcome, emit
from bench.build_store import build
from engine import JobFilter, Store, SyncService, SyncState

ROOT = Path(__file__).resolve().parents[1]
BAD_WEEK = (("synced", 0.81), ("failed", 0.12), ("pending", 0.02), ("blocked", 0.02),
            ("skipped", 0.025), ("broken_link", 0.003), ("uncertain", 0.002))


async def _sizes(path: Path) -> tuple[int, int]:
    """All jobs and the failed ones; opening migrates a store built by an older syncdesk,
    outside the timings."""
    async with await Store.open(path) as store:
        counts = {row["status"]: int(row["n"]) for row in await store.fetch_all(
            "SELECT status, SUM(n) AS n FROM job_counts GROUP BY status")}
    return sum(counts.values()), counts.get("failed", 0)


async def _in_process(path: Path) -> tuple[int, float, float]:
    """Jobs retried, wall ms and CPU ms (this process: the loop and the SQLite thread)."""
    async with await Store.open(path) as store:
        service = SyncService(store, actor="bench")
        started, cpu = time.perf_counter(), time.process_time()
        done = await service.retry_matching(JobFilter(statuses=("failed",)))
        return (done, (time.perf_counter() - started) * 1000,
                (time.process_time() - cpu) * 1000)


def _cli(path: Path) -> tuple[float, float]:
    """Wall ms and CPU ms (the child's, user and system) of one CLI retry."""
    entry = Path(sys.executable).with_name("syncdesk")
    command = [str(entry)] if entry.exists() else [
        sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([*command, "retry", "--status", "failed", "--yes", "--db", str(path)],
                   check=True, cwd=ROOT, capture_output=True, text=True)
    elapsed = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


async def _check(path: Path, events_before: int) -> dict[str, int]:
    """What the retry left: it must be consistent, whichever way it ran."""
    async with await Store.open(path) as store:
        drift = await SyncState(store).drift()
        if drift:
            raise AssertionError("kept counts disagree with sync_jobs: " + "; ".join(drift[:5]))
        left = await store.fetch_value("SELECT COUNT(*) FROM sync_jobs WHERE status = 'failed'")
        events = await store.fetch_value("SELECT COUNT(*) FROM events") - events_before
    if left:
        raise AssertionError(f"{left} failed jobs were not retried")
    return {"events": int(events)}


async def _events(path: Path) -> int:
    async with await Store.open(path) as store:
        return int(await store.fetch_value("SELECT COUNT(*) FROM events") or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="a store built before with failed jobs "
                        "(it is copied; only the copies are retried)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-retry-"))
    outcome = Outcome()
    try:
        source = args.store or asyncio.run(build(workdir / "built.db", args.jobs,
                                                 status_share=BAD_WEEK)).path
        copies = {way: workdir / f"{way}.db" for way in ("in_process", "cli")}
        for copy in copies.values():
            shutil.copyfile(source, copy)
        jobs, failed = asyncio.run(_sizes(copies["cli"]))
        emit("retry.store.jobs", jobs, "jobs", "4 connections", failed=failed)
        before = asyncio.run(_events(copies["in_process"]))
        done, elapsed, cpu = asyncio.run(_in_process(copies["in_process"]))
        checked = asyncio.run(_check(copies["in_process"], before))
        outcome.planned("retry.enqueue_100k_ms jobs retried", done, failed)
        # Judged at the size it names: a smoke run's few thousand say nothing of it.
        outcome.judged = done >= 100_000
        emit("retry.enqueue_100k_ms", elapsed, "ms", "SyncService.retry_matching(status "
             "failed), in-process", rows=done, cpu_ms=round(cpu), load=os.getloadavg()[0],
             **checked, **outcome.target("retry.enqueue_100k_ms", elapsed, at_most=2000))
        before = asyncio.run(_events(copies["cli"]))
        elapsed, cpu = _cli(copies["cli"])
        checked = asyncio.run(_check(copies["cli"], before))
        emit("retry.cli_100k_ms", elapsed, "ms", "`syncdesk retry --status failed --yes`, "
             "spawn to exit (start-up and the dry-run count included)", rows=failed,
             cpu_ms=round(cpu), load=os.getloadavg()[0], **checked)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return outcome.exit_code()


if __name__ == "__main__":
    sys.exit(main())
