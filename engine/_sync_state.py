"""The one writer of sync state: jobs, links, attempts, connection state and the engine lease.

Every change to `sync_jobs`, `sync_links`, `sync_attempts` and a connection's state goes
through this module — queue, coalesce, claim, succeed, fail, release, block, requeue, link,
park, needs-reconnect — so the worker, the engine, the ledger and the service hold no SQL of
their own for it. Each `SyncState` method is one write transaction; the module-level functions
take an open transaction, for callers that must change sync state in the same transaction as
something else (the ledger's outbox, an operator command and its audit row).

This is also the seam a second store backend implements.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._db import AsyncDB, Row, SyncDB, run_sync
from ._errors import SyncError, TotalMismatch
from ._models import Entity
from ._notify import raise_notification
from ._policy import Decision
from ._port import Quota, RemoteRef
from ._schema import TABLE_OF
from ._status import RETRYABLE, ConnectionState, JobStatus
from ._store import Store
from ._time import from_iso, to_iso
from ._webhooks import raise_recovered

_KEY_NAMESPACE = uuid.UUID("6f1c2a5e-2d8b-4c57-9f3e-5b1a7c9d0e11")


def idempotency_key(connection_id: int, entity: Entity, record_id: str, version: int) -> str:
    """Same (connection, entity, record, version) → same key: a retry replays, never duplicates."""
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{connection_id}/{entity.value}/{record_id}/{version}"))


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    connection_id: int
    entity: Entity
    record_id: str
    label: str
    was: JobStatus
    """Status before the claim: pending or uncertain."""
    version: int
    key: str
    lookup_first: bool
    """An operator asked for a re-link: look the record up before creating it."""
    attempts: int
    in_doubt: bool = False
    """A create of an earlier claim may have landed: look for our object before sending."""
    doubt_version: int | None = None
    """The record version that earlier create carried."""

    @property
    def reconcile(self) -> bool:
        """Look for syncdesk's own object on the platform before sending anything."""
        return self.in_doubt or self.lookup_first

    def describe(self) -> str:
        return f"{self.entity.label} {self.label}"


@dataclass(frozen=True)
class Attempt:
    started_at: datetime
    duration_ms: int
    operation: str


@dataclass(frozen=True)
class Seat:
    """One running engine: its unique name, host and process."""
    name: str
    host: str
    pid: int


@dataclass(frozen=True)
class Look:
    """One connection as its engine sees it once a poll (`SyncState.looks`): what an idle
    worker and its feed need to know whether to wake."""
    platform: str
    state: ConnectionState
    parked_until: datetime | None
    due: bool
    """A claim now would find a job."""
    feed_marked: bool
    """A webhook (`mark_due`) asked for a read of one of its feeds."""


@dataclass(frozen=True)
class Leases:
    """An engine's connection leases after a heartbeat."""
    held: frozenset[int]
    share: int
    """Its fair share: live connections over live engines, rounded up."""
    taken: frozenset[int]
    """Connections it took on this beat."""
    behind: bool = False
    """Under its share while another engine holds more than its own: that one hands leases
    back at its next beat, for this one to take at its next."""


class SyncState:
    """Sync state of one store, one write transaction per method."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reads the worker and the engine need --------------------------------------------

    async def links(self, connection_id: int, wanted: Iterable[tuple[Entity, str]]
                    ) -> dict[tuple[Entity, str], RemoteRef]:
        """The remote objects of these records on one connection, in one query."""
        pairs = list(dict.fromkeys(wanted))
        found: dict[tuple[Entity, str], RemoteRef] = {}
        for start in range(0, len(pairs), 400):
            chunk = pairs[start:start + 400]
            values = ", ".join("(?, ?)" for _ in chunk)
            params: list[Any] = [connection_id]
            for entity, record_id in chunk:
                params += [entity.value, record_id]
            rows = await self.store.fetch_all(
                "SELECT entity, record_id, remote_id, remote_version, remote_number "
                "FROM sync_links WHERE connection_id = ? AND (entity, record_id) IN "
                f"(VALUES {values})", params)
            for row in rows:
                found[(Entity(row["entity"]), row["record_id"])] = RemoteRef(
                    row["remote_id"], row["remote_version"], row["remote_number"])
        return found

    async def job_statuses(self, connection_id: int, wanted: Iterable[tuple[Entity, str]]
                           ) -> dict[tuple[Entity, str], tuple[JobStatus, str]]:
        """Status and label of these records' jobs on one connection, in one query per 400."""
        pairs = list(dict.fromkeys(wanted))
        found: dict[tuple[Entity, str], tuple[JobStatus, str]] = {}
        for start in range(0, len(pairs), 400):
            chunk = pairs[start:start + 400]
            values = ", ".join("(?, ?)" for _ in chunk)
            rows = await self.store.fetch_all(
                "SELECT entity, record_id, status, label FROM sync_jobs WHERE connection_id = ? "
                f"AND (entity, record_id) IN (VALUES {values})",
                [connection_id, *(part for entity, record_id in chunk
                                  for part in (entity.value, record_id))])
            found.update(((Entity(row["entity"]), row["record_id"]),
                          (JobStatus(row["status"]), str(row["label"]))) for row in rows)
        return found

    async def entry_on_its_way(self, connection_id: int, customer_id: str
                               ) -> tuple[Entity, str] | None:
        """A payment or credit note of this customer still to reach this connection."""
        row = await self.store.fetch_one(
            "SELECT j.entity, j.record_id FROM sync_jobs j JOIN connections k ON k.id = "
            "j.connection_id JOIN payments p ON p.business_id = k.business_id AND p.id = "
            "j.record_id WHERE j.connection_id = ? AND j.entity = 'payment' AND "
            "p.customer_id = ? AND j.status IN ('pending', 'in_flight', 'uncertain') "
            "UNION ALL SELECT j.entity, j.record_id FROM sync_jobs j JOIN connections k ON "
            "k.id = j.connection_id JOIN credit_notes c ON c.business_id = k.business_id AND "
            "c.id = j.record_id WHERE j.connection_id = ? AND j.entity = 'credit_note' "
            "AND c.customer_id = ? AND j.status IN ('pending', 'in_flight', 'uncertain') "
            "LIMIT 1", (connection_id, customer_id, connection_id, customer_id))
        return None if row is None else (Entity(row["entity"]), str(row["record_id"]))

    async def connection_state(self, connection_id: int) -> ConnectionState | None:
        value = await self.store.fetch_value("SELECT state FROM connections WHERE id = ?",
                                             (connection_id,))
        return None if value is None else ConnectionState(value)

    async def parked_until(self, connection_id: int) -> datetime | None:
        value = await self.store.fetch_value("SELECT parked_until FROM connections WHERE id = ?",
                                             (connection_id,))
        return from_iso(value) if value else None

    async def looks(self, seat: Seat, now: datetime) -> dict[int, Look]:
        """Every connection whose lease this engine's seat holds, in one query: the engine
        reads this once a poll for all its workers, so an idle connection costs no read of
        its own however many there are."""
        rows = await self.store.fetch_all(_LOOKS, (to_iso(now), seat.name))
        return {int(row["id"]): Look(
            str(row["platform"]), ConnectionState(row["state"]),
            from_iso(row["parked_until"]) if row["parked_until"] else None,
            bool(row["due"]), bool(row["marked"])) for row in rows}

    async def due_count(self, parked_before: datetime) -> int:
        """Jobs still to send on active connections not parked past `parked_before`."""
        waiting = await self.store.fetch_value(
            "SELECT COALESCE(SUM(jc.n), 0) FROM job_counts jc "
            "JOIN connections c ON c.id = jc.connection_id "
            "WHERE c.state = 'active' AND (c.parked_until IS NULL OR c.parked_until <= ?) "
            "AND jc.status IN ('pending', 'uncertain', 'in_flight')", (to_iso(parked_before),),
        )
        return int(waiting or 0)

    async def pending_count(self, connection_id: int) -> int:
        """The connection's jobs still to claim, due now or later (held for a parent,
        backing off): one read of the kept counts."""
        pending = await self.store.fetch_value(
            "SELECT COALESCE(SUM(n), 0) FROM job_counts WHERE connection_id = ? "
            "AND status = 'pending'", (connection_id,))
        return int(pending or 0)

    async def has_due(self, connection_id: int, now: datetime) -> bool:
        """Whether a claim would find anything: a read, so an idle engine writes nothing."""
        return bool(await self.store.fetch_value(
            "SELECT 1 FROM sync_jobs WHERE connection_id = ? AND status IN ('uncertain', "
            "'pending') AND (next_attempt_at IS NULL OR next_attempt_at <= ?) LIMIT 1",
            (connection_id, to_iso(now))))

    async def synced_links(self, connection_id: int) -> list[Row]:
        """Synced records and their remote ids (the weekly check reads each one back)."""
        return await self.store.fetch_all(
            "SELECT j.id, j.entity, j.record_id, j.label, j.record_version, j.attempts, "
            "l.remote_id FROM sync_links l JOIN sync_jobs j ON j.connection_id = l.connection_id "
            "AND j.entity = l.entity AND j.record_id = l.record_id "
            "WHERE l.connection_id = ? AND j.status = 'synced'", (connection_id,))

    # -- the job lifecycle ----------------------------------------------------------------

    async def recover_in_flight(self, now: datetime, *connection_ids: int) -> int:
        """After a crash: whatever of these connections was in flight may or may not have
        reached the platform. An engine does this as it starts workers for connections it
        holds the lease of, all it starts at once in one statement: no worker anywhere runs
        those jobs (a lease expires only after its holder stopped sending), whether a dead
        engine or one of its own halted workers left them."""
        if not connection_ids:
            return 0
        stamp = to_iso(now)
        return await self.store.run_write(lambda db: _recover(db, stamp, connection_ids))

    async def claim(self, connection_id: int, limit: int, now: datetime) -> list[ClaimedJob]:
        """Mark up to `limit` due jobs in flight, uncertain ones first, then by stage."""
        stamp = to_iso(now)
        sql = _CLAIM[self.store.dialect]
        return await self.store.run_write(lambda db: _claim(db, sql, connection_id, limit, stamp))

    async def succeed(self, done: Sequence[tuple[ClaimedJob, RemoteRef, Attempt | None]],
                      now: datetime, *, outcome: str = "synced") -> None:
        """Link and mark synced: one transaction, a few statements, for a whole batch."""
        if done:
            await self.store.run_write(lambda db: _succeed(db, done, to_iso(now), outcome))

    async def fail(self, job: ClaimedJob, decision: Decision, error: SyncError,
                   attempt: Attempt | None, now: datetime) -> None:
        """Apply the policy's decision on a failed attempt (or a skip with no attempt)."""
        stamp = to_iso(now)
        retry_at = to_iso(now + decision.retry_in) if decision.retry_in is not None else None
        async with self.store.write() as db:
            if isinstance(error, TotalMismatch) and isinstance(error.ref, RemoteRef):
                # The document is on the platform, only wrong: linked, so a retry updates
                # it and no second one is ever created.
                await db.executemany(_LINK_SQL, _link_rows([(job, error.ref)], stamp))
                await db.execute("UPDATE sync_jobs SET operation = 'update' WHERE id = ? "
                                 "AND operation = 'create'", (job.id,))
            await db.execute(
                "UPDATE sync_jobs SET status = ?, attempts = attempts + ?, next_attempt_at = ?, "
                "in_doubt = ?, error_class = ?, error_code = ?, error_message = ?, "
                "http_status = ?, updated_at = ? WHERE id = ?",
                (decision.status.value, int(decision.counts), retry_at, int(decision.in_doubt),
                 error.error_class.value, error.code, error.message, error.http_status, stamp,
                 job.id),
            )
            if attempt is not None:
                outcome = ("retry" if decision.status in (JobStatus.PENDING, JobStatus.UNCERTAIN)
                           else decision.status.value)
                await _record_attempt(db, job.id, attempt, outcome, error, None)
            if decision.notify:
                await raise_notification(
                    db, job.connection_id, job.entity, job.record_id,
                    kind=decision.notify.replace(" ", "_"),
                    title=f"{job.describe()} {decision.notify}", message=error.message,
                    now=stamp)

    async def nothing_to_send(self, job: ClaimedJob, operation: str, why: str,
                              now: datetime) -> None:
        """Done without a request: a void or delete of something the platform never had.
        The history says so, in words."""
        stamp = to_iso(now)
        async with self.store.write() as db:
            await db.execute(
                "UPDATE sync_jobs SET status = CASE WHEN record_version = sent_version "
                "THEN 'synced' ELSE 'pending' END, attempts = 0, next_attempt_at = NULL, "
                "lookup_first = 0, in_doubt = 0, error_class = NULL, error_code = NULL, "
                "error_message = NULL, http_status = NULL, updated_at = ? WHERE id = ?",
                (stamp, job.id))
            await db.execute(_INSERT_ATTEMPT, (job.id, stamp, 0, operation, "nothing_to_send",
                                               None, None, why, None, None))

    async def release(self, job: ClaimedJob, now: datetime, *, retry_at: datetime | None = None,
                      attempt: Attempt | None = None, error: SyncError | None = None,
                      waiting_for: tuple[Entity, str] | None = None) -> None:
        """Give a claimed job back as it was: not an attempt (a rate limit, a parent on its
        way, a stopped connection). A rate limit still shows in the record's history.

        `waiting_for` names the parent on its way: the job is due again the moment that
        parent syncs (`retry_at` is only the fallback), so no stage idles behind a timer."""
        stamp = to_iso(now)
        tried = (None if attempt is None or error is None else
                 _attempt_row(job.id, attempt, error.error_class.value, error, None))

        def work(db: SyncDB) -> None:
            _release(db, job, stamp, to_iso(retry_at) if retry_at else None, waiting_for)
            if tried is not None:
                db.execute(_INSERT_ATTEMPT, tried)

        await self.store.run_write(work)

    async def block(self, job: ClaimedJob, parent: tuple[Entity, str], parent_label: str,
                    now: datetime) -> None:
        """Blocked by a parent that is not on the platform (see `hold`)."""
        await self.hold([], [(job, parent, parent_label)], now, retry_at=now)

    async def hold(self, waiting: Sequence[tuple[ClaimedJob, tuple[Entity, str]]],
                   blocked: Sequence[tuple[ClaimedJob, tuple[Entity, str], str]],
                   now: datetime, *, retry_at: datetime) -> None:
        """Claimed jobs whose parents are not on the platform, as one transaction.

        `waiting`: the parent is on its way (`release` with `waiting_for`). `blocked` (with
        the parent's label): the parent is not coming. A create of the record needs the
        parent's remote id, so none can have landed: a block settles any doubt (a kill while
        the job was claimed made it in doubt without anything sent)."""
        stamp, fallback = to_iso(now), to_iso(retry_at)

        def work(db: SyncDB) -> None:
            for job, parent in waiting:
                _release(db, job, stamp, fallback, parent)
            db.executemany(
                "UPDATE sync_jobs SET status = 'blocked', blocked_entity = ?, "
                "blocked_record = ?, error_class = NULL, error_code = NULL, error_message = ?, "
                "http_status = NULL, next_attempt_at = NULL, in_doubt = 0, updated_at = ? "
                "WHERE id = ?",
                [(parent[0].value, parent[1], f"blocked by {parent[0].label} {label}", stamp,
                  job.id) for job, parent, label in blocked])

        await self.store.run_write(work)

    async def mark_broken(self, job_id: int, connection_id: int, entity: Entity,
                          record_id: str, title: str, error: SyncError, now: datetime) -> None:
        """A synced record whose remote object is gone (found by the weekly check)."""
        stamp = to_iso(now)
        async with self.store.write() as db:
            await db.execute(
                "UPDATE sync_jobs SET status = 'broken_link', error_class = ?, error_code = ?, "
                "error_message = ?, http_status = ?, updated_at = ? WHERE id = ?",
                (error.error_class.value, error.code, error.message, error.http_status, stamp,
                 job_id))
            await raise_notification(db, connection_id, entity, record_id, kind="broken_link",
                                     title=f"{title} broken link", message=error.message,
                                     now=stamp)

    async def settle(self, sent: Iterable[ClaimedJob], unsent: Iterable[ClaimedJob],
                     now: datetime) -> None:
        """A stop interrupted these jobs. What never left goes back as it was; what was on its
        way is uncertain, a create of it in doubt. Jobs already settled are left alone."""
        stamp = to_iso(now)
        async with self.store.write() as db:
            for job in unsent:
                await db.execute(
                    "UPDATE sync_jobs SET status = ?, updated_at = ? "
                    "WHERE id = ? AND status = 'in_flight'", (job.was.value, stamp, job.id))
            for job in sent:
                await db.execute(
                    f"UPDATE sync_jobs SET status = 'uncertain', {_DOUBT_IF_CREATE}, "
                    "updated_at = ? WHERE id = ? AND status = 'in_flight'", (stamp, job.id))

    # -- what the schema keeps counted ---------------------------------------------------

    async def drift(self) -> list[str]:
        """Where the kept counts (`job_counts`, `problem_groups` and each job's group) differ
        from the jobs themselves; empty when they agree. It reads every job: for tests,
        benchmarks and checks, never a hot path."""
        problem = ("(j.status IN ('failed', 'blocked', 'skipped', 'broken_link') "
                   "OR j.in_doubt = 1)")
        key = ("j.connection_id, j.status, j.in_doubt, COALESCE(j.error_class, ''), "
               "COALESCE(j.error_code, ''), COALESCE(j.error_message, '')")
        found = []
        for what, kept, actual in (
                ("job_counts", "SELECT connection_id, entity, status, n FROM job_counts "
                 "WHERE n != 0", "SELECT connection_id, entity, status, COUNT(*) "
                 "FROM sync_jobs j GROUP BY 1, 2, 3"),
                ("problem_groups", "SELECT connection_id, status, in_doubt, error_class, "
                 "error_code, error_message, n FROM problem_groups",
                 f"SELECT {key}, COUNT(*) FROM sync_jobs j WHERE {problem} "
                 "GROUP BY 1, 2, 3, 4, 5, 6")):
            counted = {tuple(row)[:-1]: tuple(row)[-1]
                       for row in await self.store.fetch_all(kept)}
            counts = {tuple(row)[:-1]: tuple(row)[-1]
                      for row in await self.store.fetch_all(actual)}
            found += [f"{what} {row!r}: kept {counted.get(row)}, counted {counts.get(row)}"
                      for row in sorted(counted.keys() | counts.keys(), key=repr)
                      if counted.get(row) != counts.get(row)]
        misgrouped = await self.store.fetch_value(
            "SELECT COUNT(*) FROM sync_jobs j LEFT JOIN problem_groups g "
            f"ON g.id = j.problem_group WHERE CASE WHEN {problem} THEN g.id IS NULL OR "
            "(g.connection_id, g.status, g.in_doubt, g.error_class, g.error_code, "
            f"g.error_message) <> ({key}) ELSE j.problem_group IS NOT NULL END")
        if misgrouped:
            found.append(f"{misgrouped} jobs name a problem group not theirs")
        return found

    # -- connections ----------------------------------------------------------------------

    async def park(self, connection_id: int, until: datetime, now: datetime, *,
                   notice: tuple[str, str] | None = None) -> None:
        """Show a wait on the connection (the dashboard says rate-limited until when); a long
        one, such as a spent daily quota, is also a notification (`notice`: title, message)."""
        stamp = to_iso(now)
        async with self.store.write() as db:
            await db.execute("UPDATE connections SET parked_until = ?, updated_at = ? "
                             "WHERE id = ? AND (parked_until IS NULL OR parked_until < ?)",
                             (to_iso(until), stamp, connection_id, to_iso(until)))
            if notice is not None:
                await raise_notification(db, connection_id, None, None, kind="quota",
                                         title=notice[0], message=notice[1], now=stamp)

    async def needs_reconnect(self, connection_id: int, title: str, message: str,
                              now: datetime) -> None:
        async with self.store.write() as db:
            await mark_needs_reconnect(db, connection_id, title, message, to_iso(now))

    async def write_quota(self, connection_id: int, quota: Quota, now: datetime) -> None:
        async with self.store.write() as db:
            await db.execute(
                "UPDATE connections SET minute_remaining = ?, day_remaining = ?, quota_at = ? "
                "WHERE id = ?",
                (quota.minute_remaining, quota.day_remaining, to_iso(now), connection_id))

    async def notify_connection(self, connection_id: int, kind: str, title: str, message: str,
                                now: datetime) -> None:
        async with self.store.write() as db:
            await raise_notification(db, connection_id, None, None, kind=kind, title=title,
                                     message=message, now=to_iso(now))

    # -- engines and their connection leases ---------------------------------------------

    async def join(self, seat: Seat, now: datetime) -> None:
        """An engine starts: it counts among the live engines from now on (the others shed
        connections down to their share on their next beat)."""
        stamp = to_iso(now)
        async with self.store.write() as db:
            await db.execute(
                "INSERT INTO engines (name, host, pid, started_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?)", (seat.name, seat.host, seat.pid, stamp, stamp))
            await db.execute(_ENGINE_BEAT, (seat.name, seat.pid, stamp))

    async def keep_leases(self, seat: Seat, now: datetime, stale_before: datetime, *,
                          gone: Callable[[int], bool]) -> Leases:
        """The engine's heartbeat: renew its leases, and take free or expired ones up to its
        fair share. An engine on this seat's host whose process is `gone` (a SIGKILL, a
        crash, a restart under systemd) holds nothing from this beat on, so its leases are
        taken now, not after the lease timeout."""
        stamp, stale = to_iso(now), to_iso(stale_before)
        # Apart from the workers' writes: on PostgreSQL a heartbeat queued behind a thousand
        # connections' writes missed its fence and stopped every worker.
        async with self.store.write_apart() as db:
            return await run_sync(db, lambda conn: _keep_leases(conn, seat, stamp, stale, gone))

    async def drop_leases(self, seat: Seat, connection_ids: Iterable[int]) -> None:
        """Free these leases: their workers have stopped, another engine may take them."""
        async with self.store.write() as db:
            await db.executemany(
                "DELETE FROM connection_leases WHERE engine = ? AND connection_id = ?",
                [(seat.name, connection_id) for connection_id in connection_ids])

    async def leave(self, seat: Seat, now: datetime, stale_before: datetime) -> None:
        """A clean stop, its workers settled: its leases are free at once. The store's
        engine beat then names another live engine, or says this one stopped (pid 0), so a
        console can tell "engine stopped 3 min ago" from a silent heartbeat."""
        stamp = to_iso(now)
        async with self.store.write() as db:
            await db.execute("DELETE FROM connection_leases WHERE engine = ?", (seat.name,))
            await db.execute("UPDATE engines SET heartbeat_at = ?, stopped_at = ? WHERE name = ?",
                             (stamp, stamp, seat.name))
            other = await (await db.execute(
                "SELECT name, pid, heartbeat_at FROM engines WHERE stopped_at IS NULL "
                "AND heartbeat_at >= ? ORDER BY heartbeat_at DESC LIMIT 1",
                (to_iso(stale_before),))).fetchone()
            await db.execute(_ENGINE_BEAT, (other["name"], other["pid"], other["heartbeat_at"])
                             if other is not None else (seat.name, 0, stamp))


# -- inside a caller's transaction ----------------------------------------------------------

# A job interrupted on its way out is in doubt if it was a create: no link yet means the
# request may have made the platform's first copy of it.
_DOUBT_IF_CREATE = (
    "in_doubt = CASE WHEN in_doubt = 1 OR NOT EXISTS (SELECT 1 FROM sync_links l "
    "WHERE l.connection_id = sync_jobs.connection_id AND l.entity = sync_jobs.entity "
    "AND l.record_id = sync_jobs.record_id) THEN 1 ELSE 0 END"
)


_LINK_SQL = (
    "INSERT INTO sync_links (connection_id, entity, record_id, remote_id, remote_version, "
    "remote_number, synced_version, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (connection_id, entity, record_id) DO UPDATE SET "
    "remote_id = excluded.remote_id, remote_version = excluded.remote_version, "
    "remote_number = COALESCE(excluded.remote_number, remote_number), "
    "synced_version = excluded.synced_version, synced_at = excluded.synced_at"
)


def _link_rows(linked: Iterable[tuple[ClaimedJob, RemoteRef]], stamp: str
               ) -> list[tuple[Any, ...]]:
    return [(job.connection_id, job.entity.value, job.record_id, ref.remote_id, ref.version,
             ref.number, job.version, stamp) for job, ref in linked]


# Due jobs of one connection, uncertain ones first (oldest first), then by stage. The claim
# is this one statement: on PostgreSQL each engine's subqueries lock the rows they pick and
# skip rows another claimer holds, so two claimers never mark one job; SQLite has one writer.
# `claimed_from` keeps the status a job left, for the claimer (RETURNING gives new values).
_CLAIM_SQL = (
    "WITH u AS (SELECT id FROM sync_jobs WHERE connection_id = ?1 AND status = 'uncertain' "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?2) ORDER BY id LIMIT ?3{lock}), "
    "p AS (SELECT id FROM sync_jobs WHERE connection_id = ?1 AND status = 'pending' "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?2) ORDER BY stage, next_attempt_at "
    "LIMIT ?3 - (SELECT COUNT(*) FROM u){lock}) "
    "UPDATE sync_jobs SET claimed_from = status, status = 'in_flight', "
    "blocked_entity = NULL, blocked_record = NULL, last_attempt_at = ?2, updated_at = ?2 "
    "WHERE id IN (SELECT id FROM u UNION ALL SELECT id FROM p) "
    "RETURNING id, entity, record_id, label, claimed_from, stage, next_attempt_at, "
    "record_version, idempotency_key, sent_version, lookup_first, attempts, in_doubt"
)
_CLAIM = {"sqlite": _CLAIM_SQL.format(lock=""),
          "postgresql": _CLAIM_SQL.format(lock=" FOR UPDATE SKIP LOCKED")}


# The claim's own test of a due job (`_CLAIM_SQL`), per held connection.
_LOOKS = (
    "SELECT c.id, c.platform, c.state, c.parked_until, EXISTS (SELECT 1 FROM sync_jobs j "
    "WHERE j.connection_id = c.id AND j.status IN ('uncertain', 'pending') "
    "AND (j.next_attempt_at IS NULL OR j.next_attempt_at <= ?)) AS due, "
    "EXISTS (SELECT 1 FROM feed_cursors f WHERE f.connection_id = c.id "
    "AND f.due_at IS NOT NULL) AS marked "
    "FROM connection_leases l JOIN connections c ON c.id = l.connection_id "
    "WHERE l.engine = ?"
)


def _claim_order(row: Row) -> tuple[int, int, str, int]:
    if row["claimed_from"] == JobStatus.UNCERTAIN.value:
        return (0, 0, "", row["id"])
    return (1, row["stage"], row["next_attempt_at"] or "", row["id"])


def _claim(db: SyncDB, sql: str, connection_id: int, limit: int, stamp: str
           ) -> list[ClaimedJob]:
    # RETURNING comes in no particular order: the claim's own is restored here.
    rows = sorted(db.execute(sql, (connection_id, stamp, limit)).fetchall(),
                  key=_claim_order)
    claimed = []
    for row in rows:
        entity = Entity(row["entity"])
        # A write in doubt is replayed under the key it was sent with, never a new one.
        keep_key = (row["in_doubt"] and row["sent_version"] == row["record_version"]
                    and row["idempotency_key"])
        key = row["idempotency_key"] if keep_key else idempotency_key(
            connection_id, entity, row["record_id"], row["record_version"])
        claimed.append(ClaimedJob(
            id=row["id"], connection_id=connection_id, entity=entity,
            record_id=row["record_id"], label=row["label"],
            was=JobStatus(row["claimed_from"]), version=row["record_version"], key=key,
            lookup_first=bool(row["lookup_first"]), attempts=row["attempts"],
            in_doubt=bool(row["in_doubt"]),
            doubt_version=row["sent_version"] if row["in_doubt"] else None,
        ))
    # The rows are this claimer's now: their keys and sent versions follow in the same
    # transaction.
    db.executemany(
        "UPDATE sync_jobs SET idempotency_key = ?, sent_version = record_version WHERE id = ?",
        [(job.key, job.id) for job in claimed])
    return claimed


# -- engines and leases, inside the caller's transaction --------------------------------------

# `engine_lease` is the store's engine beat: the latest heartbeat of any engine.
_ENGINE_BEAT = (
    "INSERT INTO engine_lease (id, owner, pid, heartbeat_at) VALUES (1, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, "
    "heartbeat_at = excluded.heartbeat_at"
)
_LONG_AGO = "1970-01-01T00:00:00.000000Z"

# Free leases (never held, released, or their holder's heartbeat stale) of live connections,
# lowest ids first. Two engines taking at once on PostgreSQL: the later insert waits for the
# earlier's commit, then finds its lease fresh and leaves it (the upsert's WHERE).
_TAKE = (
    "INSERT INTO connection_leases (connection_id, engine, taken_at, heartbeat_at) "
    "SELECT c.id, ?1, ?2, ?2 FROM connections c WHERE c.state != 'disconnected' "
    "AND NOT EXISTS (SELECT 1 FROM connection_leases l WHERE l.connection_id = c.id "
    "AND l.heartbeat_at >= ?3) ORDER BY c.id LIMIT ?4 "
    "ON CONFLICT (connection_id) DO UPDATE SET engine = excluded.engine, "
    "taken_at = excluded.taken_at, heartbeat_at = excluded.heartbeat_at "
    "WHERE heartbeat_at < ?3 "
    "RETURNING connection_id"
)


def _keep_leases(db: SyncDB, seat: Seat, stamp: str, stale: str,
                 gone: Callable[[int], bool]) -> Leases:
    neighbours = db.execute(
        "SELECT name, pid FROM engines WHERE host = ? AND name != ? AND stopped_at IS NULL "
        "AND heartbeat_at >= ?", (seat.host, seat.name, stale)).fetchall()
    dead = [(_LONG_AGO, str(row[0])) for row in neighbours if gone(int(row[1]))]
    # Before the count of live engines and the take below: the dead one's share is free.
    db.executemany("UPDATE engines SET heartbeat_at = ? WHERE name = ?", dead)
    db.executemany("UPDATE connection_leases SET heartbeat_at = ? WHERE engine = ?", dead)
    db.execute("UPDATE engines SET heartbeat_at = ? WHERE name = ?", (stamp, seat.name))
    db.execute(_ENGINE_BEAT, (seat.name, seat.pid, stamp))
    held = {int(row[0]) for row in db.execute(
        "UPDATE connection_leases SET heartbeat_at = ? WHERE engine = ? RETURNING connection_id",
        (stamp, seat.name)).fetchall()}
    counts = db.execute(
        "SELECT (SELECT COUNT(*) FROM connections WHERE state != 'disconnected'), "
        "(SELECT COUNT(*) FROM engines WHERE stopped_at IS NULL AND heartbeat_at >= ?)",
        (stale,)).fetchone()
    assert counts is not None
    share = -(-int(counts[0]) // max(int(counts[1]), 1))
    taken: list[int] = []
    if len(held) < share:
        taken = [int(row[0]) for row in db.execute(
            _TAKE, (seat.name, stamp, stale, share - len(held))).fetchall()]
    mine = held.union(taken)
    # What the others hold beyond their shares, were each at most at its share.
    behind = len(mine) < share and int(counts[0]) - len(mine) > (int(counts[1]) - 1) * share
    return Leases(frozenset(mine), share, frozenset(taken), behind)


def _recover(db: SyncDB, stamp: str, connection_ids: Sequence[int]) -> int:
    """Whatever of these connections was in flight may or may not have reached the
    platform."""
    return db.execute(
        f"UPDATE sync_jobs SET status = 'uncertain', {_DOUBT_IF_CREATE}, updated_at = ? "
        f"WHERE status = 'in_flight' AND connection_id IN ({_marks(connection_ids)})",
        (stamp, *connection_ids)).rowcount


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


def _succeed(db: SyncDB,
             done: Sequence[tuple[ClaimedJob, RemoteRef, Attempt | None]], stamp: str,
             outcome: str) -> None:
    db.executemany(_LINK_SQL, _link_rows(((job, ref) for job, ref, _ in done), stamp))
    # A change that arrived while this version was in flight is pushed next.
    db.executemany(
        "UPDATE sync_jobs SET status = CASE WHEN record_version = sent_version "
        "THEN 'synced' ELSE 'pending' END, operation = CASE WHEN operation = 'create' "
        "THEN 'update' ELSE operation END, attempts = 0, next_attempt_at = NULL, "
        "lookup_first = 0, in_doubt = 0, error_class = NULL, error_code = NULL, "
        "error_message = NULL, http_status = NULL, blocked_entity = NULL, "
        "blocked_record = NULL, updated_at = ? WHERE id = ?",
        [(stamp, job.id) for job, _, _ in done],
    )
    # Dependants: lines and documents wait for their items and customers, an invoice's void
    # for the payments and credit notes taken off it. Those blocked by this record, and those
    # waiting for it (released while it was on its way), are due now.
    db.executemany(
        "UPDATE sync_jobs SET status = CASE WHEN status = 'blocked' THEN 'pending' "
        "ELSE status END, blocked_entity = NULL, blocked_record = NULL, "
        "next_attempt_at = NULL, updated_at = ? "
        "WHERE connection_id = ? AND blocked_entity = ? AND blocked_record = ? "
        "AND status IN ('blocked', 'pending', 'uncertain')",
        [(stamp, job.connection_id, job.entity.value, job.record_id) for job, _, _ in done],
    )
    db.executemany(_INSERT_ATTEMPT, [
        _attempt_row(job.id, attempt, outcome, None, ref.remote_id)
        for job, ref, attempt in done if attempt is not None])
    raise_recovered(db, [(job.connection_id, job.entity, job.record_id) for job, _, _ in done],
                    stamp)
    db.executemany("UPDATE connections SET last_success_at = ? WHERE id = ?",
                   [(stamp, connection_id) for connection_id in
                    {job.connection_id for job, _, _ in done}])


def _release(db: SyncDB, job: ClaimedJob, stamp: str, retry_at: str | None,
             parent: tuple[Entity, str] | None) -> None:
    if parent is not None and db.execute(
            "SELECT 1 FROM sync_links WHERE connection_id = ? AND entity = ? AND record_id = ?",
            (job.connection_id, parent[0].value, parent[1])).fetchone():
        # It synced after the round read its links: its wake-up is past, so the job is due
        # now rather than behind the fallback timer.
        retry_at, parent = None, None
    db.execute(
        "UPDATE sync_jobs SET status = ?, next_attempt_at = ?, blocked_entity = ?, "
        "blocked_record = ?, updated_at = ? WHERE id = ?",
        (job.was.value, retry_at, parent[0].value if parent else None,
         parent[1] if parent else None, stamp, job.id))


_INSERT_ATTEMPT = (
    "INSERT INTO sync_attempts (job_id, started_at, duration_ms, operation, outcome, "
    "error_class, error_code, message, http_status, remote_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _attempt_row(job_id: int, attempt: Attempt, outcome: str, error: SyncError | None,
                 remote_id: str | None) -> tuple[Any, ...]:
    return (job_id, to_iso(attempt.started_at), attempt.duration_ms, attempt.operation, outcome,
            error.error_class.value if error else None, error.code if error else None,
            error.message if error else None, error.http_status if error else None, remote_id)


async def _record_attempt(db: AsyncDB, job_id: int, attempt: Attempt,
                          outcome: str, error: SyncError | None, remote_id: str | None) -> None:
    await db.execute(_INSERT_ATTEMPT, _attempt_row(job_id, attempt, outcome, error, remote_id))


async def requeue(db: AsyncDB, clause: str, params: Sequence[Any], now: str, *,
                  lookup_first: bool = False) -> int:
    """Make the retryable jobs matching `clause` (over `sync_jobs j`) due now, as one command.

    A broken link, or a job asked to re-link, is looked up on the platform before anything is
    created (`lookup_first`). A job in doubt stays in doubt: its lookup comes first too.

    Set-based, so 100,000 jobs cost what their rows cost: the jobs are listed once in
    `requeued_jobs` (which the per-row triggers stand aside for), moved by one UPDATE that
    writes only what a requeue changes, counted and regrouped by one GROUP BY each and logged
    as ONE event.
    """
    statuses = ", ".join(f"'{s.value}'" for s in RETRYABLE)
    listed = await db.execute(
        f"INSERT INTO requeued_jobs (id, connection_id, entity, record_id, old_status, "
        f"new_status, problem_group, in_doubt) SELECT j.id, j.connection_id, j.entity, "
        f"j.record_id, j.status, {_REQUEUED_STATUS}, j.problem_group, j.in_doubt "
        f"FROM sync_jobs j WHERE ({clause}) AND j.status IN ({statuses})",
        list(params),
    )
    count = listed.rowcount
    if count > 0:
        await _requeue_listed(db, now, lookup_first)
    await db.execute("DELETE FROM requeued_jobs")
    return count


_REQUEUED_STATUS = ("CASE WHEN status = 'uncertain' OR in_doubt = 1 THEN 'uncertain' "
                    "ELSE 'pending' END")
"""What a requeued job becomes: in doubt stays in doubt (looked up before any create)."""

_IN_DOUBT_GROUP = ("(SELECT g.id FROM problem_groups g WHERE (g.connection_id, g.status, "
                   "g.in_doubt, g.error_class, g.error_code, g.error_message) = "
                   "(sync_jobs.connection_id, 'uncertain', 1, '', '', ''))")
"""The problem group a requeued job in doubt joins: uncertain, its error cleared."""


async def _requeue_listed(db: AsyncDB, now: str, lookup_first: bool) -> None:
    # Jobs in doubt still need a person after the requeue: their group exists before the
    # UPDATE names it.
    await db.execute(
        "INSERT INTO problem_groups (connection_id, status, in_doubt, error_class, error_code, "
        "error_message, n) SELECT connection_id, 'uncertain', 1, '', '', '', COUNT(*) "
        "FROM requeued_jobs WHERE in_doubt = 1 GROUP BY connection_id "
        "ON CONFLICT (connection_id, status, in_doubt, error_class, error_code, error_message) "
        "DO UPDATE SET n = n + excluded.n")
    # By rowid from the list (`UPDATE … FROM` would scan sync_jobs), so the new status is
    # worked out again from the row, by the same expression that listed it.
    await db.execute(
        f"UPDATE sync_jobs SET status = {_REQUEUED_STATUS}, "
        "lookup_first = CASE WHEN ? = 1 OR status = 'broken_link' THEN 1 ELSE lookup_first END, "
        "attempts = 0, next_attempt_at = NULL, error_class = NULL, error_code = NULL, "
        "error_message = NULL, http_status = NULL, blocked_entity = NULL, "
        f"blocked_record = NULL, problem_group = CASE WHEN in_doubt = 1 THEN {_IN_DOUBT_GROUP} "
        "END, updated_at = ? WHERE id IN (SELECT id FROM requeued_jobs)",
        (int(lookup_first), now),
    )
    await db.execute(
        "UPDATE problem_groups SET n = problem_groups.n - d.n FROM (SELECT problem_group, "
        "COUNT(*) AS n FROM requeued_jobs WHERE problem_group IS NOT NULL GROUP BY 1) d "
        "WHERE problem_groups.id = d.problem_group")
    await db.execute("DELETE FROM problem_groups WHERE n <= 0 AND id IN "
                     "(SELECT problem_group FROM requeued_jobs)")
    moved = ("SELECT connection_id, entity, {status} AS status, COUNT(*) AS n "
             "FROM requeued_jobs WHERE old_status != new_status GROUP BY 1, 2, 3")
    await db.execute(
        "UPDATE job_counts SET n = job_counts.n - d.n FROM (" + moved.format(status="old_status")
        + ") d WHERE job_counts.connection_id = d.connection_id "
        "AND job_counts.entity = d.entity AND job_counts.status = d.status")
    await db.execute(
        "INSERT INTO job_counts (connection_id, entity, status, n) "
        + moved.format(status="new_status")
        + " ON CONFLICT (connection_id, entity, status) DO UPDATE SET n = n + excluded.n")
    # One event for the command: a console only needs to know that something moved, and
    # where when it is one connection, one entity or one record.
    await db.execute(
        "INSERT INTO events (at, kind, connection_id, entity, record_id, status) "
        "SELECT ?, 'requeue', "
        "CASE WHEN MIN(connection_id) = MAX(connection_id) THEN MIN(connection_id) END, "
        "CASE WHEN MIN(entity) = MAX(entity) THEN MIN(entity) END, "
        "CASE WHEN COUNT(*) = 1 THEN MIN(record_id) END, "
        "CASE WHEN MIN(new_status) = MAX(new_status) THEN MIN(new_status) END "
        "FROM requeued_jobs", (now,))


async def unlink(db: AsyncDB, connection_id: int, entity: Entity,
                 record_id: str) -> None:
    await db.execute(
        "DELETE FROM sync_links WHERE connection_id = ? AND entity = ? AND record_id = ?",
        (connection_id, entity.value, record_id))


async def adopt(db: AsyncDB, connection_id: int, entity: Entity, record_id: str,
                ref: RemoteRef, now: str) -> int:
    """Link a record to a platform object a person confirmed is its copy (a duplicate that
    was ours, or made by hand). The link is marked not yet in sync, so the next push is an
    update of that object to the ledger's version, never a create; the person's word settles
    any doubt. Returns the jobs queued (0 or 1)."""
    await db.execute(
        "INSERT INTO sync_links (connection_id, entity, record_id, remote_id, remote_version, "
        "remote_number, synced_version, synced_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?) "
        "ON CONFLICT (connection_id, entity, record_id) DO UPDATE SET "
        "remote_id = excluded.remote_id, remote_version = excluded.remote_version, "
        "remote_number = excluded.remote_number, synced_version = 0, "
        "synced_at = excluded.synced_at",
        (connection_id, entity.value, record_id, ref.remote_id, ref.version, ref.number, now))
    await db.execute(
        "UPDATE sync_jobs SET operation = 'update', in_doubt = 0, lookup_first = 0 "
        "WHERE connection_id = ? AND entity = ? AND record_id = ?",
        (connection_id, entity.value, record_id))
    return await requeue(db, "j.connection_id = ? AND j.entity = ? AND j.record_id = ?",
                         [connection_id, entity.value, record_id], now)


async def make_all_due(db: AsyncDB, now: str) -> None:
    """Everything waiting for a back-off is due now (the weekly run's catch-up)."""
    await db.execute(
        "UPDATE sync_jobs SET next_attempt_at = NULL, updated_at = ? "
        "WHERE status IN ('pending', 'uncertain') AND next_attempt_at IS NOT NULL", (now,))


async def set_connection_state(db: AsyncDB, connection_id: int,
                               state: ConnectionState, reason: str | None, now: str) -> None:
    await db.execute(
        "UPDATE connections SET state = ?, state_reason = ?, updated_at = ? WHERE id = ?",
        (state.value, reason, now, connection_id))


async def mark_needs_reconnect(db: AsyncDB, connection_id: int, title: str,
                               message: str, now: str) -> None:
    """The grant is gone: stop the connection (if it still runs) and say so, once."""
    await db.execute(
        "UPDATE connections SET state = 'needs_reconnect', state_reason = ?, updated_at = ? "
        "WHERE id = ? AND state = 'active'", (f"needs reconnecting: {message}", now,
                                              connection_id))
    await raise_notification(db, connection_id, None, None, kind="auth", title=title,
                             message=message, now=now)


async def purge_connection(db: AsyncDB, connection_id: int, reason: str,
                           now: str) -> int:
    """Delete every job, link, token and notification of a connection; it stays, disconnected."""
    cursor = await db.execute("DELETE FROM sync_jobs WHERE connection_id = ?", (connection_id,))
    purged = cursor.rowcount
    for table in ("sync_links", "tokens", "notifications", "job_counts"):
        await db.execute(f"DELETE FROM {table} WHERE connection_id = ?", (connection_id,))
    await set_connection_state(db, connection_id, ConnectionState.DISCONNECTED, reason, now)
    return purged


def link_synced(db: SyncDB, connection_id: int, entity: Entity, record_id: str,
                ref: RemoteRef, now: str) -> None:
    """Record that the current version of a record already is `ref` on a connection (in
    a `Store.run_write` transaction)."""
    version = db.execute(
        f"SELECT version FROM {TABLE_OF[entity]} WHERE business_id = "
        "(SELECT business_id FROM connections WHERE id = ?) AND id = ?",
        (connection_id, record_id)).fetchone()
    if version is None:
        return
    db.execute(
        "INSERT INTO sync_links (connection_id, entity, record_id, remote_id, remote_version, "
        "remote_number, synced_version, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (connection_id, entity, record_id) DO UPDATE SET "
        "remote_id = excluded.remote_id, remote_version = excluded.remote_version, "
        "remote_number = excluded.remote_number, synced_version = excluded.synced_version, "
        "synced_at = excluded.synced_at",
        (connection_id, entity.value, record_id, ref.remote_id, ref.version, ref.number,
         version[0], now),
    )
    db.execute(
        "UPDATE sync_jobs SET status = 'synced', operation = 'update', updated_at = ? "
        "WHERE connection_id = ? AND entity = ? AND record_id = ? AND status = 'pending' "
        "AND record_version = ?", (now, connection_id, entity.value, record_id, version[0]),
    )


# -- the outbox -----------------------------------------------------------------------------

# What a job shows in record lists, read from its ledger row `r`: (source, label, customer,
# amount, currency).
_WITH_CUSTOMER = " JOIN customers cu ON cu.business_id = r.business_id AND cu.id = r.customer_id"
_JOB_SOURCE = {
    Entity.CUSTOMER: ("customers r", "r.display_name", "NULL", "NULL", "NULL"),
    Entity.ITEM: ("items r", "r.name", "NULL", "NULL", "NULL"),
    Entity.INVOICE: ("invoices r" + _WITH_CUSTOMER, "r.number",
                     "cu.display_name", "r.total_minor", "r.currency"),
    Entity.PAYMENT: ("payments r" + _WITH_CUSTOMER,
                     "COALESCE(r.reference, r.id)", "cu.display_name", "r.amount_minor",
                     "r.currency"),
    Entity.CREDIT_NOTE: ("credit_notes r" + _WITH_CUSTOMER, "r.number",
                         "cu.display_name", "r.total_minor", "r.currency"),
}
_KEEP_WHILE_SENDING = "sync_jobs.status IN ('in_flight', 'uncertain')"


def _queue_sql(entity: Entity, record_filter: str, connection_filter: str, *,
               changed_only: bool) -> str:
    source, label, customer, amount, currency = _JOB_SOURCE[entity]
    void = {Entity.INVOICE: "r.status = 'void'",
            Entity.PAYMENT: "json_extract(r.doc, '$.status') IN ('void', 'deleted')",
            Entity.CREDIT_NOTE: "json_extract(r.doc, '$.status') IN ('void', 'deleted')",
            }.get(entity, "FALSE")
    drafts = "AND r.status != 'draft'" if entity is Entity.INVOICE else ""
    # Jobs are numbered in the order the records were written (`r.rowid`), whatever plan
    # the business's keys give the join: equal times list in that order.
    # Coalescing: one job per (connection, entity, record). A job being sent keeps its
    # status: the worker sees the newer version when it finishes. With `changed_only`, a
    # job that already carries the record's version keeps everything (a reconnect must not
    # re-push what synced, nor forget what failed).
    keep = "WHERE sync_jobs.record_version != excluded.record_version" if changed_only else ""
    return f"""
        INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, status,
            record_version, label, customer, amount_minor, currency, error_class,
            error_message, created_at, updated_at)
        SELECT c.id, :entity, r.id, :stage,
            CASE WHEN {void} THEN 'void' WHEN l.remote_id IS NULL THEN 'create' ELSE 'update' END,
            CASE WHEN json_extract(c.unsupported, '$.' || :entity) IS NULL
                 THEN 'pending' ELSE 'skipped' END,
            r.version, {label}, {customer}, {amount}, {currency},
            CASE WHEN json_extract(c.unsupported, '$.' || :entity) IS NULL
                 THEN NULL ELSE 'unsupported' END,
            json_extract(c.unsupported, '$.' || :entity),
            :now, :now
        FROM {source}
        JOIN connections c ON c.business_id = r.business_id AND c.state != 'disconnected'
            {connection_filter}
        LEFT JOIN sync_links l
            ON l.connection_id = c.id AND l.entity = :entity AND l.record_id = r.id
        WHERE {record_filter} {drafts}
        ORDER BY r.rowid
        ON CONFLICT (connection_id, entity, record_id) DO UPDATE SET
            record_version = excluded.record_version,
            operation = excluded.operation,
            label = excluded.label,
            customer = excluded.customer,
            amount_minor = excluded.amount_minor,
            currency = excluded.currency,
            status = CASE WHEN {_KEEP_WHILE_SENDING} THEN sync_jobs.status
                          ELSE excluded.status END,
            attempts = CASE WHEN {_KEEP_WHILE_SENDING} THEN sync_jobs.attempts ELSE 0 END,
            next_attempt_at = CASE WHEN {_KEEP_WHILE_SENDING} THEN sync_jobs.next_attempt_at
                                   ELSE NULL END,
            error_class = CASE WHEN {_KEEP_WHILE_SENDING} THEN sync_jobs.error_class
                               ELSE excluded.error_class END,
            error_code = CASE WHEN {_KEEP_WHILE_SENDING} THEN sync_jobs.error_code ELSE NULL END,
            error_message = CASE WHEN {_KEEP_WHILE_SENDING} THEN sync_jobs.error_message
                                 ELSE excluded.error_message END,
            http_status = CASE WHEN {_KEEP_WHILE_SENDING} THEN sync_jobs.http_status
                               ELSE NULL END,
            blocked_entity = NULL,
            blocked_record = NULL,
            updated_at = excluded.updated_at
        {keep}
    """


def queue_jobs(db: SyncDB, entity: Entity, record_id: str, now: str,
               business: int = 1) -> int:
    """Queue (or coalesce into) a job for one record of a business on every live connection
    of that business (in a `Store.run_write` transaction)."""
    cursor = db.execute(
        _queue_sql(entity, "r.business_id = :business AND r.id = :record_id", "",
                   changed_only=False),
        {"entity": entity.value, "stage": entity.stage, "record_id": record_id, "now": now,
         "business": business},
    )
    return cursor.rowcount


async def queue_everything(db: AsyncDB, connection_id: int, now: str) -> int:
    """Queue every record for one connection: its first sync, or a reconnect — where only
    records new or changed since the connection last saw them are queued."""
    queued = 0
    for entity in Entity:
        cursor = await db.execute(
            _queue_sql(entity, "r.business_id = (SELECT business_id FROM connections "
                       "WHERE id = :connection_id)", "AND c.id = :connection_id",
                       changed_only=True),
            {"entity": entity.value, "stage": entity.stage, "connection_id": connection_id,
             "now": now},
        )
        queued += cursor.rowcount
    return queued



# -- feed: what the way back changes in sync state (inside the feed page's transaction) ----

async def mark_gone(db: AsyncDB, connection_id: int, entity: Entity,
                    record_id: str, title: str, message: str, now: str) -> bool:
    """A linked record's object was deleted or voided on the platform: its job is a broken
    link, told once. A job on its way is left to its own answer (the platform says NotFound
    to it); a link already broken raises nothing again, so a re-read page notifies no one
    twice. True when the job changed."""
    cursor = await db.execute(
        "UPDATE sync_jobs SET status = 'broken_link', error_class = 'not_found', "
        "error_code = NULL, error_message = ?, http_status = NULL, next_attempt_at = NULL, "
        "updated_at = ? WHERE connection_id = ? AND entity = ? AND record_id = ? "
        "AND status NOT IN ('broken_link', 'in_flight')",
        (message, now, connection_id, entity.value, record_id))
    if cursor.rowcount != 1:
        return False
    await raise_notification(db, connection_id, entity, record_id, kind="broken_link",
                             title=title, message=message, now=now)
    return True


async def skip_elsewhere(db: AsyncDB, origin: int, entity: Entity,
                         record_id: str, why: str, now: str) -> None:
    """A record that came from one platform is not sent to the others: its jobs there are
    skipped with why (an operator's retry sends it all the same)."""
    await db.execute(
        "UPDATE sync_jobs SET status = 'skipped', error_class = 'unsupported', "
        "error_code = NULL, error_message = ?, http_status = NULL, next_attempt_at = NULL, "
        "updated_at = ? WHERE entity = ? AND record_id = ? AND connection_id != ? "
        "AND status = 'pending'", (why, now, entity.value, record_id, origin))


async def skip_from_elsewhere(db: AsyncDB, connection_ids: Sequence[int], why: str,
                              now: str) -> int:
    """The same for connections the records' own import never saw (added since, or
    reconnected): their pending jobs of payments that came from another connection."""
    if not connection_ids:
        return 0
    cursor = await db.execute(
        "UPDATE sync_jobs SET status = 'skipped', error_class = 'unsupported', "
        "error_code = NULL, error_message = ?, http_status = NULL, next_attempt_at = NULL, "
        f"updated_at = ? WHERE connection_id IN ({_marks(connection_ids)}) "
        "AND entity = 'payment' AND status = 'pending' AND record_id IN (SELECT o.record_id "
        "FROM origins o WHERE o.entity = 'payment' "
        "AND o.connection_id != sync_jobs.connection_id)", (why, now, *connection_ids))
    return cursor.rowcount
