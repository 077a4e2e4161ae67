"""One connection's worker: claims due jobs, pushes them through the provider, records outcomes.

Order of work: uncertain jobs are reconciled first (replayed with their idempotency key where
the platform has keys, otherwise looked up by number or name), then pending jobs by dependency
stage. A job whose parent is not on the platform yet waits (pending) or, if the parent failed,
is blocked by it. Creates of one entity go in batches where the platform has batch writes.
What the engine does with each error class is the table in DESIGN.md.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from . import _jobs as jobs
from ._errors import (
    AuthExpired,
    AuthRevoked,
    Duplicate,
    NotFound,
    RateLimited,
    Stale,
    SyncError,
    Transient,
    Unmapped,
    Unsupported,
)
from ._jobs import Attempt, ClaimedJob
from ._ledger import Ledger
from ._limiter import RateGate
from ._models import CreditNote, Entity, Invoice, InvoiceStatus, Item, Payment
from ._notify import raise_notification
from ._port import Capabilities, Operation, Provider, PushRequest, Quota, Record, RemoteRef
from ._store import Store
from ._time import Clock, from_iso, to_iso

T = TypeVar("T")

LONG_WAIT = 300.0
"""A wait longer than this (seconds) parks the connection instead of holding the gate."""


@dataclass
class WorkerSettings:
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    dependency_wait: float = 2.0
    """How long a job waits for a parent that is still on its way."""
    throttle: bool = True
    """Respect the platform's published limits (tests against unlimited sandboxes turn it off)."""
    seed: int | None = None


@dataclass
class _Prepared:
    job: ClaimedJob
    request: PushRequest


@dataclass
class WorkerStats:
    pushed: int = 0
    failed: int = 0
    requests: int = 0
    rate_limited: int = 0


@dataclass
class ConnectionWorker:
    store: Store
    connection_id: int
    platform: str
    title: str
    provider: Provider
    capabilities: Capabilities
    clock: Clock
    settings: WorkerSettings = field(default_factory=WorkerSettings)
    stats: WorkerStats = field(default_factory=WorkerStats)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.store, self.clock)
        self.gate = RateGate(self.capabilities.limits, throttle=self.settings.throttle)
        self.rng = random.Random(self.settings.seed)
        self.stopped_reason: str | None = None
        self._last_quota_write = 0.0
        self._pending_quota: Quota | None = None

    # -- the loop -----------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim and push one round of due jobs; the number of jobs handled (0: idle)."""
        # One round of requests' worth: a claimed job shows as in flight, so claim only
        # what the platform's limits let us send now.
        limits = self.capabilities.limits
        claimed = await jobs.claim(self.store, self.connection_id,
                                   max(limits.concurrency, 1) * max(limits.batch_size, 1),
                                   self.clock())
        if not claimed:
            return 0
        units = await self._prepare(claimed)
        results = await asyncio.gather(*(self._run_unit(unit) for unit in units),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, (AuthRevoked, AuthExpired)):
                await self._needs_reconnect(result)
            elif isinstance(result, BaseException):
                raise result
        return len(claimed)

    # -- preparing requests -------------------------------------------------------------

    async def _prepare(self, claimed: Sequence[ClaimedJob]) -> list[list[_Prepared]]:
        singles: list[list[_Prepared]] = []
        creates: dict[Entity, list[_Prepared]] = {}
        for job in claimed:
            prepared = await self._prepare_one(job)
            if prepared is None:
                continue
            batchable = (prepared.request.operation is Operation.CREATE and not job.reconcile
                         and job.entity in self.capabilities.batched
                         and self.capabilities.limits.batch_size > 1)
            if batchable:
                creates.setdefault(job.entity, []).append(prepared)
            else:
                singles.append([prepared])
        size = self.capabilities.limits.batch_size
        batches = [group[i:i + size] for group in creates.values()
                   for i in range(0, len(group), size)]
        return batches + singles

    async def _prepare_one(self, job: ClaimedJob) -> _Prepared | None:
        now = self.clock()
        record = await self.ledger.get(job.entity, job.record_id)
        if record is None:
            await jobs.fail(self.store, job, Unsupported(f"{job.describe()} no longer exists "
                                                         "in the ledger"),
                            None, now, status="skipped", counts=False)
            return None
        if not self.capabilities.supports(job.entity):
            reason = self.capabilities.unsupported.get(
                job.entity, f"{job.entity.label}s are not supported by {self.title}")
            await jobs.fail(self.store, job, Unsupported(reason), None, now, status="skipped",
                            counts=False)
            return None
        refs: dict[tuple[Entity, str], RemoteRef] = {}
        for parent in _parents(record):
            ref = await self._link(*parent)
            if ref is not None:
                refs[parent] = ref
                continue
            await self._wait_or_block(job, parent, now)
            return None
        link = None if job.lookup_first else await self._link(job.entity, job.record_id)
        operation = Operation.UPDATE if link else Operation.CREATE
        if isinstance(record, Invoice) and record.status is InvoiceStatus.VOID:
            if link is None and not job.reconcile:
                await jobs.fail(self.store, job, Unsupported(
                    f"voided before it reached {self.title}: nothing to void there"),
                    None, now, status="skipped", counts=False)
                return None
            operation = Operation.VOID if link else Operation.CREATE
        items: dict[str, Item] = {}
        if isinstance(record, (Invoice, CreditNote)):
            for line in record.lines:
                item = await self.ledger.get(Entity.ITEM, line.item_id) if line.item_id else None
                if isinstance(item, Item):
                    items[item.id] = item
        return _Prepared(job, PushRequest(job.entity, operation, record, job.key, link, refs,
                                          items))

    async def _link(self, entity: Entity, record_id: str) -> RemoteRef | None:
        row = await self.store.fetch_one(
            "SELECT remote_id, remote_version, remote_number FROM sync_links "
            "WHERE connection_id = ? AND entity = ? AND record_id = ?",
            (self.connection_id, entity.value, record_id),
        )
        if row is None:
            return None
        return RemoteRef(row["remote_id"], row["remote_version"], row["remote_number"])

    async def _wait_or_block(self, job: ClaimedJob, parent: tuple[Entity, str],
                             now: datetime) -> None:
        row = await self.store.fetch_one(
            "SELECT status, label FROM sync_jobs WHERE connection_id = ? AND entity = ? "
            "AND record_id = ?", (self.connection_id, parent[0].value, parent[1]),
        )
        if row is not None and row["status"] in ("pending", "in_flight", "uncertain", "synced"):
            await jobs.release(self.store, job, now,
                               retry_at=now + timedelta(seconds=self.settings.dependency_wait))
            return
        await jobs.block(self.store, job, parent, row["label"] if row else parent[1], now)

    # -- sending ------------------------------------------------------------------------

    async def _run_unit(self, unit: list[_Prepared]) -> None:
        if len(unit) > 1:
            await self._run_batch(unit)
            return
        prepared = unit[0]
        started, t0 = self.clock(), time.monotonic()
        try:
            ref, outcome = await self._send(prepared)
        except SyncError as error:
            await self._failed(prepared, error, self._attempt(prepared, started, t0))
            return
        except Exception as exc:
            await self._failed(prepared, _internal(exc), self._attempt(prepared, started, t0))
            return
        await self._succeeded(prepared, ref, self._attempt(prepared, started, t0), outcome)

    async def _run_batch(self, unit: list[_Prepared]) -> None:
        started, t0 = self.clock(), time.monotonic()
        try:
            async with self.gate.slot(batch=True):
                self.stats.requests += 1
                results = await self.provider.push_batch([p.request for p in unit])
            self._observe_quota()
        except Exception as exc:
            error = exc if isinstance(exc, SyncError) else _internal(exc)
            for prepared in unit:
                await self._failed(prepared, error, self._attempt(prepared, started, t0))
            return
        synced = []
        for prepared, result in zip(unit, results, strict=True):
            attempt = self._attempt(prepared, started, t0)
            if isinstance(result, SyncError):
                await self._failed(prepared, result, attempt)
            else:
                synced.append((prepared.job, result, attempt))
        self.stats.pushed += len(synced)
        await jobs.succeed_many(self.store, synced, self.clock())

    async def _send(self, prepared: _Prepared) -> tuple[RemoteRef, str]:
        job, request = prepared.job, prepared.request
        if job.reconcile and not (job.was == "uncertain" and not job.lookup_first
                                  and self.capabilities.idempotency_keys):
            found = await self._call(lambda: self.provider.find(job.entity, request.record))
            if found is not None:
                if not job.lookup_first:
                    return found, "reconciled"
                # A re-link found the object: bring it up to our version.
                request = _with_link(request, found)
        try:
            return await self._call(lambda: self.provider.push(request)), "synced"
        except Stale:
            if request.link is None:
                raise
            remote_id = request.link.remote_id
            fresh = await self._call(lambda: self.provider.fetch(job.entity, remote_id))
            if fresh is None:
                raise NotFound(f"{job.describe()} was deleted on {self.title}") from None
            retried = _with_link(request, fresh)
            return await self._call(lambda: self.provider.push(retried)), "synced"

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        # A factory, not a coroutine: one cancelled while waiting for a slot was never made.
        async with self.gate.slot():
            self.stats.requests += 1
            try:
                return await request()
            finally:
                self._observe_quota()

    # -- outcomes -----------------------------------------------------------------------

    async def _succeeded(self, prepared: _Prepared, ref: RemoteRef, attempt: Attempt,
                         outcome: str) -> None:
        self.stats.pushed += 1
        await jobs.succeed(self.store, prepared.job, ref, attempt, self.clock(), outcome=outcome)

    async def _failed(self, prepared: _Prepared, error: SyncError, attempt: Attempt) -> None:
        job, now = prepared.job, self.clock()
        if isinstance(error, RateLimited):
            self.stats.rate_limited += 1
            await self._rate_limited(job, error, now)
            return
        if isinstance(error, (AuthRevoked, AuthExpired)):
            await jobs.release(self.store, job, now)
            raise error
        self.stats.failed += 1
        if isinstance(error, Duplicate) and job.was == "uncertain":
            # Perhaps our own earlier write landed; perhaps someone else's object holds the
            # number. Only the provider's find, which knows our marks, can tell them apart.
            ours = await self._find_ours(prepared)
            if ours is not None:
                await jobs.succeed(self.store, job, ours, attempt, now, outcome="reconciled")
                return
        if isinstance(error, (Unmapped, Unsupported)):
            await jobs.fail(self.store, job, error, attempt, now, status="skipped", counts=False,
                            notify="skipped" if isinstance(error, Unmapped) else None)
            return
        if isinstance(error, NotFound) and prepared.request.link is not None:
            await jobs.fail(self.store, job, error, attempt, now, status="broken_link",
                            notify="broken link")
            return
        if isinstance(error, Transient) and job.attempts + 1 < self.settings.max_attempts:
            # A create that got no answer may have landed: reconcile before sending again.
            unknown = prepared.request.operation is Operation.CREATE
            retry_at = now + jobs.backoff(job.attempts, self.settings.backoff_base,
                                          self.settings.backoff_cap, self.rng)
            await jobs.fail(self.store, job, error, attempt, now,
                            status="uncertain" if unknown else "pending", retry_at=retry_at)
            return
        await jobs.fail(self.store, job, error, attempt, now, status="failed", notify="failed")

    async def _find_ours(self, prepared: _Prepared) -> RemoteRef | None:
        try:
            return await self._call(
                lambda: self.provider.find(prepared.job.entity, prepared.request.record))
        except SyncError:
            return None

    async def _rate_limited(self, job: ClaimedJob, error: RateLimited, now: datetime) -> None:
        wait = max(error.retry_after, 1.0)
        retry_at = now + timedelta(seconds=wait)
        await jobs.release(self.store, job, now, retry_at=retry_at)
        self.gate.hold(wait)
        await self._park(retry_at, error, notify=error.daily or wait > LONG_WAIT)

    async def _park(self, until: datetime, error: RateLimited, *, notify: bool) -> None:
        """Show the wait on the connection (the dashboard says rate-limited until when);
        a long one, such as a spent daily quota, is also a notification."""
        stamp = to_iso(self.clock())
        async with self.store.write() as db:
            await db.execute("UPDATE connections SET parked_until = ?, updated_at = ? "
                             "WHERE id = ? AND (parked_until IS NULL OR parked_until < ?)",
                             (to_iso(until), stamp, self.connection_id, to_iso(until)))
            if notify:
                await raise_notification(
                    db, self.connection_id, None, None, kind="quota",
                    title=f"{self.title}: request quota used up until {to_iso(until)[:16]} UTC",
                    message=error.message, now=stamp)

    async def parked_until(self) -> datetime | None:
        value = await self.store.fetch_value("SELECT parked_until FROM connections WHERE id = ?",
                                             (self.connection_id,))
        if value is None:
            return None
        until = from_iso(value)
        return until if until > self.clock() else None

    async def _needs_reconnect(self, error: SyncError) -> None:
        stamp = to_iso(self.clock())
        reason = f"needs reconnecting: {error.message}"
        self.stopped_reason = reason
        async with self.store.write() as db:
            await db.execute("UPDATE connections SET state = 'needs_reconnect', "
                             "state_reason = ?, updated_at = ? WHERE id = ? "
                             "AND state = 'active'", (reason, stamp, self.connection_id))
            await raise_notification(db, self.connection_id, None, None, kind="auth",
                                     title=f"{self.title}: connection needs reconnecting",
                                     message=error.message, now=stamp)

    def _observe_quota(self) -> None:
        quota = self.provider.quota()
        self.gate.observe(quota)
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
        async with self.store.write() as db:
            await db.execute(
                "UPDATE connections SET minute_remaining = ?, day_remaining = ?, quota_at = ? "
                "WHERE id = ?", (quota.minute_remaining, quota.day_remaining,
                                 to_iso(self.clock()), self.connection_id),
            )


def _internal(exc: Exception) -> Transient:
    """A provider bug on one record must not stop the others: it is retried like any
    transient failure and, if it persists, shown as failed with what went wrong."""
    return Transient(f"syncdesk could not handle this record: {type(exc).__name__}: {exc}")


def _parents(record: Record) -> list[tuple[Entity, str]]:
    """What must be on the platform before this record can be: customer, items, invoices."""
    parents: list[tuple[Entity, str]] = []
    if isinstance(record, (Invoice, Payment, CreditNote)):
        parents.append((Entity.CUSTOMER, record.customer_id))
    if isinstance(record, (Invoice, CreditNote)):
        parents.extend(dict.fromkeys((Entity.ITEM, line.item_id) for line in record.lines
                                     if line.item_id))
    if isinstance(record, (Payment, CreditNote)):
        parents.extend((Entity.INVOICE, a.invoice_id) for a in record.allocations)
    return parents


def _with_link(request: PushRequest, link: RemoteRef) -> PushRequest:
    operation = Operation.VOID if request.operation is Operation.VOID else Operation.UPDATE
    return replace(request, operation=operation, link=link)
