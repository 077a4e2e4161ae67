"""One connection's worker: claims due jobs, pushes them through the provider, records outcomes.

Order of work: uncertain jobs first, then pending jobs by dependency stage. A job in doubt (a
create that may have landed) or asked to re-link is looked up on the platform by syncdesk's
mark before anything is sent; only when the lookup answers "not there" does the write go out,
under the key it was first sent with. A job whose parent is not on the platform yet waits
(pending) or, if the parent failed, is blocked by it. Creates of one entity go in batches where
the platform has batch writes.

What happens after a failed attempt is `decide()`'s (the error table of DESIGN.md); every
change of state goes through `SyncState`. The worker holds no SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from ._businesses import DEFAULT_BUSINESS
from ._errors import (
    AuthExpired,
    AuthRevoked,
    NotFound,
    RateLimited,
    Stale,
    SyncError,
    Transient,
    Unsupported,
)
from ._ledger import Ledger
from ._limiter import SENDING, RateGate
from ._mappings import read_mappings
from ._models import (
    CreditNote,
    Customer,
    Entity,
    EntryStatus,
    Invoice,
    InvoiceStatus,
    Item,
    Payment,
)
from ._policy import Decision, JobFacts, RetryPolicy, decide
from ._port import (
    Capabilities,
    ConnectionMappings,
    Operation,
    Provider,
    PushRequest,
    Quota,
    Record,
    RemoteRef,
)
from ._status import ConnectionState, JobStatus
from ._sync_state import Attempt, ClaimedJob, Look, SyncState
from ._time import Clock

T = TypeVar("T")

LONG_WAIT = 300.0
"""A wait longer than this (seconds) parks the connection instead of holding the gate."""
_IDLE_WAIT = 5.0
"""An idle worker's longest sleep without a look from its engine (it reads nothing then)."""

_WAITING_PARENT = (JobStatus.PENDING, JobStatus.IN_FLIGHT, JobStatus.UNCERTAIN,
                   JobStatus.SYNCED)


@dataclass
class WorkerSettings:
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    dependency_wait: float = 2.0
    """How long a job waits for a parent that is still on its way, at most: it is due again
    as soon as the parent syncs."""
    throttle: bool = True
    """Respect the platform's published limits (tests against unlimited sandboxes turn it off)."""
    seed: int | None = None

    @property
    def policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, backoff_base=self.backoff_base,
                           backoff_cap=self.backoff_cap, long_wait=LONG_WAIT)


@dataclass
class _Prepared:
    job: ClaimedJob
    request: PushRequest
    looked: bool = False
    """This attempt asked the platform for our object and heard "not there": whatever was
    in doubt before is settled, and only this attempt's own send can be in doubt now."""


@dataclass
class WorkerStats:
    pushed: int = 0
    failed: int = 0
    requests: int = 0
    rate_limited: int = 0


@dataclass
class ConnectionWorker:
    state: SyncState
    connection_id: int
    platform: str
    title: str
    provider: Provider
    capabilities: Capabilities
    clock: Clock
    gate: RateGate
    """The connection's request budget, shared with the provider's HTTP client."""
    settings: WorkerSettings = field(default_factory=WorkerSettings)
    stats: WorkerStats = field(default_factory=WorkerStats)
    business_id: int = DEFAULT_BUSINESS
    """Whose ledger the connection's records are read from."""
    look: Look = field(default_factory=lambda: Look("", ConnectionState.ACTIVE, None,
                                                    False, False))
    """The connection as the engine last saw it (`observe`)."""

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.state.store, self.clock, business=self.business_id)
        self.policy = self.settings.policy
        self.rng = random.Random(self.settings.seed)
        self.stopped_reason: str | None = None
        self._last_quota_write = 0.0
        self._pending_quota: Quota | None = None
        self._claimed: dict[int, ClaimedJob] = {}
        """Jobs claimed and not yet settled in the store."""
        self._sent: set[int] = set()
        """Of those, the ones a request has left for (a stop makes them uncertain)."""
        self._drained = True
        """The last claim found fewer due jobs than it asked for."""
        self._creates: dict[Entity, deque[_Prepared]] = {}
        """Creates that may go in batches, by entity, for `_run_creates` to send."""
        self._turn = asyncio.Lock()
        """Held by the unit of creates deciding its next request, until that request leaves
        the gate: units woken by the same free turn would otherwise all decide on one look
        at the batch window."""
        self._parked_here = False
        """This worker just parked the connection: look at its state again at once."""
        self._batch_window = (bool(self.capabilities.batched)
                              and self.capabilities.limits.batch_per_minute is not None)
        """Batch requests have a window of their own (QuickBooks' 40 a minute): whether one
        less than full is worth its room depends on the work still to come."""
        self._pending = 0
        """The connection's jobs still to claim, as of the last round (`_full_batches`)."""
        self._wake = asyncio.Event()
        """Set by `observe` when an idle worker has something to do."""
        self._due: bool | None = self.look.due
        """Whether a claim would find a job: True the engine's look says so, False a claim
        came back short since (or the first look said nothing was due), None a unit finished
        since (a read tells)."""

    # -- the loop -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, poll: float) -> None:
        """Keep the connection's slots busy until `stop`: as soon as a unit of work finishes,
        the next due jobs are claimed (a pipeline: no round waits for its slowest request).

        The connection's state (paused, disconnected, parked by another process) and whether
        anything is due come from the engine's look (`observe`), once per `poll` for all its
        connections: an idle worker waits for it and reads nothing itself. Returns when
        stopped, when the connection is no longer active, or when it needs reconnecting —
        after the units still running have finished."""
        running: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set() and not self.stopped_reason:
                self._wake.clear()
                if self._parked_here:
                    self._parked_here = False
                    await self._look_again()
                if self.look.state != ConnectionState.ACTIVE:
                    break
                parked = self.look.parked_until
                if parked is not None and parked <= self.clock():
                    parked = None
                started = 0 if parked is not None else await self._start(running)
                if running:
                    done, _ = await asyncio.wait(running, timeout=poll,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    running -= done
                    await self._collect(done)
                    if done and self._due is False:
                        self._due = None  # what just synced may have freed its dependants
                elif not started:
                    await self.flush_quota()
                    wait = _IDLE_WAIT if parked is None else min(
                        max((parked - self.clock()).total_seconds(), poll), _IDLE_WAIT)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._woken(stop), wait)
        except asyncio.CancelledError:
            # Cut short (a stop's grace ran out, a lease lost): no unit may go on sending
            # after its worker; what they had sent is settled as uncertain.
            for unit in running:
                unit.cancel()
            raise
        finally:
            if running:
                done, _ = await asyncio.wait(running)
                await self._collect({unit for unit in done if not unit.cancelled()})
            await self.flush_quota()

    def observe(self, look: Look) -> None:
        """The engine's look at this connection: wakes the worker when a job is due or the
        connection's state or wait changed."""
        before, self.look = self.look, look
        if look.due:
            self._due = True
        if look.due or (look.state, look.parked_until) != (before.state, before.parked_until):
            self._wake.set()

    async def _woken(self, stop: asyncio.Event) -> None:
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _look_again(self) -> None:
        """This worker just parked the connection: its own read, not a poll's wait."""
        state = await self.state.connection_state(self.connection_id)
        self.look = replace(self.look, state=state or ConnectionState.DISCONNECTED,
                             parked_until=await self.state.parked_until(self.connection_id))

    @property
    def capacity(self) -> int:
        """Units of work in progress at once: a few more than the platform's concurrency, so
        one unit's store writes never leave a slot idle."""
        return max(self.capabilities.limits.concurrency, 1) * 2

    async def _start(self, running: set[asyncio.Task[None]]) -> int:
        free = self.capacity - len(running)
        if free <= 0:
            return 0
        # A claim is a write: after one that came back short, claim again only once the
        # engine's look says something is due, or a read says so after a unit finished.
        if self._drained and self._due is None:
            self._due = await self.state.has_due(self.connection_id, self.clock())
        if self._drained and not self._due:
            return 0
        per_unit = self.capabilities.limits.batch_size if self.capabilities.batched else 1
        wanted = free * max(per_unit, 1)
        claimed = await self.state.claim(self.connection_id, wanted, self.clock())
        self._drained = len(claimed) < wanted
        self._due = None if not self._drained else False
        self._claimed.update((job.id, job) for job in claimed)
        units = await self._prepare(claimed)
        if self._batch_window:
            # Read after the round's waits are held again: they are pending work too.
            self._pending = await self.state.pending_count(self.connection_id)
            self._expect_batches()
        for unit in units:
            running.add(asyncio.create_task(
                self._run_creates(unit) if isinstance(unit, Entity) else self._run_single(unit)))
        return len(claimed)

    async def _collect(self, done: set[asyncio.Task[None]]) -> None:
        for task in done:
            error = task.exception()
            if isinstance(error, (AuthRevoked, AuthExpired)):
                if not self.stopped_reason:
                    await self._needs_reconnect(error)
            elif error is not None:
                raise error

    async def settle(self) -> None:
        """After a stop cut the work short: put back what never left, and mark what was on
        its way uncertain (in doubt if it was a create)."""
        if not self._claimed:
            return
        sent = [job for job in self._claimed.values() if job.id in self._sent]
        unsent = [job for job in self._claimed.values() if job.id not in self._sent]
        self._claimed, self._sent = {}, set()
        await self.state.settle(sent, unsent, self.clock())

    # -- preparing requests -------------------------------------------------------------

    async def _prepare(self, claimed: Sequence[ClaimedJob]) -> list[_Prepared | Entity]:
        """The round's units: a request of its own, or a sender of an entity's creates (one
        for each batch they would fill)."""
        # The round's ledger records, its lines' items and every link it needs: one read each.
        by_entity: dict[Entity, list[str]] = {}
        for job in claimed:
            by_entity.setdefault(job.entity, []).append(job.record_id)
        ledger = {entity: await self.ledger.get_many(entity, ids)
                  for entity, ids in by_entity.items()}
        records: dict[int, Record] = {}
        for job in claimed:
            record = ledger[job.entity].get(job.record_id)
            if record is None:
                await self._skip(job, Unsupported(f"{job.describe()} no longer exists in the "
                                                    "ledger"), None)
            elif (isinstance(record, Customer) and record.parent_id is not None
                  and not self.capabilities.sub_customers):
                await self._skip(job, Unsupported(
                    f"{self.title} has no sub-customers: {job.describe()} names "
                    f"{record.parent_id} as its parent. Clear parent_id to sync it as a "
                    "customer of its own"), None, sendable=False)
            elif not self.capabilities.supports(job.entity):
                reason = self.capabilities.unsupported.get(
                    job.entity, f"{job.entity.label}s are not supported by {self.title}")
                await self._skip(job, Unsupported(reason), None, sendable=False)
            else:
                records[job.id] = record
        wanted = [(job.entity, job.record_id) for job in claimed if job.id in records]
        wanted += [parent for record in records.values() for parent in _parents(record)]
        links = await self.state.links(self.connection_id, wanted)
        item_ids = [line.item_id for record in records.values()
                    if isinstance(record, (Invoice, CreditNote))
                    for line in record.lines if line.item_id]
        items = {item_id: item for item_id, item in
                 (await self.ledger.get_many(Entity.ITEM, item_ids)).items()
                 if isinstance(item, Item)}
        # Read after the claim: a mapping is set in the transaction that re-queues what it
        # unblocks, so a job claimed since is always prepared with it.
        mappings = await read_mappings(self.state.store, self.connection_id) if records \
            else ConnectionMappings()

        singles: list[_Prepared | Entity] = []
        creates: dict[Entity, list[_Prepared]] = {}
        waits: list[tuple[ClaimedJob, tuple[Entity, str]]] = []
        for job in claimed:
            record = records.get(job.id)
            if record is None:
                continue
            prepared = await self._prepare_one(job, record, links, items, mappings, waits)
            if prepared is None:
                continue
            batchable = (prepared.request.operation is Operation.CREATE
                         and not job.reconcile and job.entity in self.capabilities.batched
                         and self.capabilities.limits.batch_size > 1)
            if batchable:
                creates.setdefault(job.entity, []).append(prepared)
            else:
                singles.append(prepared)
        await self._wait_or_block(waits)
        size = self.capabilities.limits.batch_size
        # Smaller groups first: a document waits for all of its parents, so the few items
        # every line names must not queue behind the last of many customers' batches.
        for entity, group in sorted(creates.items(), key=lambda pair: len(pair[1])):
            if len(group) == 1:
                singles.append(group[0])  # a plain push: none of the batch window's room
            else:
                self._creates.setdefault(entity, deque()).extend(group)
                singles.extend([entity] * -(-len(group) // size))
        return singles

    async def _prepare_one(self, job: ClaimedJob, record: Record,
                           links: dict[tuple[Entity, str], RemoteRef],
                           items: dict[str, Item], mappings: ConnectionMappings,
                           waits: list[tuple[ClaimedJob, tuple[Entity, str]]]
                           ) -> _Prepared | None:
        """The request for one job, or None when it needs none now: done without one, or
        waiting for a parent (added to `waits`)."""
        now = self.clock()
        refs: dict[tuple[Entity, str], RemoteRef] = {}
        for parent in _parents(record):
            ref = links.get(parent)
            if ref is None:
                waits.append((job, parent))
                return None
            refs[parent] = ref
        link = None if job.lookup_first else links.get((job.entity, job.record_id))
        operation = Operation.UPDATE if link else Operation.CREATE
        ending = _ending(record)
        if ending is not None:
            if link is None and not job.reconcile:
                self._claimed.pop(job.id, None)
                done = "voided" if ending is Operation.VOID else "deleted"
                await self.state.nothing_to_send(
                    job, ending.value, f"{done} before it reached {self.title}: nothing to "
                    f"{ending.value} there", now)
                return None
            if isinstance(record, Invoice):
                # Payments and credit notes taken off it (void --unapply) reach the platform
                # first: it refuses to void an invoice with payments applied.
                unapplying = await self.state.entry_on_its_way(
                    self.connection_id, record.customer_id)
                if unapplying is not None:
                    waits.append((job, unapplying))
                    return None
            # In doubt and unlinked: the lookup for ours (in `_send`) finds what to end.
            operation = ending
        used: dict[str, Item] = {}
        if isinstance(record, (Invoice, CreditNote)):
            used = {line.item_id: items[line.item_id] for line in record.lines
                    if line.item_id in items}
        return _Prepared(job, PushRequest(job.entity, operation, record, job.key, link, refs,
                                          used, mappings))

    async def _wait_or_block(self, waits: Sequence[tuple[ClaimedJob, tuple[Entity, str]]]
                             ) -> None:
        """Jobs whose parent is not on the platform: each waits for a parent on its way, or
        is blocked by one that is not coming. One read and one write for them all."""
        if not waits:
            return
        found = await self.state.job_statuses(self.connection_id,
                                              (parent for _, parent in waits))
        waiting, blocked = [], []
        for job, parent in waits:
            status, label = found.get(parent, (None, parent[1]))
            if status in _WAITING_PARENT:
                waiting.append((job, parent))
            else:
                blocked.append((job, parent, label))
        now = self.clock()
        await self.state.hold(waiting, blocked, now,
                              retry_at=now + timedelta(seconds=self.settings.dependency_wait))
        # Forgotten only once held: a stop before that puts them back as they were (`settle`).
        for job, _ in waits:
            self._claimed.pop(job.id, None)

    # -- sending ------------------------------------------------------------------------

    async def _run_creates(self, entity: Entity) -> None:
        """Send this entity's waiting creates until none are left. Each request is decided
        when the general budget gives it its turn: a full batch if the batch window has room
        then, else the next create alone. Decided when the round was made, a batch could
        find the window spent by then and wait a minute, or singles hold the budget's turns
        while the window reopens."""
        waiting = self._creates[entity]
        while waiting:
            await self._turn.acquire()
            held = True

            def release() -> None:
                nonlocal held
                if held:
                    held = False
                    self._turn.release()

            started, t0 = self.clock(), time.monotonic()
            try:
                try:
                    room = await self.gate.next_turn() if len(waiting) > 1 else 0
                    # Counted after the wait: creates of rounds made meanwhile join them.
                    batch = len(waiting) > 1 and self._worth_a_batch(len(waiting), room)
                except SyncError as error:
                    while waiting:
                        prepared = waiting.popleft()
                        await self._failed(prepared, error, self._attempt(prepared, started, t0))
                    return
                take = min(len(waiting), self.capabilities.limits.batch_size if batch else 1)
                part = [waiting.popleft() for _ in range(take)]
                self._expect_batches()
                if batch:
                    await self._run_batch(part, release, self.gate.promise_batch())
                elif part:
                    await self._run_single(part[0], release)
            finally:
                release()

    def _worth_a_batch(self, creates: int, room: int | None) -> bool:
        """Whether `creates` (two or more) go in one batch request, the batch window having
        `room` (None: no window of its own). A full batch whenever there is room; one less
        than full only in room beyond the full batches the connection's waiting work will
        fill: a batch of a few in the window's last room leaves a full batch's creates to go
        one request each, where the few alone cost a request each (QuickBooks' drain of the
        demo: six batches of 1-24 creates, then 131 payments alone)."""
        if room is None:
            return True
        if room == 0:
            return False
        return creates >= self.capabilities.limits.batch_size or room > self._full_batches()

    def _full_batches(self) -> int:
        """Full batches the creates waiting here and the jobs still pending would fill (the
        pending counted whatever they are: a few too many only sends a remainder alone)."""
        waiting = sum(len(creates) for creates in self._creates.values())
        return (waiting + self._pending) // max(self.capabilities.limits.batch_size, 1)

    def _expect_batches(self) -> None:
        self.gate.expect_batches(self._full_batches())

    async def _run_single(self, prepared: _Prepared,
                          on_leave: Callable[[], None] | None = None) -> None:
        started, t0 = self.clock(), time.monotonic()
        try:
            ref, outcome = await self._send(prepared, on_leave)
        except SyncError as error:
            await self._failed(prepared, error, self._attempt(prepared, started, t0))
            return
        except Exception as exc:
            await self._failed(prepared, _internal(exc), self._attempt(prepared, started, t0))
            return
        await self._succeeded([(prepared, ref, self._attempt(prepared, started, t0))], outcome)

    async def _run_batch(self, unit: list[_Prepared], on_leave: Callable[[], None],
                         left: Callable[[], None]) -> None:
        """A batch promised its room of the batch window: `left` gives it back as the batch
        leaves the gate."""
        started, t0 = self.clock(), time.monotonic()
        try:
            results = await self._call(lambda: self.provider.push_batch(
                [p.request for p in unit]), unit, on_batch=left, on_leave=on_leave)
        except Exception as exc:
            error = exc if isinstance(exc, SyncError) else _internal(exc)
            for prepared in unit:
                await self._failed(prepared, error, self._attempt(prepared, started, t0))
            return
        finally:
            # Also when no batch request left (an error, or every item refused before it):
            # the room this unit took in the batch window is free again.
            left()
        synced = []
        for prepared, result in zip(unit, results, strict=True):
            attempt = self._attempt(prepared, started, t0)
            if isinstance(result, SyncError):
                await self._failed(prepared, result, attempt)
            else:
                synced.append((prepared, result, attempt))
        await self._succeeded(synced, "synced")

    async def _send(self, prepared: _Prepared, on_leave: Callable[[], None] | None = None
                    ) -> tuple[RemoteRef, str]:
        job, request = prepared.job, prepared.request
        if job.reconcile:
            found = await self._look_for_ours(prepared)
            if found is None:
                prepared.looked = True
            else:
                if job.in_doubt and not job.lookup_first and job.doubt_version == job.version:
                    return found, "reconciled"
                # Ours, but an older version (or a re-link): bring it up to this one.
                request = _with_link(request, found)
        try:
            return await self._call(lambda: self.provider.push(request), [prepared],
                                    on_leave=on_leave), "synced"
        except Stale:
            if request.link is None:
                raise
            remote_id = request.link.remote_id
            fresh = await self._call(lambda: self.provider.fetch(job.entity, remote_id),
                                     [prepared])
            if fresh is None:
                raise NotFound(f"{job.describe()} was deleted on {self.title}") from None
            retried = _with_link(request, fresh)
            return await self._call(lambda: self.provider.push(retried), [prepared]), "synced"

    async def _look_for_ours(self, prepared: _Prepared) -> RemoteRef | None:
        """syncdesk's own object for this record on the platform, found by its mark.

        A lookup that fails proves nothing either way: it is transient, and keeps the record
        in doubt (never "not ours")."""
        job = prepared.job
        try:
            return await self._call(
                lambda: self.provider.find(job.entity, prepared.request.record), [prepared])
        except (RateLimited, AuthRevoked, AuthExpired):
            raise
        except SyncError as error:
            raise _lookup_failed(error) from error
        except Exception as exc:
            raise _lookup_failed(_internal(exc)) from exc

    async def _call(self, request: Callable[[], Awaitable[T]],
                    sending: Sequence[_Prepared],
                    on_batch: Callable[[], None] | None = None,
                    on_leave: Callable[[], None] | None = None) -> T:
        """Run one provider call for these jobs. The provider's requests take their slots of
        the connection's budget (the gate) themselves; the moment the first one leaves, these
        jobs count as sent, so a stop after it leaves them uncertain, not pending.

        `on_batch` is told when the call's batch request leaves, not its first request: a
        provider may read something first (QuickBooks' CompanyInfo before the first
        document), and until the batch itself is in the gate's batch window the unit's room
        there must stay counted as taken, or a round made meanwhile makes one batch more
        than the window holds and it waits a minute. `on_leave` is told as each request
        leaves."""
        ids = {p.job.id for p in sending}

        def leaving(batch: bool) -> None:
            if not ids <= self._sent:
                self._sent.update(ids)
            if batch and on_batch is not None:
                on_batch()
            if on_leave is not None:
                on_leave()

        marker = SENDING.set(leaving)
        try:
            return await request()
        finally:
            SENDING.reset(marker)
            self.stats.requests = self.gate.requests
            self._observe_quota()

    # -- outcomes -----------------------------------------------------------------------

    async def _succeeded(self, done: Sequence[tuple[_Prepared, RemoteRef, Attempt]],
                         outcome: str) -> None:
        if not done:
            return
        self.stats.pushed += len(done)
        await self.state.succeed([(p.job, ref, attempt) for p, ref, attempt in done],
                                 self.clock(), outcome=outcome)
        for prepared, _, _ in done:
            self._claimed.pop(prepared.job.id, None)

    async def _failed(self, prepared: _Prepared, error: SyncError, attempt: Attempt) -> None:
        job = prepared.job
        decision = self._decide(prepared, error)
        if decision.look_for_ours:
            # Perhaps our own earlier write holds the name or number; perhaps someone else's
            # does. Only a lookup by syncdesk's mark can tell them apart.
            try:
                ours = await self._look_for_ours(prepared)
            except SyncError as lookup_error:
                decision = decide(lookup_error, replace(self._facts(prepared), in_doubt=True),
                                  self.policy, jitter=self.rng.random())
            else:
                if ours is not None:
                    await self._succeeded([(prepared, ours, attempt)], "reconciled")
                    return
        if decision.reconnect:
            self._claimed.pop(job.id, None)
            await self.state.release(job, self.clock())
            raise error
        await self._apply(job, decision, error, attempt)

    async def _skip(self, job: ClaimedJob, error: SyncError, attempt: Attempt | None, *,
                    sendable: bool = True) -> None:
        """A job decided without a request (nothing to send, or nothing the platform takes).
        `sendable` False: the platform takes no such records at all, so no earlier attempt
        can have created one either — the job is not in doubt."""
        facts = JobFacts(job.was, job.attempts, Operation.CREATE, job.in_doubt and sendable,
                         False)
        await self._apply(job, decide(error, facts, self.policy), error, attempt)

    async def _apply(self, job: ClaimedJob, decision: Decision, error: SyncError,
                     attempt: Attempt | None) -> None:
        now = self.clock()
        self._claimed.pop(job.id, None)
        if decision.park:
            assert isinstance(error, RateLimited) and decision.retry_in is not None
            self.stats.rate_limited += 1
            until = now + decision.retry_in
            await self.state.release(job, now, retry_at=until, attempt=attempt, error=error)
            self.gate.hold(decision.retry_in.total_seconds())
            notice = None
            if decision.quota_notice:
                notice = (f"{self.title}: request quota used up until {until:%Y-%m-%d %H:%M} UTC",
                          error.message)
            await self.state.park(self.connection_id, until, now, notice=notice)
            self._parked_here = True
            return
        if decision.status is JobStatus.FAILED:
            self.stats.failed += 1
        await self.state.fail(job, decision, error, attempt, now)

    def _decide(self, prepared: _Prepared, error: SyncError) -> Decision:
        return decide(error, self._facts(prepared), self.policy, jitter=self.rng.random())

    def _facts(self, prepared: _Prepared) -> JobFacts:
        job, request = prepared.job, prepared.request
        return JobFacts(was=job.was, attempts=job.attempts, operation=request.operation,
                        in_doubt=job.in_doubt and not prepared.looked,
                        linked=request.link is not None)

    async def _needs_reconnect(self, error: SyncError) -> None:
        self.stopped_reason = f"needs reconnecting: {error.message}"
        await self.state.needs_reconnect(self.connection_id,
                                         f"{self.title}: connection needs reconnecting",
                                         error.message, self.clock())

    def _observe_quota(self) -> None:
        quota = self.provider.quota()
        if quota is not None and time.monotonic() - self._last_quota_write > 1.0:
            self._last_quota_write = time.monotonic()
            self._pending_quota = quota

    def _attempt(self, prepared: _Prepared, started: datetime, t0: float) -> Attempt:
        return Attempt(started, int((time.monotonic() - t0) * 1000),
                       prepared.request.operation.value)

    async def flush_quota(self) -> None:
        """Write the last quota reading for the dashboard (at most once a second)."""
        quota = self._pending_quota
        if quota is None:
            return
        self._pending_quota = None
        await self.state.write_quota(self.connection_id, quota, self.clock())


def _internal(exc: Exception) -> Transient:
    """A provider bug on one record must not stop the others: it is retried like any
    transient failure and, if it persists, shown as failed with what went wrong."""
    return Transient(f"syncdesk could not handle this record: {type(exc).__name__}: {exc}")


def _lookup_failed(error: SyncError) -> Transient:
    return Transient(f"could not look for syncdesk's own copy on the platform: {error.message}",
                     code=error.code, http_status=error.http_status)


def _parents(record: Record) -> list[tuple[Entity, str]]:
    """What must be on the platform before this record can be: customer, items, invoices."""
    parents: list[tuple[Entity, str]] = []
    if isinstance(record, Customer) and record.parent_id is not None:
        parents.append((Entity.CUSTOMER, record.parent_id))
    if isinstance(record, (Invoice, Payment, CreditNote)):
        parents.append((Entity.CUSTOMER, record.customer_id))
    if isinstance(record, (Invoice, CreditNote)):
        parents.extend(dict.fromkeys((Entity.ITEM, line.item_id) for line in record.lines
                                     if line.item_id))
    if isinstance(record, (Payment, CreditNote)):
        parents.extend((Entity.INVOICE, a.invoice_id) for a in record.allocations)
    return parents


def _with_link(request: PushRequest, link: RemoteRef) -> PushRequest:
    ending = request.operation in (Operation.VOID, Operation.DELETE)
    return replace(request, operation=request.operation if ending else Operation.UPDATE,
                   link=link)


def _ending(record: Record) -> Operation | None:
    """VOID or DELETE where the ledger ended this record; None while it lives."""
    if isinstance(record, Invoice):
        return Operation.VOID if record.status is InvoiceStatus.VOID else None
    if isinstance(record, (Payment, CreditNote)) and not record.live:
        return Operation.DELETE if record.status is EntryStatus.DELETED else Operation.VOID
    return None
