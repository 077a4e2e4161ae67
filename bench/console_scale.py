"""The console on a big store, headless: first paint, refresh, a record page, a filter, memory.

The store is `build_store.build()`'s (1,000,000 jobs over four connections; quick: 100,000).
The console is measured in a child process of its own, so its peak RSS is the console's and
not the builder's: `SyncdeskApp(SyncService(store))` under `App.run_test(size=(120, 40))`,
each step timed until the screen holds the data (waiting on state, polled every 1-5 ms):

- first paint: from `run_test()` to four connection panels on the dashboard;
- dashboard refresh: `reload()` of the dashboard until its worker is done (median of 5);
- problems open: `!` until the problems queue shows every group (`measure_problems_open`);
- the record table (`measure_table`): the first connection's invoices opened, `G`, `:N`,
  `f`, `/` search and `s`, each a key handed to the app as its terminal driver does
  (`_key`; untimed moves go through Pilot) until the screen shows and has painted the
  answer (each the median of five, goal 50 ms);
- peak RSS of the console's process after all of it (goal 150 MB).

    python bench/console_scale.py            # 1,000,000 jobs
    python bench/console_scale.py --quick    # 100,000 jobs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


async def _key(app: Any, key: str) -> None:
    """`key` handed to the app as its terminal driver hands a key over, and nothing more.
    Pilot's `press` builds the same event, then waits for the process to idle, twice, in
    20 ms sleeps that go on while anything runs (`wait_for_idle`): a floor of 60-90 ms
    under every key whatever the console does, so it is not used where a key is timed."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        char: str | None = unicodedata.lookup(
            _get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)


async def _painted(app: Any, ready: Callable[[], bool], what: str) -> None:
    """Until `ready()` holds and every widget's refresh has reached the screen (checked
    every millisecond, the app running in between), then the screen's pending updates are
    rendered: the compositor's frame, forced as Pilot's `pause` forces it, so what is timed
    ends with the answer drawn."""
    started = time.perf_counter()
    while not ready() or _handing_over(app.screen):
        if time.perf_counter() - started > TIMEOUT:
            raise TimeoutError(f"the console did not show {what} within {TIMEOUT:.0f} s")
        await asyncio.sleep(0.001)
    app.screen._on_timer_update()


def _handing_over(screen: Any) -> bool:
    """Whether a widget asked for a repaint its screen has not taken in yet: a widget hands
    it over from its own idle as a message, so a frame forced as soon as the data is in
    could draw none of it (and time a paint that had not happened)."""
    return not screen._message_queue.empty() or any(
        widget._repaint_required or widget._layout_required or widget._scroll_required
        for widget in screen.walk_children(with_self=False))


async def _settle(app: Any) -> None:
    """Until no worker runs and what they showed is drawn; one replaced by a newer of its
    exclusive group is cancelled, which `wait_for_complete` raises: the newer one is waited
    for then."""
    from textual.worker import WorkerCancelled

    for _ in range(10):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            continue
        break
    # And their frame: a worker's last rows are drawn by the screen a moment after it ends.
    await _painted(app, lambda: True, "what the workers showed")


async def measure_problems_open(app: Any, pilot: Any) -> dict[str, Any]:
    """`!` from the dashboard until the problems queue shows every group as read after the
    key (`fresh`; the median of five opens of the screen the app keeps composed): the store
    keeps the groups counted, so this must not grow with the number of jobs."""
    from console.screens.problems import ProblemsScreen
    from console.widgets.table import Table

    def shown() -> bool:
        screen = app.screen
        return (isinstance(screen, ProblemsScreen) and screen.fresh and bool(screen.groups)
                and len(screen.query_one(Table).rows) == len(screen.groups))

    opens = []
    for _ in range(5):
        await _settle(app)
        started = time.perf_counter()
        await _key(app, "exclamation_mark")
        await _painted(app, shown, "the problems queue")
        opens.append((time.perf_counter() - started) * 1000)
        groups = list(app.screen.groups.values())
        await pilot.press("escape")
        await _until(pilot, lambda: not isinstance(app.screen, ProblemsScreen), "the dashboard")
    return {"problems_open": statistics.median(opens), "problems_open_first": opens[0],
            "problems_groups": len(groups), "problems_records": sum(g.count for g in groups)}


RUNS = 5
"""Each table figure is the median of this many key presses (the first is reported too)."""


async def measure_table(app: Any, pilot: Any, summary: Any) -> dict[str, Any]:
    """The record table over one connection's invoices (135,000 of a million jobs), each a
    key handed to the app (`_key`) until the screen shows its answer and has painted it:
    every row on screen read, the count known (`row N of M`), then the compositor's frame
    (`_painted`); the workers of the untimed keys before it are done first. `record_page`
    opens the listing as `enter` on the count does (`open_records`: the record screen the
    app composed after the overview's first paint, shown with this listing); `page_end` is
    `G` from the top (`g` between presses, untimed); `jump_row` the `enter` of `:N` for rows
    across the listing (the marks `:` starts are taken while the number is typed, untimed);
    `filter` is `f` (any status -> failed); `search` the `enter` of `/`
    and an invoice number (a different one each time); `sort` each press of `s` (label,
    amount, tries, recent)."""
    from console.screens.records import RecordScreen
    from console.widgets.job_table import JobTable
    from engine import Entity, JobFilter, Sort

    where = JobFilter(connection_id=summary.id, entity=Entity.INVOICE)
    timings: dict[str, list[float]] = {}

    def shown(screen: RecordScreen) -> bool:
        """Every row on screen is held and the count is in."""
        if app.screen is not screen or not screen.is_mounted or not screen.counted:
            return False
        table = screen.query_one(JobTable)
        first = table.first_shown
        last = min(table.total, first + table.page)
        return table.start <= first and last <= table.end

    async def timed(name: str, press: Callable[[], Any], ready: Callable[[], bool]) -> None:
        await _settle(app)  # what the untimed keys before it started is not its cost
        started, cpu = time.perf_counter(), time.process_time()
        await press()
        await _painted(app, ready, name)
        timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        # The box is shared: the process's CPU (loop and SQLite threads) beside the wall.
        timings.setdefault(f"{name}_cpu", []).append((time.process_time() - cpu) * 1000)

    async def open_it() -> None:
        app.open_records(summary, where)

    def opened() -> bool:
        return isinstance(app.screen, RecordScreen) and shown(app.screen)

    for run in range(RUNS):
        await timed("record_page", open_it, opened)
        if run < RUNS - 1:
            await pilot.press("escape")
            await _until(pilot, lambda: not isinstance(app.screen, RecordScreen),
                         "the dashboard")
    screen = app.screen
    assert isinstance(screen, RecordScreen)
    table = screen.query_one(JobTable)
    rows = table.total
    for _ in range(RUNS):
        await timed("page_end", lambda: _key(app, "G"),
                    lambda: shown(screen) and table.cursor_row == rows - 1
                    and table.cursor_job is not None)
        await pilot.press("g")
        await _until(pilot, lambda: shown(screen) and table.cursor_row == 0, "the top")
    for run in range(RUNS):
        target = rows * (2 * run + 1) // (2 * RUNS)
        await pilot.press("colon", *str(target))
        await timed("jump_row", lambda: _key(app, "enter"),
                    lambda target=target: shown(screen) and table.cursor_row == target - 1
                    and table.cursor_job is not None)
    for _ in range(RUNS):
        await timed("filter", lambda: _key(app, "f"),
                    lambda: screen.where.statuses == ("failed",) and shown(screen)
                    and all(job.status == "failed" for job in table.held))
        failed = table.total
        screen.where = where
        await _until(pilot, lambda: not screen.where.statuses and shown(screen), "any status")
    searched = []
    for run in range(RUNS):
        number = f"INV-{(rows // RUNS * run + 4242) % rows:07d}"
        await pilot.press("slash", *number)
        await timed("search", lambda: _key(app, "enter"),
                    lambda number=number: screen.where.text == number and shown(screen)
                    and all(number in job.label for job in table.held))
        searched.append(table.total)
        await pilot.press("escape")  # clears the query
        await _until(pilot, lambda: screen.where.text is None and shown(screen), "no query")
    sorts = []
    for _ in range(len(Sort) * 2 - 1):
        before = screen.sort
        await timed("sort", lambda: _key(app, "s"),
                    lambda before=before: screen.sort is not before and shown(screen))
        sorts.append(screen.sort.value)
    return {"table": {name: [round(t, 1) for t in values] for name, values in timings.items()},
            "table_rows": rows, "failed_rows": failed, "search_matches": searched,
            "sorts": sorts}


def emit_table(figures: dict[str, Any]) -> None:
    """The record table's figures (see `measure_table`), each against its 50 ms goal."""
    what = {
        "record_page": "a record screen of one connection's invoices until its rows and "
                       "count show",
        "page_end": "G until the last of all rows shows",
        "jump_row": ":N enter until row N shows (rows across the listing)",
        "filter": "f (status failed) until only failed rows and their count show",
        "search": "/ INV-… enter until the match and its count show",
        "sort": "s until the listing shows in its next order",
    }
    for name in what:
        runs, cpu = figures["table"][name], figures["table"][f"{name}_cpu"]
        value = statistics.median(runs)
        emit(f"console.{name}", value, "ms", f"goal <= 50 ms: {what[name]} (median of "
             f"{len(runs)}, key to painted screen)", runs=runs, target="<= 50",
             met=value <= 50, cpu_ms=statistics.median(cpu), cpu_runs=cpu,
             load=round(os.getloadavg()[0], 1), rows=figures["table_rows"],
             **({"failed_rows": figures["failed_rows"]} if name == "filter" else {}),
             **({"matches": figures["search_matches"]} if name == "search" else {}),
             **({"sorts": figures["sorts"]} if name == "sort" else {}))


async def _console(path: Path) -> dict[str, Any]:
    from console.app import SyncdeskApp
    from console.screens.dashboard import DashboardScreen
    from console.widgets.connection_panel import ConnectionPanel
    from engine import Store, SyncService

    figures: dict[str, Any] = {}
    store = await Store.open(path)
    service = SyncService(store, actor="bench", read_only=True)
    app = SyncdeskApp(service, read_only=True)
    started = time.perf_counter()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(pilot, lambda: len(app.screen.query(ConnectionPanel)) == 4,
                         "the dashboard's four panels")
            figures["first_paint"] = (time.perf_counter() - started) * 1000
            dashboard = app.screen
            assert isinstance(dashboard, DashboardScreen)
            # The start's own work first: the platforms' code, the kept screens.
            await _until(pilot, lambda: dashboard.capabilities is not None, "the day budgets")
            await _settle(app)
            refreshes = []
            for _ in range(5):
                t0 = time.perf_counter()
                dashboard.reload()
                await _settle(app)
                await pilot.pause()
                refreshes.append((time.perf_counter() - t0) * 1000)
            figures["dashboard_refresh"] = statistics.median(refreshes)
            figures.update(await measure_problems_open(app, pilot))
            summary = next(iter(dashboard.query(ConnectionPanel))).summary
            figures.update(await measure_table(app, pilot, summary))
            await _settle(app)
    finally:
        await store.close()  # else its threads keep a failed run's process from exiting
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures["peak_rss_mb"] = rss / 1024
    return figures


def measure_first_paint_process(path: Path, connections: int = 4, runs: int = 3,
                                size: tuple[int, int] = (120, 40)) -> float:
    """`console.first_paint_process`: `syncdesk console --read-only` started as a process of
    its own in a pseudo-terminal of `size`, until its output holds the dashboard's last
    connection panel with its first row of counts (its title `N · platform`, then
    `customers`): imports, store, queries, Textual and the terminal write, as a person waits
    for them. The best of `runs` starts (the first may pay for a cold page cache); each is
    quit with ctrl+q. Also says which modules the console loaded that it does not need (the
    platforms' sandboxes, their servers, the browser server): there should be none.
    """
    import contextlib
    import fcntl
    import os
    import re
    import select
    import struct
    import termios

    shown = re.compile(rf"─ {connections} · .*?customers", re.DOTALL)
    control = re.compile(r"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-B]|.)")
    unneeded = ("uvicorn", "starlette", "graphql", "aiohttp", "textual_serve")
    loaded_file = Path(tempfile.mkdtemp(prefix="first-paint-")) / "modules.json"
    # The real CLI; the hook only writes sys.modules down as the console exits.
    probe = ("import atexit, json, sys\n"
             f"atexit.register(lambda: open({str(loaded_file)!r}, 'w').write("
             "json.dumps(sorted(sys.modules))))\n"
             "from console.cli import main\nsys.exit(main())")
    times = []
    for _ in range(runs):
        leader, follower = os.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", probe, "console", "--db", str(path), "--read-only"],
            stdin=follower, stdout=follower, stderr=follower, start_new_session=True,
            env={**os.environ, "TERM": "xterm-256color"})
        os.close(follower)
        screen, painted = "", None
        try:
            while painted is None:
                if time.perf_counter() - started > TIMEOUT:
                    raise TimeoutError(f"the console did not paint {connections} connections "
                                       f"within {TIMEOUT:.0f} s: {screen[-300:]!r}")
                if select.select([leader], [], [], 0.5)[0]:
                    try:
                        chunk = os.read(leader, 1 << 16)
                    except OSError:  # the console exited (its output names why)
                        raise RuntimeError(f"the console exited: {screen[-600:]!r}") from None
                    screen += control.sub("", chunk.decode("utf-8", "replace"))
                    if shown.search(screen):
                        painted = (time.perf_counter() - started) * 1000
            times.append(painted)
            os.write(leader, b"\x11")  # ctrl+q
            # Read on while it quits: a console blocked on a full terminal never exits.
            deadline = time.perf_counter() + 15
            while process.poll() is None and time.perf_counter() < deadline:
                if select.select([leader], [], [], 0.1)[0]:
                    with contextlib.suppress(OSError):
                        os.read(leader, 1 << 16)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            os.close(leader)
    modules = json.loads(loaded_file.read_text())
    loaded = sorted({m.split(".")[0] for m in modules} & set(unneeded)
                    | {m for m in modules if m.startswith("providers.") and m.endswith(".sandbox")})
    emit("console.first_paint_process", min(times), "ms",
         f"goal <= 1000 ms: `syncdesk console` started in a {size[0]}x{size[1]} pty until the "
         f"dashboard shows its {connections} connections (best of {runs})",
         runs=[round(t) for t in times], unneeded_modules_loaded=loaded, target="<= 1000",
         met=min(times) <= 1000)
    return min(times)


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
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        return done.returncode
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    emit("console.first_paint", figures["first_paint"], "ms",
         "run_test() until four dashboard panels show counts")
    emit("console.dashboard_refresh", figures["dashboard_refresh"], "ms", "median of 5")
    emit("console.problems_open", figures["problems_open"], "ms",
         "goal <= 50 ms: ! until every problem group shows (median of 5)",
         first=round(figures["problems_open_first"], 1), groups=figures["problems_groups"],
         records=figures["problems_records"])
    emit_table(figures)
    emit("console.peak_rss", figures["peak_rss_mb"], "MB",
         "goal <= 150 MB: ru_maxrss of the console's own process (Python, Textual, the "
         "store's caches) after every step above", target="<= 150",
         met=figures["peak_rss_mb"] <= 150)
    measure_first_paint_process(path)
    if args.db is None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
