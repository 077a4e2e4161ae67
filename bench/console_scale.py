"""The console on a big store, headless: first paint, refresh, a record page, a filter, memory.

The store is `build_store.build()`'s (1,000,000 jobs over four connections; quick: 100,000).
The console is measured in a child process of its own, so its peak RSS is the console's and
not the builder's: `SyncdeskApp(SyncService(store))` under `App.run_test(size=(120, 40))`,
each step timed until the screen holds the data (waiting on state, polled every 5 ms):

- first paint: from `run_test()` to four connection panels on the dashboard;
- dashboard refresh: `reload()` of the dashboard until its worker is done (median of 5);
- record page: a `RecordScreen` of the first connection's invoices pushed, until its table
  holds rows (this is what `enter` on a count does);
- filter: the `f` action (status: failed) until every row held is failed; search: a text filter
  until the table holds the one match.

    python bench/console_scale.py            # 1,000,000 jobs
    python bench/console_scale.py --quick    # 100,000 jobs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit
from bench.build_store import build

TIMEOUT = 60.0


async def _until(pilot: Any, ready: Callable[[], bool], what: str) -> float:
    """Milliseconds until `ready()` holds, letting the app run in between."""
    started = time.perf_counter()
    while not ready():
        if time.perf_counter() - started > TIMEOUT:
            raise TimeoutError(f"the console did not show {what} within {TIMEOUT:.0f} s")
        await pilot.pause(0.005)
    return (time.perf_counter() - started) * 1000


async def _console(path: Path) -> dict[str, Any]:
    from console.app import SyncdeskApp
    from console.screens.dashboard import DashboardScreen
    from console.screens.records import RecordScreen
    from console.widgets.connection_panel import ConnectionPanel
    from console.widgets.job_table import JobTable
    from engine import Entity, JobFilter, Store, SyncService

    figures: dict[str, Any] = {}
    store = await Store.open(path)
    service = SyncService(store, actor="bench", read_only=True)
    app = SyncdeskApp(service, read_only=True)
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: len(app.screen.query(ConnectionPanel)) == 4,
                     "the dashboard's four panels")
        figures["first_paint"] = (time.perf_counter() - started) * 1000
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        refreshes = []
        for _ in range(5):
            t0 = time.perf_counter()
            dashboard.reload()
            await app.workers.wait_for_complete()
            await pilot.pause()
            refreshes.append((time.perf_counter() - t0) * 1000)
        figures["dashboard_refresh"] = statistics.median(refreshes)
        summary = next(iter(dashboard.query(ConnectionPanel))).summary
        where = JobFilter(connection_id=summary.id, entity=Entity.INVOICE)
        screen = RecordScreen(summary, where)
        t0 = time.perf_counter()
        app.push_screen(screen)

        def rows() -> list[Any]:
            """The jobs the table shows (none until the screen is composed and filled)."""
            tables = screen.query(JobTable)
            return screen.window.jobs if tables and len(tables.first().rows) else []

        figures["record_page"] = (time.perf_counter() - t0) * 1000 + await _until(
            pilot, lambda: app.screen is screen and bool(rows()), "a page of invoices")
        figures["record_rows"] = len(screen.query_one(JobTable).rows)
        t0 = time.perf_counter()
        screen.action_status_filter()  # what `f` does: status any -> failed
        figures["filter_failed"] = (time.perf_counter() - t0) * 1000 + await _until(
            pilot, lambda: screen.where.statuses == ("failed",) and bool(rows())
            and all(job.status == "failed" for job in rows()), "only failed invoices")
        figures["filter_rows"] = len(screen.query_one(JobTable).rows)
        target = screen.window.jobs[-1].label
        t0 = time.perf_counter()
        screen.where = replace(screen.where, statuses=(), text=target)
        figures["search"] = (time.perf_counter() - t0) * 1000 + await _until(
            pilot, lambda: bool(rows()) and all(target in job.label for job in rows()),
            f"the search for {target}")
        await app.workers.wait_for_complete()
    await store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures["peak_rss_mb"] = rss / 1024
    return figures


def _child(path: Path) -> int:
    sys.stdout.write(json.dumps(asyncio.run(_console(path))) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="an existing build_store store to reuse")
    parser.add_argument("--quick", action="store_true", help="100,000 jobs")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)
    jobs = 100_000 if args.quick else args.jobs
    workdir = Path(tempfile.mkdtemp(prefix="console-scale-"))
    path = args.db
    if path is None:
        path = workdir / "store.db"
        built = asyncio.run(build(path, jobs))
        emit("console.store.jobs", built.jobs, "jobs", "built by build_store",
             seconds=round(built.seconds, 1))
    done = subprocess.run([sys.executable, __file__, "--child", str(path)],
                          capture_output=True, text=True, timeout=150, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        return done.returncode
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    emit("console.first_paint", figures["first_paint"], "ms",
         "run_test() until four dashboard panels show counts")
    emit("console.dashboard_refresh", figures["dashboard_refresh"], "ms", "median of 5")
    emit("console.record_page", figures["record_page"], "ms",
         "RecordScreen of one connection's invoices until rows show",
         rows=figures["record_rows"])
    emit("console.filter_failed", figures["filter_failed"], "ms",
         "the f action (status failed) until only failed rows show", rows=figures["filter_rows"])
    emit("console.search", figures["search"], "ms", "text filter until the match shows")
    emit("console.peak_rss", figures["peak_rss_mb"], "MB",
         "ru_maxrss of the console's own process (Python, Textual, the store's caches)")
    if args.db is None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
