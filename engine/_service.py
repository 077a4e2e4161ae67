"""The one object a console (or the CLI) talks to: queries and operator commands.

Everything here reads and writes the store only, so it works the same whether the engine
runs in this process or in another one on the same file. Commands that change state write
the audit log with the operator's name; bulk commands are single statements.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import aiosqlite

from ._errors import ERROR_TYPES, ConfigError, ErrorClass
from ._ledger import Ledger
from ._models import Entity, Item
from ._money import from_minor
from ._status import RETRYABLE, ConnectionState, JobStatus
from ._store import Store
from ._sync_state import purge_connection, requeue, set_connection_state, unlink
from ._time import Clock, from_iso, to_iso, utcnow

Revoker = Callable[[int], Awaitable[None]]


class Sort(StrEnum):
    RECENT = "recent"
    LABEL = "label"
    AMOUNT = "amount"
    ATTEMPTS = "attempts"


_SORT_COLUMN = {
    Sort.RECENT: "j.updated_at",
    Sort.LABEL: "j.label",
    Sort.AMOUNT: "COALESCE(j.amount_minor, -1)",
    Sort.ATTEMPTS: "j.attempts",
}


@dataclass(frozen=True)
class JobFilter:
    """Which jobs: every field narrows; None/empty means any."""

    connection_id: int | None = None
    entity: Entity | None = None
    statuses: tuple[str, ...] = ()
    error_class: str | None = None
    error_code: str | None = None
    text: str | None = None
    ids: tuple[int, ...] = ()
    """Only these jobs (a console's marked rows), still narrowed by every other field."""

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.ids:
            clauses.append(f"j.id IN ({', '.join('?' for _ in self.ids)})")
            params.extend(self.ids)
        for column, value in (("j.connection_id", self.connection_id),
                              ("j.entity", self.entity.value if self.entity else None),
                              ("j.error_class", self.error_class),
                              ("j.error_code", self.error_code)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.statuses:
            clauses.append(f"j.status IN ({', '.join('?' for _ in self.statuses)})")
            params.extend(self.statuses)
        if self.text:
            pattern = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
            clauses.append("(j.label LIKE ? ESCAPE '\\' OR j.record_id LIKE ? ESCAPE '\\' "
                           "OR j.customer LIKE ? ESCAPE '\\' OR j.error_message LIKE ? "
                           "ESCAPE '\\')")
            params.extend([pattern] * 4)
        return (" AND ".join(clauses) or "1"), params

    def describe(self) -> str:
        """The scope in words, for confirmations and the audit log."""
        parts = []
        if self.ids:
            parts.append(f"{len(self.ids)} selected")
        if self.entity:
            parts.append(self.entity.label + "s")
        if self.statuses:
            parts.append("status " + "/".join(self.statuses))
        if self.error_class:
            parts.append(f"class {self.error_class}")
        if self.error_code:
            parts.append(f"code {self.error_code}")
        if self.text:
            parts.append(f"matching {self.text!r}")
        return ", ".join(parts) or "all records"


@dataclass(frozen=True)
class EntityCounts:
    entity: Entity
    by_status: dict[str, int]

    def __getitem__(self, status: str) -> int:
        return self.by_status.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True)
class ConnectionSummary:
    id: int
    platform: str
    tenant_name: str
    state: str
    state_reason: str | None
    parked_until: datetime | None
    minute_remaining: int | None
    day_remaining: int | None
    refresh_expires_at: datetime | None
    last_success_at: datetime | None
    oldest_pending_at: datetime | None
    """When the longest-waiting pending job was queued: how far behind this connection is."""
    counts: list[EntityCounts]

    def total(self, status: str) -> int:
        return sum(c[status] for c in self.counts)


@dataclass(frozen=True)
class JobRow:
    id: int
    connection_id: int
    platform: str
    entity: Entity
    record_id: str
    label: str
    customer: str | None
    amount: Decimal | None
    currency: str | None
    status: str
    operation: str
    remote_id: str | None
    attempts: int
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    error_class: str | None
    error_code: str | None
    error_message: str | None
    http_status: int | None
    blocked_by: str | None
    updated_at: datetime
    in_doubt: bool = False
    """Its last create may have reached the platform unheard: the next send looks first."""


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts (keyset pagination: no OFFSET scans)."""

    key: Any
    id: int


@dataclass(frozen=True)
class Page:
    rows: list[JobRow]
    next: Cursor | None


@dataclass(frozen=True)
class AttemptRow:
    started_at: datetime
    duration_ms: int
    operation: str
    outcome: str
    error_class: str | None
    error_code: str | None
    message: str | None
    http_status: int | None
    remote_id: str | None


@dataclass(frozen=True)
class JobDetail:
    job: JobRow
    attempts: list[AttemptRow]
    hint: str
    """What to do about the failure, by its class."""
    remote_version: str | None
    remote_number: str | None


@dataclass(frozen=True)
class NotificationRow:
    id: int
    connection_id: int
    platform: str
    entity: Entity | None
    record_id: str | None
    job_id: int | None
    kind: str
    title: str
    message: str
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class EngineBeat:
    at: datetime
    """The engine's last heartbeat, or when it stopped."""
    stopped: bool
    """It stopped cleanly (SIGTERM, Ctrl+C, --until-idle done); else it runs or crashed."""


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    connection_id: int | None
    entity: str | None
    record_id: str | None
    status: str | None


@dataclass
class SyncService:
    store: Store
    actor: str
    clock: Clock = utcnow
    read_only: bool = False
    revoker: Revoker | None = None
    """Revokes a connection's grant at its platform; given by the composition root."""
    _ledger: Ledger = field(init=False)

    def __post_init__(self) -> None:
        self._ledger = Ledger(self.store, self.clock)
        # A store opened read-only can only be read: the service says so before SQLite does.
        self.read_only = self.read_only or self.store.read_only

    # -- queries ------------------------------------------------------------------------

    async def connections(self) -> list[ConnectionSummary]:
        rows = await self.store.fetch_all(
            "SELECT c.*, t.refresh_expires_at FROM connections c "
            "LEFT JOIN tokens t ON t.connection_id = c.id ORDER BY c.id"
        )
        counts = await self.store.fetch_all(
            "SELECT connection_id, entity, status, n FROM job_counts WHERE n > 0"
        )
        by_connection: dict[int, dict[str, dict[str, int]]] = {}
        for row in counts:
            entity_counts = by_connection.setdefault(row["connection_id"], {})
            entity_counts.setdefault(row["entity"], {})[row["status"]] = row["n"]
        summaries = []
        for row in rows:
            oldest = await self.store.fetch_value(_OLDEST_PENDING, [row["id"]] * len(Entity))
            entity_counts = by_connection.get(row["id"], {})
            summaries.append(ConnectionSummary(
                id=row["id"], platform=row["platform"], tenant_name=row["tenant_name"],
                state=row["state"], state_reason=row["state_reason"],
                parked_until=_when(row["parked_until"]),
                minute_remaining=row["minute_remaining"], day_remaining=row["day_remaining"],
                refresh_expires_at=_when(row["refresh_expires_at"]),
                last_success_at=_when(row["last_success_at"]), oldest_pending_at=_when(oldest),
                counts=[EntityCounts(e, entity_counts.get(e.value, {})) for e in Entity],
            ))
        return summaries

    async def page(self, where: JobFilter, *, after: Cursor | None = None, limit: int = 100,
                   sort: Sort = Sort.RECENT, descending: bool = True) -> Page:
        clause, params = where.sql()
        column = _SORT_COLUMN[sort]
        direction, compare = ("DESC", "<") if descending else ("ASC", ">")
        if after is not None:
            clause += f" AND ({column}, j.id) {compare} (?, ?)"
            params += [after.key, after.id]
        rows = await self.store.fetch_all(
            f"{_JOB_SELECT} WHERE {clause} ORDER BY {column} {direction}, j.id {direction} "
            f"LIMIT ?", [*params, limit + 1],
        )
        jobs = [_job(row) for row in rows[:limit]]
        following = None
        if len(rows) > limit:
            last = rows[limit - 1]
            following = Cursor(last["sort_key_" + sort.value], last["id"])
        return Page(jobs, following)

    async def count(self, where: JobFilter) -> int:
        clause, params = where.sql()
        return int(await self.store.fetch_value(
            f"SELECT COUNT(*) FROM sync_jobs j WHERE {clause}", params) or 0)

    async def link_count(self, connection_id: int) -> int:
        """How many local records are linked to remote objects on this connection."""
        return int(await self.store.fetch_value(
            "SELECT COUNT(*) FROM sync_links WHERE connection_id = ?", (connection_id,)) or 0)

    async def job(self, job_id: int) -> JobDetail | None:
        row = await self.store.fetch_one(f"{_JOB_SELECT} WHERE j.id = ?", (job_id,))
        if row is None:
            return None
        attempts = await self.store.fetch_all(
            "SELECT * FROM sync_attempts WHERE job_id = ? ORDER BY id DESC LIMIT 500", (job_id,)
        )
        job = _job(row)
        hint = ""
        if job.error_class:
            hint = ERROR_TYPES[ErrorClass(job.error_class)].hint
        if job.status == "blocked":
            hint = "Waits for the record it depends on; resumes by itself once that syncs."
        if job.in_doubt:
            hint = ("Its last write may have reached the platform without an answer: before "
                    "sending again, syncdesk looks for its own copy there and links it if found. "
                    + hint).strip()
        return JobDetail(
            job=job,
            attempts=[AttemptRow(
                started_at=from_iso(a["started_at"]), duration_ms=a["duration_ms"],
                operation=a["operation"], outcome=a["outcome"], error_class=a["error_class"],
                error_code=a["error_code"], message=a["message"], http_status=a["http_status"],
                remote_id=a["remote_id"]) for a in attempts],
            hint=hint, remote_version=row["remote_version"], remote_number=row["remote_number"],
        )

    async def notifications(self, *, limit: int = 200,
                            unread_only: bool = False) -> list[NotificationRow]:
        rows = await self.store.fetch_all(
            "SELECT n.*, c.platform, j.id AS job_id FROM notifications n "
            "JOIN connections c ON c.id = n.connection_id "
            "LEFT JOIN sync_jobs j ON j.connection_id = n.connection_id "
            "AND j.entity = n.entity AND j.record_id = n.record_id "
            f"{'WHERE n.read_at IS NULL' if unread_only else ''} ORDER BY n.id DESC LIMIT ?",
            (limit,),
        )
        return [NotificationRow(
            id=r["id"], connection_id=r["connection_id"], platform=r["platform"],
            entity=Entity(r["entity"]) if r["entity"] else None,
            record_id=r["record_id"] or None, job_id=r["job_id"], kind=r["kind"],
            title=r["title"], message=r["message"], created_at=from_iso(r["created_at"]),
            read_at=_when(r["read_at"])) for r in rows]

    async def unread_count(self) -> int:
        return int(await self.store.fetch_value(
            "SELECT COUNT(*) FROM notifications WHERE read_at IS NULL") or 0)

    async def engine_heartbeat(self) -> EngineBeat | None:
        """When the engine of this store last proved alive (it beats every few seconds), and
        whether it said it stopped; None when no engine has run on it."""
        row = await self.store.fetch_one("SELECT pid, heartbeat_at FROM engine_lease WHERE id = 1")
        if row is None:
            return None
        return EngineBeat(from_iso(row["heartbeat_at"]), stopped=not row["pid"])

    async def rate_limits(self, since: datetime, *, window: int = 5000) -> dict[int, int]:
        """Rate-limited attempts (429s) per connection id since `since`, among the latest
        `window` attempts: a bounded read by primary key, cheap enough for every refresh."""
        rows = await self.store.fetch_all(
            "SELECT j.connection_id, COUNT(*) AS n FROM (SELECT job_id, started_at, outcome "
            "FROM sync_attempts ORDER BY id DESC LIMIT ?) a JOIN sync_jobs j ON j.id = a.job_id "
            "WHERE a.outcome = ? AND a.started_at >= ? GROUP BY j.connection_id",
            (window, ErrorClass.RATE_LIMITED.value, to_iso(since)))
        return {int(row["connection_id"]): int(row["n"]) for row in rows}

    async def last_event_id(self) -> int:
        return int(await self.store.fetch_value("SELECT COALESCE(MAX(id), 0) FROM events") or 0)

    async def events_since(self, event_id: int, limit: int = 1000) -> list[Event]:
        rows = await self.store.fetch_all(
            "SELECT id, kind, connection_id, entity, record_id, status FROM events "
            "WHERE id > ? ORDER BY id LIMIT ?", (event_id, limit),
        )
        return [Event(**dict(row)) for row in rows]

    async def items_missing_account(self, platform: str) -> list[Item]:
        """Items with no income account for `platform` (for the account-mapping screen)."""
        rows = await self.store.fetch_all("SELECT doc FROM items ORDER BY name")
        items = [Item.model_validate_json(row["doc"]) for row in rows]
        return [item for item in items if item.income_account_for(platform) is None]

    # -- commands -----------------------------------------------------------------------

    async def retry(self, job_ids: Sequence[int]) -> int:
        """Send these records again now (broken links are re-linked)."""
        if not job_ids:
            return 0
        marks = ", ".join("?" for _ in job_ids)
        return await self._requeue(f"j.id IN ({marks})", list(job_ids), "retry",
                                   {"job_ids": list(job_ids)[:100], "count": len(job_ids)})

    async def retry_matching(self, where: JobFilter, *, dry_run: bool = False) -> int:
        """Retry every retryable job matching `where`; with `dry_run`, only count them."""
        if where.statuses:
            statuses = tuple(s for s in where.statuses if s in RETRYABLE)
        else:
            statuses = tuple(s.value for s in RETRYABLE if s is not JobStatus.SYNCED)
        scoped = replace(where, statuses=statuses or ("-none-",))
        if dry_run:
            return await self.count(scoped)
        clause, params = scoped.sql()
        return await self._requeue(clause, params, "retry_matching",
                                   {"filter": scoped.describe()})

    async def resync(self, job_id: int) -> int:
        """Push a record again; for an invoice, also every payment of it not yet synced."""
        row = await self.store.fetch_one(
            "SELECT connection_id, entity, record_id FROM sync_jobs WHERE id = ?", (job_id,)
        )
        if row is None:
            raise ConfigError(f"no sync job {job_id}")
        clause = "j.id = ?"
        params: list[Any] = [job_id]
        if row["entity"] == Entity.INVOICE.value:
            clause = ("(j.id = ? OR (j.connection_id = ? AND j.entity = 'payment' AND "
                      "j.status != 'synced' AND j.record_id IN (SELECT source_id FROM "
                      "allocations WHERE source_entity = 'payment' AND invoice_id = ?)))")
            params = [job_id, row["connection_id"], row["record_id"]]
        return await self._requeue(clause, params, "resync", {"job_id": job_id})

    async def relink(self, job_id: int) -> int:
        """Forget the remote link: the engine finds the object by number or re-creates it."""
        self._writable()
        async with self.store.write() as db:
            row = await (await db.execute(
                "SELECT connection_id, entity, record_id FROM sync_jobs WHERE id = ?", (job_id,)
            )).fetchone()
            if row is None:
                raise ConfigError(f"no sync job {job_id}")
            await unlink(db, row["connection_id"], Entity(row["entity"]), row["record_id"])
            count = await requeue(db, "j.id = ?", [job_id], to_iso(self.clock()),
                                  lookup_first=True)
            await self._audit(db, "relink", {"job_id": job_id}, count)
        return count

    async def pause(self, connection_id: int) -> None:
        await self._set_state(connection_id, ConnectionState.PAUSED, f"paused by {self.actor}",
                              "pause", only_from=(ConnectionState.ACTIVE,))

    async def resume(self, connection_id: int) -> None:
        await self._set_state(connection_id, ConnectionState.ACTIVE, None, "resume",
                              only_from=(ConnectionState.PAUSED,))

    async def disconnect(self, connection_id: int) -> None:
        """Stop syncing; links and history stay, so reconnecting picks up where it was."""
        await self._set_state(connection_id, ConnectionState.DISCONNECTED,
                              f"disconnected by {self.actor}", "disconnect",
                              only_from=(ConnectionState.ACTIVE, ConnectionState.PAUSED,
                                         ConnectionState.NEEDS_RECONNECT))

    async def purge(self, connection_id: int) -> int:
        """Revoke at the platform, then delete every link and job of the connection."""
        self._writable()
        revoke_error = None
        if self.revoker is not None:
            try:
                await self.revoker(connection_id)
            except Exception as exc:  # still purge locally; the audit says what happened
                revoke_error = f"{type(exc).__name__}: {exc}"
        now = to_iso(self.clock())
        async with self.store.write() as db:
            reason = f"revoked and purged by {self.actor}"
            if revoke_error:
                reason += f" (revoke at the platform failed: {revoke_error})"
            purged = await purge_connection(db, connection_id, reason, now)
            await self._audit(db, "purge", {"connection_id": connection_id,
                                            "revoke_error": revoke_error}, purged)
        return purged

    async def set_income_account(self, item_id: str, platform: str, account: str) -> int:
        """Map an item to an income account on one platform and re-queue what it blocked."""
        self._writable()
        item = await self._ledger.get(Entity.ITEM, item_id)
        if not isinstance(item, Item):
            raise ConfigError(f"no item {item_id!r}")
        mapped = item.model_copy(update={"income_accounts": {**item.income_accounts,
                                                             platform: account}})
        await self._ledger.upsert([mapped])
        async with self.store.write() as db:
            count = await requeue(
                db, "j.status = 'skipped' AND j.error_class = 'unmapped' AND "
                "j.connection_id IN (SELECT id FROM connections WHERE platform = ?) AND "
                "((j.entity = 'item' AND j.record_id = ?) OR (j.entity IN "
                "('invoice', 'credit_note') AND j.record_id IN (SELECT record_id FROM "
                "document_items WHERE item_id = ?)))",
                [platform, item_id, item_id], to_iso(self.clock()),
            )
            await self._audit(db, "map_income_account", {"item": item_id, "platform": platform,
                                                          "account": account}, count)
        return count

    async def mark_read(self, notification_id: int | None = None) -> int:
        """Mark one notification (or, with None, all) as read."""
        self._writable()
        async with self.store.write() as db:
            cursor = await db.execute(
                "UPDATE notifications SET read_at = ? WHERE read_at IS NULL"
                + ("" if notification_id is None else " AND id = ?"),
                (to_iso(self.clock()),) + (() if notification_id is None else
                                            (notification_id,)),
            )
            return cursor.rowcount

    # -- plumbing -----------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise ConfigError("this console is read-only: it cannot change anything")

    async def _requeue(self, clause: str, params: list[Any], command: str,
                       scope: dict[str, Any]) -> int:
        self._writable()
        async with self.store.write() as db:
            count = await requeue(db, clause, params, to_iso(self.clock()))
            await self._audit(db, command, scope, count)
        return count

    async def _set_state(self, connection_id: int, state: ConnectionState, reason: str | None,
                         command: str, only_from: tuple[ConnectionState, ...]) -> None:
        self._writable()
        async with self.store.write() as db:
            current = await (await db.execute("SELECT state FROM connections WHERE id = ?",
                                              (connection_id,))).fetchone()
            if current is None:
                raise ConfigError(f"no connection {connection_id}")
            if current["state"] not in only_from:
                raise ConfigError(f"connection {connection_id} is {current['state']}; "
                                  f"{command} works on {' or '.join(only_from)} connections")
            await set_connection_state(db, connection_id, state, reason, to_iso(self.clock()))
            await self._audit(db, command, {"connection_id": connection_id}, 1)

    async def _audit(self, db: aiosqlite.Connection, command: str, scope: dict[str, Any],
                     affected: int) -> None:
        await db.execute(
            "INSERT INTO audit (at, actor, command, scope, affected) VALUES (?, ?, ?, ?, ?)",
            (to_iso(self.clock()), self.actor, command, json.dumps(scope), affected),
        )


# One index seek per entity (sync_jobs_page leads with connection, entity, status,
# updated_at); a single MIN over all entities would read every pending row.
_OLDEST_PENDING = "SELECT MIN(oldest) FROM (" + " UNION ALL ".join(
    f"SELECT MIN(updated_at) AS oldest FROM sync_jobs WHERE connection_id = ? "
    f"AND entity = '{entity.value}' AND status = 'pending'" for entity in Entity) + ")"

_JOB_SELECT = """
    SELECT j.*, c.platform, l.remote_id, l.remote_version, l.remote_number,
           j.updated_at AS sort_key_recent, j.label AS sort_key_label,
           COALESCE(j.amount_minor, -1) AS sort_key_amount, j.attempts AS sort_key_attempts
    FROM sync_jobs j
    JOIN connections c ON c.id = j.connection_id
    LEFT JOIN sync_links l
        ON l.connection_id = j.connection_id AND l.entity = j.entity AND l.record_id = j.record_id
"""


def _job(row: aiosqlite.Row) -> JobRow:
    currency = row["currency"]
    amount = None
    if row["amount_minor"] is not None and currency:
        amount = from_minor(row["amount_minor"], currency)
    blocked_by = None
    if row["blocked_record"]:
        blocked_by = f"{Entity(row['blocked_entity']).label} {row['blocked_record']}"
    return JobRow(
        id=row["id"], connection_id=row["connection_id"], platform=row["platform"],
        entity=Entity(row["entity"]), record_id=row["record_id"], label=row["label"],
        customer=row["customer"], amount=amount, currency=currency, status=row["status"],
        operation=row["operation"], remote_id=row["remote_id"], attempts=row["attempts"],
        last_attempt_at=_when(row["last_attempt_at"]),
        next_attempt_at=_when(row["next_attempt_at"]), error_class=row["error_class"],
        error_code=row["error_code"], error_message=row["error_message"],
        http_status=row["http_status"], blocked_by=blocked_by,
        updated_at=from_iso(row["updated_at"]), in_doubt=bool(row["in_doubt"]),
    )


def _when(value: str | None) -> datetime | None:
    return from_iso(value) if value else None
