"""The sync engine: one worker per connection it holds the lease of, a weekly schedule.

Several engines (processes, hosts) may share one store, SQLite's file included. Each
connection is driven by the one engine holding its lease, so its rate budget lives in one
place. `SyncEngine.run()` joins the store's engines and, on every heartbeat, renews its
leases and takes free or expired ones up to its fair share (live connections over live
engines, rounded up): one engine takes them all, a second gets half as the first sheds the
rest — each shed worker stopped and settled before its lease is freed. A connection taken
from a dead engine (SIGKILL: its leases expire after `lease_timeout`, or on the next
heartbeat of an engine on its host, which sees its process gone) has its own in-flight jobs
marked `uncertain`, nobody else's. An engine that cannot renew stops its workers after
half the lease timeout, so a lease expires strictly after its holder stopped sending
(engine clocks are taken to agree to well within that half).

Running, it idles on a short poll, so work queued by another process (an import, a console
retry, a new mapping) goes out within `poll_interval`; with `until_idle` it stops once
nothing is due. Stopping, it lets the round in progress finish for up to `stop_grace`
seconds, then settles whatever was cut short — back to pending if nothing left, uncertain if
a request was on its way — and frees its leases.
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
from datetime import datetime, timedelta

from ._audit import run_audit
from ._connections import ConnectionRow, SettingsHook, live_connections, open_provider
from ._directory import check_links, pull_directory
from ._errors import SyncError
from ._feed import FeedRunner, FeedSettings
from ._inbound import hold_imported
from ._limiter import RateGate
from ._port import ConnectionSettings, Platform
from ._scheduler import WeeklySync
from ._secrets import Sealer
from ._status import ConnectionState
from ._store import Store
from ._sync_state import Leases, Look, Seat, SyncState
from ._time import Clock, utcnow
from ._webhooks import Deliverer
from ._worker import LONG_WAIT, ConnectionWorker, WorkerSettings, WorkerStats

log = logging.getLogger("syncdesk.engine")


@dataclass
class EngineSettings:
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    poll_interval: float = 0.25
    heartbeat_interval: float = 5.0
    """How often the engine renews its leases (and takes or sheds its share)."""
    catch_up_interval: float = 0.5
    """How often it beats instead while under its share and another engine over its own
    (`Leases.behind`): leases that one hands back are taken within this, not a heartbeat
    later, so a newcomer is busy seconds after it joins."""
    lease_timeout: float = 30.0
    """A lease not renewed for this long is free; its holder stopped sending at half of it.
    More than twice `heartbeat_interval`."""
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
        host = socket.gethostname()
        self.seat = Seat(f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}", host, os.getpid())
        self.held: frozenset[int] = frozenset()
        """Connections whose lease this engine holds."""
        self._leasing = asyncio.Lock()
        """Held across a renewal and a hand-back's release, so `held` follows the store."""
        self._renewed = 0.0
        """`loop.time()` when the last renewal that went through began."""
        self._behind = False
        """The last renewal found this engine under its share and another over its own."""
        self._shedding: set[int] = set()
        self._stops: dict[int, asyncio.Event] = {}
        self._retired: list[WorkerStats] = []
        """Stats of the workers handed back or halted, for the report."""
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._workers: dict[int, ConnectionWorker] = {}
        self._feeds: dict[int, FeedRunner] = {}
        """The feed running beside each worker, woken when a webhook marks it due."""
        self._chores: set[asyncio.Task[None]] = set()
        self.deliverer = Deliverer(store, sealer, clock=clock)
        """Webhooks out to the business's app, sent beside the workers while the engine runs."""
        self._feeding = False

    async def run(self, stop: asyncio.Event | None = None, *,
                  until_idle: bool = False) -> EngineReport:
        stop = stop or asyncio.Event()
        self._feeding = not until_idle
        await self._join()
        webhooks = asyncio.create_task(self.deliverer.run(stop, self.settings.poll_interval),
                                       name="webhooks")
        # The leases are kept until the workers have stopped: a stop's grace is still theirs.
        kept = asyncio.Event()
        keeper = asyncio.create_task(self._keep_leases(kept), name="leases")
        try:
            while not stop.is_set():
                await self._supervise()
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
            kept.set()
            await asyncio.gather(keeper, return_exceptions=True)
            # A try cut short stays pending and goes again: delivery is at least once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(webhooks, self.settings.stop_grace)
            now = self.clock()
            await self.state.leave(self.seat, now, self._stale_before(now))
            self.held = frozenset()
        return self.report

    # -- workers ------------------------------------------------------------------------

    async def _supervise(self) -> None:
        """One look at every connection this engine holds: each worker is told its own, and
        a worker is started where an active connection has none running."""
        looks = await self.state.looks(self.seat, self.clock())
        for connection_id, look in looks.items():
            worker = self._workers.get(connection_id)
            if worker is None:
                continue
            marked = look.feed_marked and not worker.look.feed_marked
            worker.observe(look)
            if marked and (feed := self._feeds.get(connection_id)) is not None:
                feed.wake.set()
        starting = {cid for cid, look in looks.items()
                    if look.state == ConnectionState.ACTIVE and look.platform in self.platforms
                    and self._mine(cid) and ((task := self._tasks.get(cid)) is None
                                             or task.done())}
        if not starting:
            return
        rows = [row for row in await live_connections(self.store) if row.id in starting]
        for connection in rows:
            task = self._tasks.get(connection.id)
            if task is not None and not task.cancelled() and task.exception() is not None:
                # A store or programming error in one worker: say so and start it afresh,
                # rather than stop every other connection with it.
                log.error("worker for %s connection %s stopped: %r; restarting it",
                          connection.platform, connection.id, task.exception())
                await self._settle(connection.id)
        # One transaction each for all the workers starting (1,000 as an engine starts).
        ids = [row.id for row in rows]
        self.report.recovered += await self.state.recover_in_flight(self.clock(), *ids)
        if not self.settings.feed.push_payments_to_other_platforms:
            # A connection added or reconnected since a platform's payment came in has it
            # queued: held back before the worker's first claim.
            await hold_imported(self.store, self.clock(), *ids)
        for connection in rows:
            worker = await self._worker(connection, self.platforms[connection.platform],
                                        looks[connection.id])
            if not self._mine(connection.id):  # handed back while the provider opened
                await self._forget(connection.id)
                continue
            self._stops[connection.id] = asyncio.Event()
            self._tasks[connection.id] = asyncio.create_task(
                self._drive(worker, self._stops[connection.id]),
                name=f"sync:{connection.platform}:{connection.id}")

    def _mine(self, connection_id: int) -> bool:
        """This engine holds the connection's lease and is not handing it back."""
        return connection_id in self.held and connection_id not in self._shedding

    async def _worker(self, connection: ConnectionRow, platform: Platform,
                      look: Look) -> ConnectionWorker:
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
            settings=self.settings.worker, business_id=connection.business_id, look=look,
        )
        self._workers[connection.id] = worker
        return worker

    async def _drive(self, worker: ConnectionWorker, stop: asyncio.Event) -> None:
        # The feed lives as long as its worker: a paused, reconnecting or stopped connection
        # reads nothing either, and a restarted worker brings its feed back with it.
        ended = asyncio.Event()
        feed = None
        if self._feeding:
            runner = self._feeds[worker.connection_id] = self._feed(worker)
            feed = asyncio.create_task(runner.run(ended),
                                       name=f"feed:{worker.platform}:{worker.connection_id}")
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
                self._feeds.pop(worker.connection_id, None)
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
        stats = [*self._retired, *(w.stats for w in self._workers.values())]
        self.report.pushed = sum(s.pushed for s in stats)
        self.report.failed = sum(s.failed for s in stats)
        self.report.requests = sum(s.requests for s in stats)
        self.report.rate_limited = sum(s.rate_limited for s in stats)

    async def _stop_workers(self) -> None:
        for ended in self._stops.values():
            ended.set()
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
        self._stops.clear()

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

    # -- the leases ---------------------------------------------------------------------

    def _stale_before(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.settings.lease_timeout)

    async def _join(self) -> None:
        await self.state.join(self.seat, self.clock())
        await self._beat()

    async def _keep_leases(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        fence = self.settings.lease_timeout / 2
        while not stop.is_set():
            wait = self.settings.heartbeat_interval
            if self._behind:
                wait = min(wait, self.settings.catch_up_interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return
            # Past the fence nothing runs, and a renewal may take its time.
            left = fence - (loop.time() - self._renewed)
            try:
                await asyncio.wait_for(self._beat(),
                                       left if left > 0 else self.settings.lease_timeout)
            except Exception as error:  # any failure to renew counts the same
                if loop.time() - self._renewed >= fence:
                    log.error("leases not renewed for %.0f s (%r): stopping every worker "
                              "before they expire", loop.time() - self._renewed, error)
                    self.held = frozenset()
                    await self._halt(set(self._tasks))
                else:
                    log.warning("leases not renewed: %r; trying again", error)

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._leasing:
            started, now = loop.time(), self.clock()
            leases = await self.state.keep_leases(self.seat, now, self._stale_before(now),
                                                  gone=lambda pid: not _process_alive(pid))
            self._renewed = started
            self.held, self._behind = leases.held, leases.behind
        if leases.taken:
            log.info("took the leases of connections %s", sorted(leases.taken))
        # A lease another engine took (this one went too long without renewing), or one a
        # worker started beside a hand-back: that worker stops at once.
        await self._halt({cid for cid in self._tasks if cid not in leases.held})
        self._shed(self._over_share(leases))

    def _over_share(self, leases: Leases) -> list[int]:
        """Connections to hand back, over the fair share: idle ones first, then the last."""
        kept = [cid for cid in leases.held if cid not in self._shedding]
        excess = len(kept) - leases.share
        if excess <= 0:
            return []
        running = {cid for cid, task in self._tasks.items() if not task.done()}
        return sorted(kept, key=lambda cid: (cid in running, cid))[-excess:]

    def _shed(self, connection_ids: list[int]) -> None:
        for connection_id in connection_ids:
            self._shedding.add(connection_id)
            chore = asyncio.create_task(self._hand_back(connection_id),
                                        name=f"shed:{connection_id}")
            self._chores.add(chore)
            chore.add_done_callback(self._chores.discard)

    async def _hand_back(self, connection_id: int) -> None:
        """Stop this connection's worker as a stop would, then free its lease: no other
        engine can take it while the worker still sends."""
        try:
            if (ended := self._stops.get(connection_id)) is not None:
                ended.set()
            task = self._tasks.get(connection_id)
            if task is not None:
                _, late = await asyncio.wait({task}, timeout=self.settings.stop_grace)
                for cut in late:
                    cut.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            await self._forget(connection_id)
            async with self._leasing:
                await self.state.drop_leases(self.seat, [connection_id])
                self.held -= {connection_id}
        finally:
            self._shedding.discard(connection_id)

    async def _halt(self, connection_ids: set[int]) -> None:
        """Stop these workers now, mid-round: nothing more leaves for their connections."""
        tasks = [task for cid in connection_ids if (task := self._tasks.get(cid)) is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for connection_id in connection_ids:
            with contextlib.suppress(Exception):  # a store that is down: the taker recovers
                await self._forget(connection_id)

    async def _forget(self, connection_id: int) -> None:
        """A stopped worker's jobs settled and its provider closed."""
        self._tasks.pop(connection_id, None)
        self._stops.pop(connection_id, None)
        await self._settle(connection_id)
        worker = self._workers.pop(connection_id, None)
        if worker is not None:
            self._retired.append(worker.stats)
            await worker.provider.aclose()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
