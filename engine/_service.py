"""The one object a console (or the CLI) talks to: queries and operator commands.

Everything here reads and writes the store only, so it works the same whether the engine
runs in this process or in another one on the same file. Commands that change state write
the audit log with the operator's name; bulk commands are single statements.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from ._audit import AuditRun, DriftRow, audit_runs, drift_rows
from ._businesses import DEFAULT_BUSINESS
from ._db import AsyncDB, Row
from ._errors import ERROR_TYPES, ConfigError, ErrorClass
from ._feed import FeedState, feed_states
from ._inbound import HistoryEntry, record_history
from ._ledger import Ledger, Lifecycle
from ._mappings import (
    Choice,
    MappingChange,
    MappingEntry,
    MappingKind,
    check_key,
    check_value,
    mapping_entries,
    platform_choices,
    write_mapping,
)
from ._models import Entity, Item
from ._money import from_minor
from ._pages import (
    Key,
    Order,
    Positions,
    Scope,
    TextSample,
    keys,
    like_literal,
    text_indexed,
    text_match,
)
from ._port import Capabilities, Provider, RemoteRef
from ._status import JOB_STATUSES, RETRYABLE, ConnectionState, JobStatus
from ._store import Store
from ._sync_state import adopt, purge_connection, requeue, set_connection_state, unlink
from ._time import Clock, from_iso, to_iso, utcnow
from ._webhooks import WebhookDelivery, Webhooks

Revoker = Callable[[int], Awaitable[None]]
ProviderSource = Callable[[int], AbstractAsyncContextManager[Provider]]


class Sort(StrEnum):
    RECENT = "recent"
    LABEL = "label"
    AMOUNT = "amount"
    ATTEMPTS = "attempts"


_ORDERS = {
    Sort.RECENT: Order("j.updated_at", descending=True, by_status=True),
    Sort.LABEL: Order("j.label", descending=False, by_status=False),
    Sort.AMOUNT: Order("COALESCE(j.amount_minor, -1)", descending=True, by_status=False),
    Sort.ATTEMPTS: Order("j.attempts", descending=True, by_status=False),
}
"""How a record table orders by each sort key, along which index (migration 6)."""

_SORT_COLUMN = {
    Sort.RECENT: "j.updated_at",
    Sort.LABEL: "j.label",
    Sort.AMOUNT: "COALESCE(j.amount_minor, -1)",
    Sort.ATTEMPTS: "j.attempts",
}


PROBLEM_STATUSES: tuple[str, ...] = (
    JobStatus.FAILED, JobStatus.BLOCKED, JobStatus.SKIPPED, JobStatus.BROKEN_LINK)
"""Statuses that wait for a person (with jobs in doubt, whatever their status)."""

_NEEDS_A_PERSON = ("(j.status IN ('failed', 'blocked', 'skipped', 'broken_link') "
                   "OR j.in_doubt = 1)")
"""What `problem_groups` counts (migration 5): a job in one of them has `problem_group` set."""

_GROUP_FIELDS = frozenset({"connection_id", "platform", "statuses", "in_doubt", "error_class",
                           "error_code", "message", "business"})
"""JobFilter fields that pick whole problem groups: for them `problems` reads no job."""

QUERY_KEYS: dict[str, str] = {
    "status": "failed, blocked, …; several with commas (status:failed,blocked)",
    "class": "an error class (class:duplicate)",
    "code": "the platform's error code (code:6240)",
    "platform": "quickbooks, xero, wave or freshbooks",
    "entity": "customer, item, invoice, payment, credit_note",
    "since": "changed within this long (since:30m, 2h, 2d, 1w)",
    "doubt": "yes: jobs whose last create may have landed unheard",
}
"""The filter grammar's keys, with what each takes: for errors, help and completion."""

_QUERY_FIELD = {"status": "statuses", "class": "error_class", "code": "error_code",
                "doubt": "in_doubt"}
"""The JobFilter field of each query key not named alike."""
_TOKEN = re.compile(r'(\w+):("[^"]*"|\S*)|"([^"]*)"|(\S+)')
_SPAN = re.compile(r"(\d+)([smhdw])")
_SPAN_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class QueryError(ConfigError):
    """A filter query that cannot be read; `token` is the part at fault."""

    def __init__(self, token: str, why: str) -> None:
        super().__init__(f"{token!r}: {why}")
        self.token = token


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
    platform: str | None = None
    since: datetime | None = None
    """Changed at or after this moment."""
    in_doubt: bool | None = None
    message: str | None = None
    """A LIKE pattern of the error message: a problem group's siblings (see `problems`)."""
    business: int | None = None
    """Only the connections of this business (a service scoped to one sets it)."""

    @classmethod
    def parse(cls, query: str, *, now: datetime) -> JobFilter:
        """Read `status:failed,blocked class:duplicate code:6240 platform:xero entity:invoice
        since:2d doubt:yes free text` (the console's filter bar and `--query`); words without
        a key are searched for in the number, name, record id and customer."""
        found: dict[str, Any] = {}
        words: list[str] = []
        for match in _TOKEN.finditer(query):
            key, value, quoted, word = match.groups()
            if key is None:
                words.append(quoted if quoted is not None else word)
                continue
            token, key, value = match.group(0), key.lower(), value.strip('"')
            if key not in QUERY_KEYS:
                raise QueryError(token, f"unknown filter {key!r}; filters are "
                                 + ", ".join(f"{k}:" for k in QUERY_KEYS))
            if not value:
                raise QueryError(token, f"{key}: needs a value ({QUERY_KEYS[key]})")
            if _QUERY_FIELD.get(key, key) in found:
                raise QueryError(token, f"{key}: given twice")
            found[_QUERY_FIELD.get(key, key)] = _query_value(token, key, value, now)
        return cls(text=" ".join(words) or None, **found)

    def within(self, scope: JobFilter) -> JobFilter:
        """This filter, with every field it leaves open taken from `scope`."""
        return replace(scope, **{f.name: getattr(self, f.name) for f in fields(self)
                                 if getattr(self, f.name) not in (None, ())})

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        # A text search's few candidates come from the trigram index; an index on any other
        # column would walk every job of the connection and look each one up in them.
        j = "+j" if self.text and text_indexed(self.text) else "j"
        if self.ids:
            clauses.append(f"j.id IN ({', '.join('?' for _ in self.ids)})")
            params.extend(self.ids)
        for column, value in ((f"{j}.connection_id", self.connection_id),
                              (f"{j}.entity", self.entity.value if self.entity else None),
                              (f"{j}.error_class", self.error_class),
                              (f"{j}.error_code", self.error_code),
                              (f"{j}.in_doubt", None if self.in_doubt is None else
                               int(self.in_doubt))):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.statuses:
            clauses.append(f"{j}.status IN ({', '.join('?' for _ in self.statuses)})")
            params.extend(self.statuses)
        if self.platform is not None:
            clauses.append(f"{j}.connection_id IN (SELECT id FROM connections WHERE "
                           "platform = ?)")
            params.append(self.platform)
        if self.business is not None:
            clauses.append(f"{j}.connection_id IN (SELECT id FROM connections WHERE "
                           "business_id = ?)")
            params.append(self.business)
        if self.since is not None:
            clauses.append(f"{j}.updated_at >= ?")
            params.append(to_iso(self.since))
        if self.message is not None:
            clauses.append("j.error_message LIKE ? ESCAPE '\\'")
            params.append(self.message)
        if self.text:
            clause, values = text_match(self.text)
            clauses.append(clause)
            params.extend(values)
        return (" AND ".join(clauses) or "TRUE"), params

    def describe(self) -> str:
        """The scope in words, for confirmations and the audit log."""
        parts = []
        if self.ids:
            parts.append(f"{len(self.ids)} selected")
        if self.platform:
            parts.append(f"on {self.platform}")
        if self.entity:
            parts.append(self.entity.label + "s")
        if self.statuses:
            parts.append("status " + "/".join(self.statuses))
        if self.in_doubt is not None:
            parts.append("in doubt" if self.in_doubt else "not in doubt")
        if self.error_class:
            parts.append(f"class {self.error_class}")
        if self.error_code:
            parts.append(f"code {self.error_code}")
        if self.message is not None:
            parts.append(f"message like {self.message!r}")
        if self.since is not None:
            parts.append(f"changed since {to_iso(self.since)}")
        if self.text:
            parts.append(f"matching {self.text!r}")
        return ", ".join(parts) or "all records"


def _query_value(token: str, key: str, value: str, now: datetime) -> Any:
    """One `key:value` of a query as the JobFilter field's value; QueryError if it is not."""
    if key == "status":
        statuses = tuple(part for part in value.lower().split(",") if part)
        bad = [s for s in statuses if s not in JOB_STATUSES]
        if bad:
            raise QueryError(token, f"no status {bad[0]!r}; one of {', '.join(JOB_STATUSES)}")
        return statuses
    if key == "class":
        if value.lower() not in {c.value for c in ErrorClass}:
            raise QueryError(token, f"no error class {value!r}; one of "
                             + ", ".join(c.value for c in ErrorClass))
        return value.lower()
    if key == "entity":
        try:
            return Entity(value.lower())
        except ValueError:
            raise QueryError(token, f"no entity {value!r}; one of "
                             + ", ".join(e.value for e in Entity)) from None
    if key == "since":
        spans = _SPAN.fullmatch(value.lower())
        if spans is None:
            raise QueryError(token, "since: takes a number and s, m, h, d or w (since:2d)")
        return now - timedelta(seconds=int(spans[1]) * _SPAN_UNIT[spans[2]])
    if key == "doubt":
        if value.lower() not in ("yes", "no"):
            raise QueryError(token, "doubt: takes yes or no")
        return value.lower() == "yes"
    return value.lower() if key == "platform" else value


_VARIABLE = re.compile(r"'[^']*'|\"[^\"]*\"|\d+(?:[.,:/-]\d+)*")
"""What differs between siblings of one error: quoted names, numbers, ids, dates."""


def message_shape(message: str) -> tuple[str, str]:
    """A message with its quoted names and numbers folded, as words (`Duplicate Name '…'
    (id #)`) and as the LIKE pattern that finds its siblings."""
    shown, pattern, at = [], [], 0
    for match in _VARIABLE.finditer(message):
        literal = message[at:match.start()]
        quote = match[0][0] if match[0][0] in "'\"" else ""
        shown += [literal, f"{quote}…{quote}" if quote else "#"]
        pattern += [like_literal(literal), f"{quote}%{quote}"]
        at = match.end()
    shown.append(message[at:])
    pattern.append(like_literal(message[at:]))
    return "".join(shown), "".join(pattern)


@dataclass(frozen=True)
class ProblemGroup:
    """Jobs that need a person for the same reason: one platform, kind, class, code and
    message shape, across every connection to that platform."""

    platform: str
    kind: str
    """The status (failed, blocked, skipped, broken_link), or "in doubt"."""
    error_class: str | None
    error_code: str | None
    message: str
    """The message with names and numbers folded (`message_shape`)."""
    count: int
    oldest: datetime
    """When the longest-waiting of them last changed."""
    where: JobFilter
    """Its jobs, for a record view or a retry."""


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
class BusinessTrouble:
    """One business of the fleet, by what needs a person there."""

    id: int
    name: str
    failed: int
    needs_reconnect: int
    """Connections that cannot sync until someone signs in again."""
    waiting: int
    """Records still to reach a platform: how far behind it is."""


_FLEET = """
SELECT b.id, b.name,
    (SELECT COALESCE(SUM(jc.n), 0) FROM connections c JOIN job_counts jc
     ON jc.connection_id = c.id WHERE c.business_id = b.id AND jc.status = 'failed') AS failed,
    (SELECT COUNT(*) FROM connections c WHERE c.business_id = b.id
     AND c.state = 'needs_reconnect') AS needs_reconnect,
    (SELECT COALESCE(SUM(jc.n), 0) FROM connections c JOIN job_counts jc
     ON jc.connection_id = c.id WHERE c.business_id = b.id
     AND jc.status IN ('pending', 'in_flight', 'uncertain')) AS waiting
FROM businesses b
ORDER BY failed DESC, needs_reconnect DESC, waiting DESC, b.name
"""
"""Counts from `job_counts` (kept by triggers), so the overview reads no job."""


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
class Slice:
    """A window of a listing: its jobs in order, and each one's place (to read on from)."""

    rows: list[JobRow]
    cursors: list[Cursor]


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
    total_attempts: int = 0
    """Every attempt ever made (rate-limit waits included): `job.attempts` counts only those
    of the current round and starts again at 0 on a retry or a success."""


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


_EVENT_COLUMNS = "id, kind, connection_id, entity, record_id, status"
_TX = "CAST(tx AS text) AS at_tx"
"""psycopg has no xid8 type; its text is the number. Named apart from `tx`, which ORDER BY
would otherwise take for this text rather than the column (and sort "10" before "9")."""
_SETTLED = "tx < pg_snapshot_xmin(pg_current_snapshot())"
"""Events of transactions older than every one still running: none can commit behind them."""


@runtime_checkable
class _Notifying(Protocol):
    """A store that tells when events were committed (PostgreSQL's LISTEN)."""

    def events_written(self) -> AsyncIterator[None]: ...


@dataclass(frozen=True, order=True)
class EventCursor:
    """Where a follower of the event log stands: after every event it has read, in commit
    order. Opaque to followers: compare it, hand it back (`SyncService.events_after`).

    On PostgreSQL ids come from a sequence and transactions commit in any order, so an
    event numbered below the last one read can still appear; the cursor is (transaction
    id, event id), and only transactions older than every one still running are read, so
    nothing can later appear behind it. SQLite's single writer commits in id order: `tx`
    stays 0 there."""
    tx: int = 0
    id: int = 0


@dataclass(frozen=True)
class DayBudget:
    """A connection's daily request quota against the work waiting for it: "4,120 of 5,000
    calls left today; 2,300 records need ~60"."""

    per_day: int
    left: int
    """Calls left today (UTC): the platform's last reading if it was taken today, else the
    whole quota (the day has turned since)."""
    records: int
    """Jobs waiting to be sent: pending, in flight or uncertain."""
    calls: int
    """About how many calls they need: creates of batched entities by the batch, every other
    job one, a job in doubt two (the lookup by syncdesk's mark first). Two-step writes and
    follow-ups are not counted, hence "about"."""

    @property
    def enough(self) -> bool:
        return self.calls <= self.left


@dataclass
class SyncService:
    store: Store
    actor: str
    clock: Clock = utcnow
    read_only: bool = False
    revoker: Revoker | None = None
    """Revokes a connection's grant at its platform; given by the composition root."""
    providers: ProviderSource | None = None
    """Opens a connection's provider, to read the platform's lists a mapping is picked from;
    given by the composition root."""
    business: int | None = None
    """The business every query and command is scoped to; None: every business (a console
    over the fleet), whose ledger commands go to the default business."""
    _ledger: Ledger = field(init=False)

    def __post_init__(self) -> None:
        self._ledger = Ledger(self.store, self.clock,
                              business=DEFAULT_BUSINESS if self.business is None
                              else self.business)
        # A store opened read-only can only be read: the service says so before SQLite does.
        self.read_only = self.read_only or self.store.read_only

    # -- queries ------------------------------------------------------------------------

    async def connections(self) -> list[ConnectionSummary]:
        rows = await self.store.fetch_all(
            "SELECT c.*, t.refresh_expires_at FROM connections c "
            "LEFT JOIN tokens t ON t.connection_id = c.id WHERE ? IS NULL OR c.business_id = ? "
            "ORDER BY c.id", self._mine)
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
        clause, params = self._scoped(where).sql()
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
        clause, params = self._scoped(where).sql()
        return int(await self.store.fetch_value(
            f"SELECT COUNT(*) FROM sync_jobs j WHERE {clause}", params) or 0)

    async def problems(self, where: JobFilter = JobFilter()) -> list[ProblemGroup]:
        """Every job that needs a person (`PROBLEM_STATUSES`, or in doubt) matching `where`,
        grouped by platform, kind, class, code and message shape, largest group first.

        The store keeps these groups by exact message as jobs change (`problem_groups`,
        migration 5). A `where` that only picks whole groups (connection, platform, status,
        doubt, class, code, message) reads those few rows and one index seek each for the
        oldest; one that cuts into groups (entity, time, text, marked ids) counts its jobs
        along the group index. Folding names and numbers out of the messages is done here,
        over one row per distinct message, not per job."""
        where = self._scoped(where)
        platforms = {row["id"]: row["platform"] for row in await self.store.fetch_all(
            "SELECT id, platform FROM connections")}
        clause, params = where.sql()
        if all(getattr(where, f.name) in (None, ()) for f in fields(where)
               if f.name not in _GROUP_FIELDS):
            # The group table has the jobs' column names, so the filter reads over it as is.
            sql = ("SELECT j.*, (SELECT MIN(a.updated_at) FROM sync_jobs a "
                   f"WHERE a.problem_group = j.id) AS oldest FROM problem_groups j WHERE {clause}")
        else:
            sql = ("SELECT g.*, c.n, c.oldest FROM (SELECT j.problem_group, COUNT(*) AS n, "
                   "MIN(j.updated_at) AS oldest FROM sync_jobs j WHERE j.problem_group IS NOT "
                   f"NULL AND {clause} GROUP BY j.problem_group) c "
                   "JOIN problem_groups g ON g.id = c.problem_group")
        groups: dict[tuple[Any, ...], ProblemGroup] = {}
        for row in await self.store.fetch_all(sql, params):
            platform, doubt = platforms[row["connection_id"]], bool(row["in_doubt"])
            kind = "in doubt" if doubt else row["status"]
            error_class, error_code = row["error_class"] or None, row["error_code"] or None
            shown, pattern = message_shape(row["error_message"])
            key = (platform, kind, error_class, error_code, shown)
            oldest = from_iso(row["oldest"])
            if (seen := groups.get(key)) is not None:
                groups[key] = replace(seen, count=seen.count + row["n"],
                                      oldest=min(seen.oldest, oldest))
                continue
            scope = JobFilter(
                platform=platform, statuses=() if doubt else (row["status"],),
                in_doubt=doubt, error_class=error_class, error_code=error_code,
                message=pattern if row["error_message"] else None)
            groups[key] = ProblemGroup(platform, kind, error_class, error_code, shown,
                                       row["n"], oldest, scope.within(where))
        return sorted(groups.values(), key=lambda g: (g.platform, g.kind, g.error_class or "",
                                                      g.error_code or "", -g.count, g.message))

    async def link_count(self, connection_id: int) -> int:
        """How many local records are linked to remote objects on this connection."""
        return int(await self.store.fetch_value(
            "SELECT COUNT(*) FROM sync_links WHERE connection_id = ?", (connection_id,)) or 0)

    async def job(self, job_id: int) -> JobDetail | None:
        row = await self.store.fetch_one(
            f"{_JOB_SELECT} WHERE j.id = ? AND (? IS NULL OR c.business_id = ?)",
            (job_id, *self._mine))
        if row is None:
            return None
        attempts = await self.store.fetch_all(
            "SELECT * FROM sync_attempts WHERE job_id = ? ORDER BY id DESC LIMIT 500", (job_id,)
        )
        total = await self.store.fetch_value(
            "SELECT COUNT(*) FROM sync_attempts WHERE job_id = ?", (job_id,))
        job = _job(row)
        hint = hint_for(job)
        return JobDetail(
            job=job,
            attempts=[AttemptRow(
                started_at=from_iso(a["started_at"]), duration_ms=a["duration_ms"],
                operation=a["operation"], outcome=a["outcome"], error_class=a["error_class"],
                error_code=a["error_code"], message=a["message"], http_status=a["http_status"],
                remote_id=a["remote_id"]) for a in attempts],
            hint=hint, remote_version=row["remote_version"], remote_number=row["remote_number"],
            total_attempts=int(total or 0),
        )

    async def notifications(self, *, limit: int = 200,
                            unread_only: bool = False) -> list[NotificationRow]:
        rows = await self.store.fetch_all(
            "SELECT n.*, c.platform, j.id AS job_id FROM notifications n "
            "JOIN connections c ON c.id = n.connection_id "
            "LEFT JOIN sync_jobs j ON j.connection_id = n.connection_id "
            "AND j.entity = n.entity AND j.record_id = n.record_id "
            "WHERE (? IS NULL OR c.business_id = ?) "
            f"{'AND n.read_at IS NULL' if unread_only else ''} ORDER BY n.id DESC LIMIT ?",
            (*self._mine, limit),
        )
        return [NotificationRow(
            id=r["id"], connection_id=r["connection_id"], platform=r["platform"],
            entity=Entity(r["entity"]) if r["entity"] else None,
            record_id=r["record_id"] or None, job_id=r["job_id"], kind=r["kind"],
            title=r["title"], message=r["message"], created_at=from_iso(r["created_at"]),
            read_at=_when(r["read_at"])) for r in rows]

    async def unread_count(self) -> int:
        return int(await self.store.fetch_value(
            "SELECT COUNT(*) FROM notifications WHERE read_at IS NULL AND "
            + _OWN.format(c="connection_id"), self._mine) or 0)

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
        """The highest event id written: on PostgreSQL a lower one may still commit after it,
        so a follower reads `event_cursor` / `events_after` instead."""
        return int(await self.store.fetch_value("SELECT COALESCE(MAX(id), 0) FROM events") or 0)

    async def event_cursor(self) -> EventCursor:
        """The cursor after the last event a follower can read now: it moves whenever
        something was written (the console reloads when it does)."""
        if self.store.dialect == "postgresql":
            row = await self.store.fetch_one(
                f"SELECT {_TX}, id FROM events WHERE {_SETTLED} "
                "ORDER BY tx DESC, id DESC LIMIT 1")
            return EventCursor(int(row["at_tx"]), int(row["id"])) if row else EventCursor()
        return EventCursor(0, await self.last_event_id())

    @property
    def notified(self) -> bool:
        """Whether `events_written` tells of writes (PostgreSQL); else followers poll."""
        return isinstance(self.store, _Notifying)

    async def events_written(self) -> AsyncIterator[None]:
        """Once after each commit that wrote events, in any process, for as long as it is
        iterated; ends at once on a store that cannot tell (SQLite: poll `event_cursor`)."""
        if isinstance(self.store, _Notifying):
            async for _ in self.store.events_written():
                yield

    async def events_after(self, cursor: EventCursor, limit: int = 1000
                           ) -> tuple[list[Event], EventCursor]:
        """Up to `limit` events after `cursor`, in commit order, and the cursor after them."""
        if self.store.dialect == "postgresql":
            rows = await self.store.fetch_all(
                f"SELECT {_TX}, {_EVENT_COLUMNS} FROM events "
                f"WHERE (tx, id) > (CAST(? AS xid8), ?) AND {_SETTLED} ORDER BY tx, id "
                "LIMIT ?", (str(cursor.tx), cursor.id, limit))
        else:
            rows = await self.store.fetch_all(
                f"SELECT 0 AS at_tx, {_EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id "
                "LIMIT ?", (cursor.id, limit))
        events = [Event(*(row[f.name] for f in fields(Event))) for row in rows]
        last = rows[-1] if rows else None
        return events, EventCursor(int(last["at_tx"]), int(last["id"])) if last else cursor

    # -- commands -----------------------------------------------------------------------

    async def retry(self, job_ids: Sequence[int]) -> int:
        """Send these records again now (broken links are re-linked)."""
        if not job_ids:
            return 0
        marks = ", ".join("?" for _ in job_ids)
        return await self._requeue(f"j.id IN ({marks}) AND {_OWN.format(c='j.connection_id')}",
                                   [*job_ids, *self._mine], "retry",
                                   {"job_ids": list(job_ids)[:100], "count": len(job_ids)})

    async def retry_matching(self, where: JobFilter, *, dry_run: bool = False) -> int:
        """Retry every retryable job matching `where`; with `dry_run`, only count them."""
        if where.statuses:
            statuses = tuple(s for s in where.statuses if s in RETRYABLE)
        else:
            statuses = tuple(s.value for s in RETRYABLE if s is not JobStatus.SYNCED)
        scoped = replace(self._scoped(where), statuses=statuses or ("-none-",))
        if dry_run:
            return await self.count(scoped)
        clause, params = scoped.sql()
        return await self._requeue(clause, params, "retry_matching",
                                   {"filter": scoped.describe()})

    async def resync(self, job_id: int) -> int:
        """Push a record again; for an invoice, also every payment of it not yet synced."""
        row = await self.store.fetch_one(_JOB_OF, (job_id, *self._mine))
        if row is None:
            raise ConfigError(f"no sync job {job_id}")
        clause = "j.id = ?"
        params: list[Any] = [job_id]
        if row["entity"] == Entity.INVOICE.value:
            clause = ("(j.id = ? OR (j.connection_id = ? AND j.entity = 'payment' AND "
                      "j.status != 'synced' AND j.record_id IN (SELECT a.source_id FROM "
                      "allocations a JOIN connections c ON c.business_id = a.business_id "
                      "WHERE c.id = j.connection_id AND a.source_entity = 'payment' AND "
                      "a.invoice_id = ?)))")
            params = [job_id, row["connection_id"], row["record_id"]]
        return await self._requeue(clause, params, "resync", {"job_id": job_id})

    async def record_jobs(self, entity: Entity, record_id: str) -> list[tuple[JobRow, str | None]]:
        """One record's job on each connection (with the platform's number for it): how it
        stands everywhere, for the business's app."""
        rows = await self.store.fetch_all(
            f"{_JOB_SELECT} WHERE j.entity = ? AND j.record_id = ? AND c.business_id = ? "
            "ORDER BY j.connection_id", (entity.value, record_id, self._ledger.business))
        return [(_job(row), row["remote_number"]) for row in rows]

    async def problem_jobs(self, where: JobFilter, *, after: int = 0, limit: int = 100
                           ) -> list[JobRow]:
        """Jobs that need a person matching `where`, in id order from after `after`: the
        pages of an API client that reads them all."""
        clause, params = self._scoped(where).sql()
        rows = await self.store.fetch_all(
            f"{_JOB_SELECT} WHERE {_NEEDS_A_PERSON} AND {clause} AND j.id > ? "
            "ORDER BY j.id LIMIT ?", [*params, after, limit])
        return [_job(row) for row in rows]

    async def end_record(self, entity: Entity, record_id: str, *, unapply: bool = False,
                         delete: bool = False) -> Lifecycle:
        """Void or delete a record in the ledger, carried to every platform (`Ledger.void`)."""
        self._writable()
        return await self._ledger.void(entity, record_id, unapply=unapply, delete=delete,
                                       actor=self.actor)

    async def relink(self, job_id: int) -> int:
        """Forget the remote link: the engine looks for syncdesk's own copy by its mark, and
        links it if found, else creates the record again (`adopt` takes someone else's)."""
        self._writable()
        async with self.store.write() as db:
            row = await (await db.execute(_JOB_OF, (job_id, *self._mine))).fetchone()
            if row is None:
                raise ConfigError(f"no sync job {job_id}")
            await unlink(db, row["connection_id"], Entity(row["entity"]), row["record_id"])
            count = await requeue(db, "j.id = ?", [job_id], to_iso(self.clock()),
                                  lookup_first=True)
            await self._audit(db, "relink", {"job_id": job_id}, count)
        return count

    async def adoptable(self, job_id: int, remote_id: str) -> RemoteRef:
        """The platform's object `remote_id`, read now, as a person checks it (number,
        customer, date, total) before adopting it as this job's record."""
        row = await self.store.fetch_one(_JOB_OF, (job_id, *self._mine))
        if row is None:
            raise ConfigError(f"no sync job {job_id}")
        title = await self._connection(row["connection_id"])
        if self.providers is None:
            raise ConfigError("this console cannot reach the platforms to read the object")
        entity = Entity(row["entity"])
        async with self.providers(row["connection_id"]) as provider:
            found = await provider.fetch(entity, remote_id)
        if found is None:
            raise ConfigError(f"{title} has no {entity.label} {remote_id!r}")
        return found

    async def adopt(self, job_id: int, remote_id: str) -> RemoteRef:
        """Link the job's record to the platform object a person confirmed is its copy: the
        next push updates that object to the ledger's version instead of creating another."""
        self._writable()
        found = await self.adoptable(job_id, remote_id)
        async with self.store.write() as db:
            row = await (await db.execute(
                "SELECT connection_id, entity, record_id FROM sync_jobs WHERE id = ?",
                (job_id,))).fetchone()
            assert row is not None
            count = await adopt(db, row["connection_id"], Entity(row["entity"]),
                                row["record_id"], found, to_iso(self.clock()))
            await self._audit(db, "adopt", {"job_id": job_id, "remote_id": found.remote_id,
                                            "shown": found.shown}, count)
        return found

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
        await self._connection(connection_id)
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
                "j.connection_id IN (SELECT id FROM connections WHERE platform = ? AND "
                "business_id = ?) AND ((j.entity = 'item' AND j.record_id = ?) OR (j.entity IN "
                "('invoice', 'credit_note') AND j.record_id IN (SELECT record_id FROM "
                "document_items WHERE business_id = ? AND item_id = ?)))",
                [platform, self._ledger.business, item_id, self._ledger.business, item_id],
                to_iso(self.clock()),
            )
            await self._audit(db, "map_income_account", {"item": item_id, "platform": platform,
                                                          "account": account}, count)
        return count

    async def mark_read(self, notification_id: int | None = None) -> int:
        """Mark one notification (or, with None, all) as read."""
        self._writable()
        async with self.store.write() as db:
            cursor = await db.execute(
                "UPDATE notifications SET read_at = ? WHERE read_at IS NULL AND "
                + _OWN.format(c="connection_id")
                + ("" if notification_id is None else " AND id = ?"),
                (to_iso(self.clock()), *self._mine) + (() if notification_id is None else
                                                        (notification_id,)),
            )
            return cursor.rowcount

    # -- mapping --
    # A connection's mappings, set from a value of the platform's own lists (see _mappings).

    async def mappings(self, connection_id: int) -> list[MappingEntry]:
        """Every mapping slot of a connection with its current value (the mapping screen)."""
        await self._connection(connection_id)
        return await mapping_entries(self.store, connection_id)

    async def mapping_choices(self, connection_id: int, kind: MappingKind) -> list[Choice]:
        """The platform's own list a value of `kind` is picked from, read from the platform."""
        await self._connection(connection_id)
        if self.providers is None:
            raise ConfigError("this console cannot reach the platforms to read their lists")
        async with self.providers(connection_id) as provider:
            return await platform_choices(provider, kind)

    async def set_mapping(self, connection_id: int, kind: MappingKind, key: str | None,
                          value: str, *, choices: list[Choice] | None = None
                          ) -> MappingChange:
        """Map `key` (a local item id, tax code, …; None for a connection-wide kind) to a
        value the platform lists, and re-queue the records that waited for it.

        The value is checked against the platform's list (read now, or `choices` just read
        for a picker); one it does not know is refused with `MappingRefused`, naming the list.
        """
        self._writable()
        title = await self._connection(connection_id)
        stored_key = check_key(kind, key)
        if kind is MappingKind.INCOME_ACCOUNT and await self._ledger.get(
                Entity.ITEM, stored_key) is None:
            raise ConfigError(f"no item {stored_key!r} in the ledger to map an income account for")
        if choices is None:
            choices = await self.mapping_choices(connection_id, kind)
        choice = check_value(kind, value, choices, title)
        return await self._write_mapping(connection_id, kind, stored_key, choice)

    async def unset_mapping(self, connection_id: int, kind: MappingKind,
                            key: str | None) -> MappingChange:
        self._writable()
        await self._connection(connection_id)
        return await self._write_mapping(connection_id, kind, check_key(kind, key), None)

    async def _write_mapping(self, connection_id: int, kind: MappingKind, key: str,
                             choice: Choice | None) -> MappingChange:
        async with self.store.write() as db:
            change = await write_mapping(db, connection_id, kind, key, choice,
                                         actor=self.actor, now=to_iso(self.clock()))
            await self._audit(db, "map_set" if choice else "map_unset",
                              {"connection_id": connection_id, "kind": kind.value, "key": key,
                               "value": change.value, "previous": change.previous},
                              change.requeued)
        return change

    async def _connection(self, connection_id: int) -> str:
        """How messages name a connection; refuses one that does not exist."""
        row = await self.store.fetch_one(
            "SELECT platform, tenant_name FROM connections WHERE id = ? AND "
            "(? IS NULL OR business_id = ?)", (connection_id, *self._mine))
        if row is None:
            raise ConfigError(f"no connection {connection_id}; `syncdesk status` lists them")
        return f"{row['platform']} ({row['tenant_name']})"

    # -- budget --

    async def day_budgets(self, capabilities: Mapping[str, Capabilities]
                          ) -> dict[int, DayBudget]:
        """Per connection id, today's quota and what its waiting jobs need of it, for every
        connection whose platform has a daily limit (`capabilities` by platform name)."""
        connections = {int(row["id"]): row for row in await self.store.fetch_all(
            "SELECT id, platform, day_remaining, quota_at FROM connections "
            "WHERE ? IS NULL OR business_id = ?", self._mine)}
        quotas = {connection_id: limits for connection_id, row in connections.items()
                  if (limits := capabilities.get(row["platform"])) is not None
                  and limits.limits.per_day is not None}
        if not quotas:
            return {}
        waiting = (JobStatus.PENDING.value, JobStatus.IN_FLIGHT.value,
                   JobStatus.UNCERTAIN.value)
        marks = ", ".join("?" for _ in quotas)
        rows = await self.store.fetch_all(
            "SELECT connection_id, entity, operation, status = ? AS doubt, COUNT(*) AS n "
            f"FROM sync_jobs WHERE connection_id IN ({marks}) AND status IN (?, ?, ?) "
            "GROUP BY connection_id, entity, operation, doubt",
            (JobStatus.UNCERTAIN.value, *quotas, *waiting))
        records: dict[int, int] = dict.fromkeys(quotas, 0)
        calls: dict[int, int] = dict.fromkeys(quotas, 0)
        for row in rows:
            connection_id, n = int(row["connection_id"]), int(row["n"])
            caps = quotas[connection_id]
            records[connection_id] += n
            size = caps.limits.batch_size
            if row["doubt"]:
                calls[connection_id] += 2 * n
            elif row["operation"] == "create" and Entity(row["entity"]) in caps.batched \
                    and size > 1:
                calls[connection_id] += -(-n // size)
            else:
                calls[connection_id] += n
        today = self.clock().date()
        budgets = {}
        for connection_id, caps in quotas.items():
            per_day = caps.limits.per_day
            assert per_day is not None
            row = connections[connection_id]
            read_at = _when(row["quota_at"])
            fresh = row["day_remaining"] is not None and read_at is not None \
                and read_at.date() == today
            budgets[connection_id] = DayBudget(
                per_day=per_day, left=int(row["day_remaining"]) if fresh else per_day,
                records=records[connection_id], calls=calls[connection_id])
        return budgets

    # -- webhooks --

    # -- business --

    async def fleet(self) -> list[BusinessTrouble]:
        """Every business, the most trouble first: failed records, then connections that
        need a reconnect, then records still waiting."""
        return [BusinessTrouble(**dict(row)) for row in await self.store.fetch_all(_FLEET)]

    def scoped_to(self, business: int | None) -> SyncService:
        """The same service over one business (None: every business)."""
        return replace(self, business=business)

    async def webhook_deliveries(self, *, failed_only: bool = False,
                                 limit: int = 200) -> list[WebhookDelivery]:
        """The webhook delivery log, newest first (`syncdesk webhook deliveries`)."""
        return await Webhooks(self.store, self.clock, business=self._ledger.business
                              ).deliveries(failed_only=failed_only, limit=limit)

    # -- drift --
    # What the last drift audit of each connection found (`_audit`; `syncdesk audit` runs it).

    async def drift(self, connection_id: int | None = None) -> list[DriftRow]:
        """The records whose platform state differs from the ledger, field by field."""
        return await drift_rows(self.store, connection_id)

    async def audit_runs(self) -> list[AuditRun]:
        """When each connection was last audited, and what that run found."""
        return await audit_runs(self.store)

    # -- feed --
    # What the way back kept: a record's contact edits that met other ledger values.

    async def record_history(self, entity: Entity, record_id: str) -> list[HistoryEntry]:
        """Each platform edit of the record that differed from the ledger, oldest first:
        which side won (the later change) and both values (`syncdesk history`)."""
        return await record_history(self.store, entity, record_id, self._ledger.business)

    async def feed_states(self) -> list[FeedState]:
        """Where each connection's feed of each entity stands: last read, due, last error
        (`syncdesk feed status`)."""
        return await feed_states(self.store)

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
            current = await (await db.execute(
                "SELECT state FROM connections WHERE id = ? AND (? IS NULL OR business_id = ?)",
                (connection_id, *self._mine))).fetchone()
            if current is None:
                raise ConfigError(f"no connection {connection_id}")
            if current["state"] not in only_from:
                raise ConfigError(f"connection {connection_id} is {current['state']}; "
                                  f"{command} works on {' or '.join(only_from)} connections")
            await set_connection_state(db, connection_id, state, reason, to_iso(self.clock()))
            await self._audit(db, command, {"connection_id": connection_id}, 1)

    async def _audit(self, db: AsyncDB, command: str, scope: dict[str, Any],
                     affected: int) -> None:
        await db.execute(
            "INSERT INTO audit (business_id, at, actor, command, scope, affected) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (self._ledger.business, to_iso(self.clock()), self.actor, command,
             json.dumps(scope), affected),
        )

    @property
    def _mine(self) -> tuple[int | None, int | None]:
        """The parameters of an `(? IS NULL OR … business_id = ?)` scope."""
        return self.business, self.business

    def _scoped(self, where: JobFilter) -> JobFilter:
        return where if self.business is None else replace(where, business=self.business)

    # -- table --------------------------------------------------------------------------
    # A record table of any length reads only the window on screen (see `_pages`).

    _texts: TextSample = field(init=False, default_factory=TextSample, repr=False)
    """Trigram frequencies, read once, that pick a text search's shortest doclists."""
    _positions: Positions = field(init=False, default_factory=Positions, repr=False)
    """Every `Positions.EVERY`th key of the listings last jumped in: row N without an OFFSET
    walk."""

    async def rows_after(self, where: JobFilter, sort: Sort, after: Cursor | None = None, *,
                         limit: int, inclusive: bool = False) -> Slice:
        """The first `limit` jobs of the listing, or those after `after` (with it if
        `inclusive`)."""
        scope, order = await self._listing(where, sort)
        return await self._slice(await keys(
            self.store, scope, order, limit=limit, after=_key(after), inclusive=inclusive))

    async def rows_before(self, where: JobFilter, sort: Sort, before: Cursor | None = None, *,
                          limit: int) -> Slice:
        """The last `limit` jobs of the listing, or those just before `before`, in order."""
        scope, order = await self._listing(where, sort)
        return await self._slice(await keys(
            self.store, scope, order, limit=limit, after=_key(before), backwards=True))

    async def rows_at(self, where: JobFilter, sort: Sort, index: int, *, limit: int,
                      total: int) -> Slice:
        """`limit` jobs from row `index` (0-based) of a listing `total` long, skipped to from
        whichever end is nearer."""
        scope, order = await self._listing(where, sort)
        index = max(0, min(index, total - limit))
        if marked := self._positions.at(scope, order, await self.event_cursor(), index):
            found = await keys(self.store, scope, order, limit=limit, after=marked[0],
                               inclusive=True, offset=marked[1])
        elif index <= total - index - limit:
            found = await keys(self.store, scope, order, limit=limit, offset=index)
        else:
            found = await keys(self.store, scope, order, limit=limit, backwards=True,
                               offset=total - index - limit)
        return await self._slice(found)

    async def total(self, where: JobFilter) -> int:
        """How many jobs `where` lists: from `job_counts` when it names only connections,
        entities and statuses, else counted along the index of the rest."""
        scope, _ = await self._listing(where, Sort.RECENT)
        clause, params = scope.where
        narrowed = replace(where, connection_id=None, entity=None, statuses=(), platform=None,
                           business=None)
        table = "sync_jobs" if narrowed != JobFilter() else "job_counts"
        return int(await self.store.fetch_value(
            f"SELECT {'COUNT(*)' if table == 'sync_jobs' else 'COALESCE(SUM(n), 0)'} "
            f"FROM {table} j WHERE {clause}", params) or 0)

    async def prepare_jump(self, where: JobFilter, sort: Sort) -> None:
        """Mark the listing for `rows_at` (one walk of its index), unless it is marked as of
        the store's last event."""
        scope, order = await self._listing(where, sort)
        await self._positions.mark(self.store, scope, order, await self.event_cursor())

    async def prepare_search(self) -> None:
        """Read what a text search needs before its first query (~2,000 jobs' texts)."""
        await self._texts.read(self.store)

    async def _listing(self, where: JobFilter, sort: Sort) -> tuple[Scope, Order]:
        """`where` as the lists the indexes lead with (connections, entities, statuses) and
        the rest, for a merge that keeps the index order (`_pages.keys`)."""
        where = self._scoped(where)
        connections = [int(row["id"]) for row in await self.store.fetch_all(
            "SELECT id FROM connections WHERE (? IS NULL OR id = ?) AND (? IS NULL OR "
            "platform = ?) AND (? IS NULL OR business_id = ?) ORDER BY id",
            (where.connection_id, where.connection_id, where.platform, where.platform,
             where.business, where.business))] or [0]
        entities = [where.entity.value] if where.entity else [e.value for e in Entity]
        clause, params = replace(where, connection_id=None, entity=None, statuses=(),
                                 platform=None, text=None, business=None).sql()
        by_text = False
        if where.text:
            text, values, by_text = await self._texts.match(self.store, where.text)
            clause, params = f"{clause} AND {text}", [*params, *values]
        return (Scope(connections, entities, where.statuses, clause, params, by_text),
                _ORDERS[sort])

    async def _slice(self, found: list[Key]) -> Slice:
        if not found:
            return Slice([], [])
        ids = [job_id for _, job_id in found]
        rows = await self.store.fetch_all(
            f"{_JOB_SELECT} WHERE j.id IN ({', '.join('?' for _ in ids)})", ids)
        by_id = {row["id"]: _job(row) for row in rows}
        kept = [(key, job_id) for key, job_id in found if job_id in by_id]
        return Slice([by_id[job_id] for _, job_id in kept],
                     [Cursor(key, job_id) for key, job_id in kept])



# One index seek per entity (sync_jobs_page leads with connection, entity, status,
# updated_at); a single MIN over all entities would read every pending row.
_OLDEST_PENDING = "SELECT MIN(oldest) FROM (" + " UNION ALL ".join(
    f"SELECT MIN(updated_at) AS oldest FROM sync_jobs WHERE connection_id = ? "
    f"AND entity = '{entity.value}' AND status = 'pending'" for entity in Entity) + ") pending"

_OWN = "(? IS NULL OR {c} IN (SELECT id FROM connections WHERE business_id = ?))"
"""A business's scope of a connection column; its parameters are `SyncService._mine`."""

_JOB_OF = ("SELECT connection_id, entity, record_id FROM sync_jobs WHERE id = ? AND "
           + _OWN.format(c="connection_id"))

_JOB_SELECT = """
    SELECT j.*, c.platform, l.remote_id, l.remote_version, l.remote_number,
           j.updated_at AS sort_key_recent, j.label AS sort_key_label,
           COALESCE(j.amount_minor, -1) AS sort_key_amount, j.attempts AS sort_key_attempts
    FROM sync_jobs j
    JOIN connections c ON c.id = j.connection_id
    LEFT JOIN sync_links l
        ON l.connection_id = j.connection_id AND l.entity = j.entity AND l.record_id = j.record_id
"""


def hint_for(job: JobRow) -> str:
    """What a person can do about the job's state, in words that are true for it."""
    hint = ""
    if job.error_class:
        hint = ERROR_TYPES[ErrorClass(job.error_class)].hint
    if job.status == "blocked":
        hint = "Waits for the record it depends on; resumes by itself once that syncs."
    if job.in_doubt:
        hint = ("Its last write may have reached the platform without an answer: before "
                "sending again, syncdesk looks for its own copy there and links it if found. "
                + hint).strip()
    return hint


def _job(row: Row) -> JobRow:
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


def _key(cursor: Cursor | None) -> Key | None:
    return None if cursor is None else (cursor.key, cursor.id)


def _when(value: str | None) -> datetime | None:
    return from_iso(value) if value else None
