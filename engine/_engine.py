"""The sync engine: one worker per live connection, a lease on the store, a weekly schedule.

`SyncEngine.run()` takes the store's engine lease (one engine per store; a crashed engine's
lease is taken over once its process is gone or its heartbeat is stale), turns jobs left in
flight by a crash into `uncertain`, and drives a `ConnectionWorker` for every active
connection until stopped — or, with `until_idle`, until nothing is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from ._connections import ConnectionRow, SettingsHook, live_connections, open_provider
from ._directory import check_links, pull_directory
from ._errors import StoreError, SyncError
from ._jobs import recover_in_flight
from ._notify import raise_notification
from ._port import ConnectionSettings, Platform
from ._scheduler import WeeklySync
from ._secrets import Sealer
from ._store import Store
from ._time import Clock, from_iso, to_iso, utcnow
from ._worker import LONG_WAIT, ConnectionWorker, WorkerSettings


@dataclass
class EngineSettings:
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    poll_interval: float = 0.25
    heartbeat_interval: float = 5.0
    lease_timeout: float = 30.0
    schedule: str = "0 6 * * 0"
    """Cron expression (UTC) of the weekly full sync: Sunday 06:00 by default."""
    timeout: float = 30.0
    """Per-request timeout handed to providers."""


@dataclass
class EngineReport:
    pushed: int = 0
    failed: int = 0
    requests: int = 0
    rate_limited: int = 0
    recovered: int = 0


class SyncEngine:
    def __init__(
        self,
        store: Store,
        platforms: Mapping[str, Platform],
        sealer: Sealer,
        *,
        clock: Clock = utcnow,
        settings: EngineSettings | None = None,
        settings_hook: SettingsHook | None = None,
    ) -> None:
        self.store = store
        self.platforms = platforms
        self.sealer = sealer
        self.clock = clock
        self.settings = settings or EngineSettings()
        self.settings_hook = settings_hook
        """Adjusts each connection's settings (tests hand in an in-process transport)."""
        self.report = EngineReport()
        self.weekly = WeeklySync(store, self.settings.schedule, clock)
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._workers: dict[int, ConnectionWorker] = {}
        self._chores: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event | None = None, *,
                  until_idle: bool = False) -> EngineReport:
        stop = stop or asyncio.Event()
        await self._take_lease()
        try:
            self.report.recovered = await recover_in_flight(self.store, self.clock())
            beat = asyncio.get_running_loop().time()
            while not stop.is_set():
                await self._supervise(stop)
                now = asyncio.get_running_loop().time()
                if now - beat >= self.settings.heartbeat_interval:
                    await self._heartbeat()
                    beat = now
                if not until_idle and await self.weekly.run_if_due():
                    for worker in list(self._workers.values()):
                        chore = asyncio.create_task(self._weekly(worker))
                        self._chores.add(chore)
                        chore.add_done_callback(self._chores.discard)
                elif await self._idle():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll_interval)
        finally:
            stop.set()
            await self._stop_workers()
            await self._release_lease()
        return self.report

    # -- workers ------------------------------------------------------------------------

    async def _supervise(self, stop: asyncio.Event) -> None:
        for connection in await live_connections(self.store):
            task = self._tasks.get(connection.id)
            if connection.state != "active" or (task is not None and not task.done()):
                continue
            if task is not None and task.done() and not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]
            platform = self.platforms.get(connection.platform)
            if platform is None:
                continue
            worker = await self._worker(connection, platform)
            self._tasks[connection.id] = asyncio.create_task(
                self._drive(worker, stop), name=f"sync:{connection.platform}:{connection.id}")

    async def _worker(self, connection: ConnectionRow, platform: Platform) -> ConnectionWorker:
        old = self._workers.pop(connection.id, None)
        if old is not None:
            await old.provider.aclose()
        def adjust(row: ConnectionRow, settings: ConnectionSettings) -> ConnectionSettings:
            settings = replace(settings, timeout=self.settings.timeout)
            return self.settings_hook(row, settings) if self.settings_hook else settings

        provider = await open_provider(self.store, connection, platform, self.sealer,
                                       clock=self.clock, adjust=adjust)
        worker = ConnectionWorker(
            store=self.store, connection_id=connection.id, platform=platform.name,
            title=platform.title, provider=provider,
            capabilities=platform.capabilities, clock=self.clock,
            settings=self.settings.worker,
        )
        self._workers[connection.id] = worker
        return worker

    async def _drive(self, worker: ConnectionWorker, stop: asyncio.Event) -> None:
        poll = self.settings.poll_interval
        while not stop.is_set():
            state = await self.store.fetch_value("SELECT state FROM connections WHERE id = ?",
                                                 (worker.connection_id,))
            if state != "active":
                return
            parked = await worker.parked_until()
            if parked is not None:
                wait = min((parked - self.clock()).total_seconds(), 5.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(wait, poll))
                continue
            handled = await worker.run_once()
            await worker.flush_quota()
            self._tally(worker)
            if worker.stopped_reason:
                return
            if handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll)

    async def _weekly(self, worker: ConnectionWorker) -> None:
        """The weekly full sync's platform side: pull the directory, read every link back."""
        try:
            await pull_directory(self.store, worker.connection_id, worker.platform,
                                 worker.provider, self.clock)
            await check_links(self.store, worker.connection_id, worker.provider, worker.title,
                              self.clock)
        except SyncError as error:
            stamp = to_iso(self.clock())
            async with self.store.write() as db:
                await raise_notification(db, worker.connection_id, None, None, kind="weekly",
                                         title=f"{worker.title}: weekly check did not finish",
                                         message=error.message, now=stamp)

    def _tally(self, worker: ConnectionWorker) -> None:
        stats = [w.stats for w in self._workers.values()]
        self.report.pushed = sum(s.pushed for s in stats)
        self.report.failed = sum(s.failed for s in stats)
        self.report.requests = sum(s.requests for s in stats)
        self.report.rate_limited = sum(s.rate_limited for s in stats)

    async def _stop_workers(self) -> None:
        for task in [*self._tasks.values(), *self._chores]:
            task.cancel()
        await asyncio.gather(*self._chores, return_exceptions=True)
        results = await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for worker in self._workers.values():
            await worker.provider.aclose()
        self._tasks.clear()
        self._workers.clear()
        for result in results:
            if isinstance(result, SyncError):
                raise result

    async def _idle(self) -> bool:
        """Nothing due on any active connection, and no worker mid-flight.

        A connection parked for a short while (a Retry-After) is waited for; one parked
        for long (a spent daily quota) is not.
        """
        now = to_iso(self.clock() + timedelta(seconds=LONG_WAIT))
        waiting = await self.store.fetch_value(
            "SELECT COALESCE(SUM(jc.n), 0) FROM job_counts jc "
            "JOIN connections c ON c.id = jc.connection_id "
            "WHERE c.state = 'active' AND (c.parked_until IS NULL OR c.parked_until <= ?) "
            "AND jc.status IN ('pending', 'uncertain', 'in_flight')", (now,),
        )
        return int(waiting or 0) == 0

    # -- the lease ----------------------------------------------------------------------

    async def _take_lease(self) -> None:
        now = self.clock()
        async with self.store.write() as db:
            row = await (await db.execute(
                "SELECT owner, pid, heartbeat_at FROM engine_lease WHERE id = 1")).fetchone()
            if row is not None and row["owner"] != self._owner:
                fresh = now - from_iso(row["heartbeat_at"]) < timedelta(
                    seconds=self.settings.lease_timeout)
                same_host = str(row["owner"]).split(":")[0] == socket.gethostname()
                alive = fresh and (not same_host or _process_alive(int(row["pid"])))
                if alive:
                    raise StoreError(
                        f"another engine is running on {self.store.path} (pid {row['pid']}); "
                        "stop it first, or point this one at another store with --db"
                    )
            await db.execute(
                "INSERT INTO engine_lease (id, owner, pid, heartbeat_at) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, "
                "heartbeat_at = excluded.heartbeat_at",
                (self._owner, os.getpid(), to_iso(now)),
            )

    async def _heartbeat(self) -> None:
        async with self.store.write() as db:
            await db.execute("UPDATE engine_lease SET heartbeat_at = ? WHERE owner = ?",
                             (to_iso(self.clock()), self._owner))

    async def _release_lease(self) -> None:
        async with self.store.write() as db:
            await db.execute("DELETE FROM engine_lease WHERE owner = ?", (self._owner,))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
