"""Job state transitions, each one write transaction: claim, succeed, fail, defer, block.

Statuses a user sees (per connection, entity and record):
- pending: due now or at `next_attempt_at` (after a back-off);
- in_flight: claimed and sent; after a crash it becomes uncertain;
- synced: the platform holds this version (`sync_links` says where);
- failed: the platform refused it, or transient failures used up every attempt;
- blocked: a record it needs failed (`blocked_entity`/`blocked_record` name it); resumes by
  itself when that one syncs;
- skipped: nothing was sent, with a fix-it reason (unmapped account, unsupported entity);
- broken_link: the remote object was deleted on the platform;
- uncertain: a write whose outcome is unknown; reconciled before anything else is sent.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from ._errors import SyncError
from ._models import Entity
from ._notify import raise_notification
from ._port import RemoteRef
from ._store import Store
from ._time import to_iso

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
    was: str
    """Status before the claim: pending or uncertain."""
    version: int
    key: str
    lookup_first: bool
    attempts: int

    @property
    def reconcile(self) -> bool:
        """The last write's outcome is unknown, or a re-link was asked for."""
        return self.was == "uncertain" or self.lookup_first

    def describe(self) -> str:
        return f"{self.entity.label} {self.label}"


@dataclass(frozen=True)
class Attempt:
    started_at: datetime
    duration_ms: int
    operation: str


async def recover_in_flight(store: Store, now: datetime) -> int:
    """After a crash: whatever was in flight may or may not have reached the platform."""
    async with store.write() as db:
        cursor = await db.execute(
            "UPDATE sync_jobs SET status = 'uncertain', updated_at = ? WHERE status = 'in_flight'",
            (to_iso(now),),
        )
        return cursor.rowcount


async def claim(store: Store, connection_id: int, limit: int, now: datetime) -> list[ClaimedJob]:
    """Mark up to `limit` due jobs in flight, uncertain ones first, then by dependency stage."""
    stamp = to_iso(now)
    async with store.write() as db:
        rows: list[aiosqlite.Row] = []
        for status, order in (("uncertain", "id"), ("pending", "stage, next_attempt_at")):
            if len(rows) >= limit:
                break
            cursor = await db.execute(
                "SELECT id, entity, record_id, label, status, record_version, idempotency_key, "
                "sent_version, lookup_first, attempts FROM sync_jobs "
                "WHERE connection_id = ? AND status = ? "
                "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
                f"ORDER BY {order} LIMIT ?",
                (connection_id, status, stamp, limit - len(rows)),
            )
            rows.extend(await cursor.fetchall())
        claimed = []
        for row in rows:
            entity = Entity(row["entity"])
            # An uncertain job keeps the key it was sent with: replaying it is the point.
            keep_key = row["status"] == "uncertain" and row["sent_version"] == row["record_version"]
            key = row["idempotency_key"] if keep_key and row["idempotency_key"] else \
                idempotency_key(connection_id, entity, row["record_id"], row["record_version"])
            await db.execute(
                "UPDATE sync_jobs SET status = 'in_flight', idempotency_key = ?, "
                "sent_version = record_version, last_attempt_at = ?, updated_at = ? "
                "WHERE id = ?", (key, stamp, stamp, row["id"]),
            )
            claimed.append(ClaimedJob(
                id=row["id"], connection_id=connection_id, entity=entity,
                record_id=row["record_id"], label=row["label"], was=row["status"],
                version=row["record_version"], key=key, lookup_first=bool(row["lookup_first"]),
                attempts=row["attempts"],
            ))
        return claimed


async def succeed(store: Store, job: ClaimedJob, ref: RemoteRef, attempt: Attempt | None,
                  now: datetime, *, outcome: str = "synced") -> None:
    await succeed_many(store, [(job, ref, attempt)], now, outcome=outcome)


async def succeed_many(store: Store, done: Sequence[tuple[ClaimedJob, RemoteRef, Attempt | None]],
                       now: datetime, *, outcome: str = "synced") -> None:
    """Link and mark synced, one transaction for a whole batch's successes."""
    stamp = to_iso(now)
    async with store.write() as db:
        for job, ref, attempt in done:
            await _succeed(db, job, ref, attempt, stamp, outcome)


async def _succeed(db: aiosqlite.Connection, job: ClaimedJob, ref: RemoteRef,
                   attempt: Attempt | None, stamp: str, outcome: str) -> None:
    await db.execute(
        "INSERT INTO sync_links (connection_id, entity, record_id, remote_id, remote_version, "
        "remote_number, synced_version, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (connection_id, entity, record_id) DO UPDATE SET "
        "remote_id = excluded.remote_id, remote_version = excluded.remote_version, "
        "remote_number = COALESCE(excluded.remote_number, remote_number), "
        "synced_version = excluded.synced_version, synced_at = excluded.synced_at",
        (job.connection_id, job.entity.value, job.record_id, ref.remote_id, ref.version,
         ref.number, job.version, stamp),
    )
    # A change that arrived while this version was in flight is pushed next.
    await db.execute(
        "UPDATE sync_jobs SET status = CASE WHEN record_version = sent_version "
        "THEN 'synced' ELSE 'pending' END, operation = CASE WHEN operation = 'create' "
        "THEN 'update' ELSE operation END, attempts = 0, next_attempt_at = NULL, "
        "lookup_first = 0, error_class = NULL, error_code = NULL, error_message = NULL, "
        "http_status = NULL, blocked_entity = NULL, blocked_record = NULL, updated_at = ? "
        "WHERE id = ?", (stamp, job.id),
    )
    await db.execute(
        "UPDATE sync_jobs SET status = 'pending', blocked_entity = NULL, "
        "blocked_record = NULL, next_attempt_at = NULL, updated_at = ? "
        "WHERE connection_id = ? AND blocked_entity = ? AND blocked_record = ? "
        "AND status = 'blocked'",
        (stamp, job.connection_id, job.entity.value, job.record_id),
    )
    await db.execute("UPDATE connections SET last_success_at = ? WHERE id = ?",
                     (stamp, job.connection_id))
    if attempt is not None:
        await _record_attempt(db, job, attempt, outcome, None, ref.remote_id)


async def fail(store: Store, job: ClaimedJob, error: SyncError, attempt: Attempt | None,
               now: datetime, *, status: str, retry_at: datetime | None = None,
               counts: bool = True, notify: str | None = None) -> None:
    """Record a failed (or skipped, or to-be-retried) attempt and put the job in `status`."""
    stamp = to_iso(now)
    async with store.write() as db:
        await db.execute(
            "UPDATE sync_jobs SET status = ?, attempts = attempts + ?, next_attempt_at = ?, "
            "error_class = ?, error_code = ?, error_message = ?, http_status = ?, "
            "updated_at = ? WHERE id = ?",
            (status, int(counts), to_iso(retry_at) if retry_at else None,
             error.error_class.value, error.code, error.message, error.http_status, stamp,
             job.id),
        )
        if attempt is not None:
            outcome = "retry" if status in ("pending", "uncertain") else status
            await _record_attempt(db, job, attempt, outcome, error, None)
        if notify:
            title = f"{job.describe()} {notify}"
            await raise_notification(db, job.connection_id, job.entity, job.record_id,
                                     kind=notify.replace(" ", "_"), title=title,
                                     message=error.message, now=stamp)


async def release(store: Store, job: ClaimedJob, now: datetime, *,
                  retry_at: datetime | None = None) -> None:
    """Give a claimed job back untouched (rate limit, paused connection): not an attempt."""
    async with store.write() as db:
        await db.execute(
            "UPDATE sync_jobs SET status = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?",
            (job.was, to_iso(retry_at) if retry_at else None, to_iso(now), job.id),
        )


async def block(store: Store, job: ClaimedJob, parent: tuple[Entity, str], parent_label: str,
                now: datetime) -> None:
    stamp = to_iso(now)
    async with store.write() as db:
        await db.execute(
            "UPDATE sync_jobs SET status = 'blocked', blocked_entity = ?, blocked_record = ?, "
            "error_class = NULL, error_code = NULL, error_message = ?, http_status = NULL, "
            "next_attempt_at = NULL, updated_at = ? WHERE id = ?",
            (parent[0].value, parent[1], f"blocked by {parent[0].label} {parent_label}", stamp,
             job.id),
        )


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> timedelta:
    """Exponential back-off with full jitter: uniform in [0, min(cap, base * 2**attempt))."""
    return timedelta(seconds=rng.uniform(0, min(cap, base * 2 ** attempt)))


async def _record_attempt(db: aiosqlite.Connection, job: ClaimedJob, attempt: Attempt,
                          outcome: str, error: SyncError | None, remote_id: str | None) -> None:
    await db.execute(
        "INSERT INTO sync_attempts (job_id, started_at, duration_ms, operation, outcome, "
        "error_class, error_code, message, http_status, remote_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (job.id, to_iso(attempt.started_at), attempt.duration_ms, attempt.operation, outcome,
         error.error_class.value if error else None, error.code if error else None,
         error.message if error else None, error.http_status if error else None, remote_id),
    )
