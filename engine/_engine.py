"""The sync engine: one worker per live connection, a lease on the store, a weekly schedule.

`SyncEngine.run()` takes the store's engine lease (one engine per store; a crashed engine's
lease is taken over once its process is gone or its heartbeat is stale), turns jobs left in
flight by a crash into `uncertain`, and drives a `ConnectionWorker` for every active
connection until stopped — or, with `until_idle`, until nothing is due. Running, it idles on
a short poll, so work queued by another process (an import, a console retry, a new mapping)
goes out within `poll_interval`. Stopping, it lets the round in progress finish for up to
`stop_grace` seconds, then settles whatever was cut short: back to pending if nothing left,
uncertain if a request was on its way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from ._audit import run_audit
from ._connections import ConnectionRow, SettingsHook, live_connections, open_provider
from ._directory import check_links, pull_directory
from ._errors import StoreError, SyncError
from ._feed import FeedRunner, FeedSettings
from ._inbound import hold_imported
from ._limiter import RateGate
from ._port import ConnectionSettings, Platform
from ._scheduler import WeeklySync
from ._secrets import Sealer
from ._status import ConnectionState
from ._store import Store
from ._sync_state import Lease, SyncState
from ._time import Clock, utcnow
from ._webhooks import Deliverer
from ._worker import LONG_WAIT, ConnectionWorker, WorkerSettings

log = logging.getLogger("syncdesk.engine")


@dataclass
class EngineSettings:
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    poll_interval: float = 0.25
    heartbeat_interval: float = 5.0
    lease_timeout: float = 30.0
    stop_grace: float = 5.0
    """On stop, how long the round in progress may take to finish before it is cut short."""
    schedule: str = "0 6 * * 0"
    """Cron expression (UTC) of the weekly full sync: Sunday 06:00 by default."""
    weekly_audit: bool = False
    """Run the drift audit (`_audit`) on the weekly schedule, after the link check."""
    timeout: float = 30.0
    """Per-request timeout handed to providers."""
    feed: FeedSettings = field(default_factory=FeedSettings)
    """The change feed each worker reads beside its pushes (`_feed`): while the engine runs,
    not in an `until_idle` run, which only sends what is due."""


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
        self.state = SyncState(store)
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
        self.deliverer = Deliverer(store, sealer, clock=clock)
        """Webhooks out to the business's app, sent beside the workers while the engine runs."""
        self._feeding = False

    async def run(self, stop: asyncio.Event | None = None, *,
                  until_idle: bool = False) -> EngineReport:
        stop = stop or asyncio.Event()
        self._feeding = not until_idle
        await self._take_lease()
        webhooks = asyncio.create_task(self.deliverer.run(stop, self.settings.poll_interval),
                                       name="webhooks")
        try:
            self.report.recovered = await self.state.recover_in_flight(self.clock())
            loop = asyncio.get_running_loop()
            beat = loop.time()
            while not stop.is_set():
                await self._supervise(stop)
                if loop.time() - beat >= self.settings.heartbeat_interval:
                    await self.state.heartbeat(self._owner, self.clock())
                    beat = loop.time()
                if until_idle:
                    if await self._idle():
                        break
                elif await self.weekly.run_if_due():
                    for worker in list(self._workers.values()):
                        chore = asyncio.create_task(self._weekly(worker))
                        self._chores.add(chore)
                        chore.add_done_callback(self._chores.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll_interval)
        finally:
            stop.set()
            await self._stop_workers()
            # A try cut short stays pending and goes again: delivery is at least once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(webhooks, self.settings.stop_grace)
            await self.state.release_lease(self._owner, self.clock())
        return self.report

    # -- workers ------------------------------------------------------------------------

    async def _supervise(self, stop: asyncio.Event) -> None:
        for connection in await live_connections(self.store):
            task = self._tasks.get(connection.id)
            if connection.state != ConnectionState.ACTIVE or (
                    task is not None and not task.done()):
                continue
            if task is not None and not task.cancelled() and task.exception() is not None:
                # A store or programming error in one worker: say so and start it afresh,
                # rather than stop every other connection with it.
                log.error("worker for %s connection %s stopped: %r; restarting it",
                          connection.platform, connection.id, task.exception())
                await self._settle(connection.id)
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
        gate = RateGate(platform.capabilities.limits, throttle=self.settings.worker.throttle,
                        clock=self.clock, longest_wait=LONG_WAIT)

        def adjust(row: ConnectionRow, settings: ConnectionSettings) -> ConnectionSettings:
            settings = replace(settings, timeout=self.settings.timeout, budget=gate)
            return self.settings_hook(row, settings) if self.settings_hook else settings

        provider = await open_provider(self.store, connection, platform, self.sealer,
                                       clock=self.clock, adjust=adjust)
        worker = ConnectionWorker(
            state=self.state, connection_id=connection.id, platform=platform.name,
            title=platform.title, provider=provider,
            capabilities=platform.capabilities, clock=self.clock, gate=gate,
            settings=self.settings.worker, business_id=connection.business_id,
        )
        self._workers[connection.id] = worker
        return worker

    async def _drive(self, worker: ConnectionWorker, stop: asyncio.Event) -> None:
        if not self.settings.feed.push_payments_to_other_platforms:
            # A connection added or reconnected since a platform's payment came in has it
            # queued: held back before the worker's first claim.
            await hold_imported(self.store, worker.connection_id, self.clock())
        # The feed lives as long as its worker: a paused, reconnecting or stopped connection
        # reads nothing either, and a restarted worker brings its feed back with it.
        ended = asyncio.Event()
        feed = asyncio.create_task(self._feed(worker).run(ended),
                                   name=f"feed:{worker.platform}:{worker.connection_id}") \
            if self._feeding else None
        try:
            await worker.run(stop, self.settings.poll_interval)
        except BaseException:
            if feed is not None:
                feed.cancel()
            raise
        finally:
            ended.set()
            if feed is not None:
                await asyncio.gather(feed, return_exceptions=True)
        self._tally()

    def _feed(self, worker: ConnectionWorker) -> FeedRunner:
        return FeedRunner(self.store, worker.connection_id, worker.platform, worker.title,
                          worker.provider, worker.capabilities.entities, self.settings.feed,
                          self.clock, poll=self.settings.poll_interval)

    async def _weekly(self, worker: ConnectionWorker) -> None:
        """The weekly full sync's platform side: pull the directory, read every link back,
        and audit the synced records' platform state where `weekly_audit` says so."""
        try:
            await pull_directory(self.store, worker.connection_id, worker.platform,
                                 worker.provider, self.clock)
            await check_links(self.store, worker.connection_id, worker.provider, worker.title,
                              self.clock)
            if self.settings.weekly_audit:
                # After the check: a link it just found broken is no longer synced, so the
                # audit does not report that object missing a second time.
                await run_audit(self.store, worker.connection_id, worker.provider,
                                worker.title, self.clock)
        except SyncError as error:
            await self.state.notify_connection(
                worker.connection_id, "weekly", f"{worker.title}: weekly check did not finish",
                error.message, self.clock())

    def _tally(self) -> None:
        """The report's totals, summed over every worker this engine ran."""
        stats = [w.stats for w in self._workers.values()]
        self.report.pushed = sum(s.pushed for s in stats)
        self.report.failed = sum(s.failed for s in stats)
        self.report.requests = sum(s.requests for s in stats)
        self.report.rate_limited = sum(s.rate_limited for s in stats)

    async def _stop_workers(self) -> None:
        tasks = list(self._tasks.values())
        if tasks:
            # The stop event is set: each worker ends after the round it is in.
            _, late = await asyncio.wait(tasks, timeout=self.settings.stop_grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for chore in self._chores:
            chore.cancel()
        await asyncio.gather(*self._chores, return_exceptions=True)
        for connection_id in list(self._workers):
            await self._settle(connection_id)
        for worker in self._workers.values():
            await worker.provider.aclose()
        self._tally()
        self._tasks.clear()
        self._workers.clear()

    async def _settle(self, connection_id: int) -> None:
        worker = self._workers.get(connection_id)
        if worker is not None:
            await worker.settle()

    async def _idle(self) -> bool:
        """Nothing due on any active connection, and no worker mid-flight.

        A connection parked for a short while (a Retry-After) is waited for; one parked
        for long (a spent daily quota) is not.
        """
        horizon = self.clock() + timedelta(seconds=LONG_WAIT)
        return await self.state.due_count(horizon) == 0 and not self._chores

    # -- the lease ----------------------------------------------------------------------

    async def _take_lease(self) -> None:
        now = self.clock()

        def alive(lease: Lease) -> bool:
            fresh = now - lease.heartbeat_at < timedelta(seconds=self.settings.lease_timeout)
            same_host = lease.owner.split(":")[0] == socket.gethostname()
            return fresh and (not same_host or _process_alive(lease.pid))

        held = await self.state.take_lease(self._owner, os.getpid(), now, alive=alive)
        if held is not None:
            raise StoreError(
                f"another engine is running on {self.store.location} (pid {held.pid}); "
                "stop it first, or point this one at another store with --db"
            )


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
