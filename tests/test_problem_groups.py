"""The problems queue is counted as jobs change (`problem_groups`, migration 5): every write of
the engine, the outbox, an operator's requeue and a purge keeps the groups, each job's group
and the groups' oldest exactly what a GROUP BY over the jobs says, and `problems()` reads the
groups, never the jobs, unless its filter cuts into a group."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine import JobFilter, ProblemGroup, Store, SyncService
from engine._errors import Duplicate, NotFound, Transient, Validation
from engine._models import Entity
from engine._policy import Decision
from engine._port import RemoteRef
from engine._schema import MIGRATIONS
from engine._service import message_shape
from engine._status import JobStatus
from engine._store import SQLiteStore
from engine._sync_state import ClaimedJob, SyncState, purge_connection, queue_jobs, requeue
from engine._time import from_iso, to_iso

NOW = from_iso("2026-09-01T12:00:00.000000Z")

# (connection, entity, record, status, in_doubt, error_class, code, message)
JOBS: list[tuple[int, str, str, str, int, str | None, str | None, str | None]] = [
    (1, "invoice", "INV-1", "failed", 0, "validation", "6000", "Amount [/Line/0] is 10"),
    (1, "invoice", "INV-2", "failed", 0, "validation", "6000", "Amount [/Line/0] is 12"),
    (1, "invoice", "INV-3", "failed", 1, "transient", None, "No answer in 30 s"),
    (1, "invoice", "INV-4", "uncertain", 1, "transient", None, "No answer in 30 s"),
    (1, "payment", "PAY-1", "blocked", 0, None, None, "blocked by invoice INV-1"),
    (1, "payment", "PAY-2", "broken_link", 0, "not_found", "610", "Object Not Found"),
    (1, "item", "ITM-1", "skipped", 0, "unmapped", None, "item has no income account"),
    (1, "customer", "CUS-1", "pending", 0, None, None, None),
    (1, "customer", "CUS-2", "pending", 0, None, None, None),
    (1, "customer", "CUS-3", "synced", 0, None, None, None),
    (2, "invoice", "INV-1", "failed", 0, "duplicate", "6240", "Duplicate Name 'A' (id 7)"),
    (2, "invoice", "INV-2", "failed", 0, "duplicate", "6240", "Duplicate Name 'B' (id 8)"),
    (2, "payment", "PAY-1", "uncertain", 0, "transient", None, None),
]


_CONNECTION = ("INSERT INTO connections (platform, tenant_id, tenant_name, created_at, "
               "updated_at) VALUES (?, ?, ?, ?, ?)")
_JOB = ("INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, status, "
        "record_version, label, attempts, in_doubt, error_class, error_code, error_message, "
        "created_at, updated_at) VALUES (?, ?, ?, 1, 'create', ?, 1, ?, 1, ?, ?, ?, ?, ?, ?)")


def _rows() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Two connections and the jobs, each an hour older than the one before."""
    stamp = to_iso(NOW)
    return ([(p, p, p, stamp, stamp) for p in ("quickbooks", "xero")],
            [(c, e, r, s, r, d, ec, code, m, stamp, to_iso(NOW - timedelta(hours=i)))
             for i, (c, e, r, s, d, ec, code, m) in enumerate(JOBS)])


async def _seed(store: Store) -> SyncState:
    connections, jobs = _rows()
    async with store.write() as db:
        await db.executemany(_CONNECTION, connections)
        await db.executemany(_JOB, jobs)
    return SyncState(store)


class RecordingStore(SQLiteStore):
    """Remembers every query read through it."""

    read: list[str]

    async def fetch_all(self, sql: str, params: Any = ()) -> Any:
        self.read = [*getattr(self, "read", []), sql]
        return await super().fetch_all(sql, params)


async def _by_hand(store: Store) -> list[tuple[Any, ...]]:
    """The problems queue the slow way, as migration 4's GROUP BY over every job read it."""
    rows = await store.fetch_all(
        "SELECT c.platform, j.status, j.in_doubt, j.error_class, j.error_code, "
        "j.error_message, j.updated_at FROM sync_jobs j JOIN connections c "
        "ON c.id = j.connection_id WHERE j.status IN ('failed', 'blocked', 'skipped', "
        "'broken_link') OR j.in_doubt = 1")
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        kind = "in doubt" if row["in_doubt"] else row["status"]
        key = (row["platform"], kind, row["error_class"], row["error_code"],
               message_shape(row["error_message"] or "")[0])
        seen = groups.setdefault(key, [0, row["updated_at"]])
        seen[0] += 1
        seen[1] = min(seen[1], row["updated_at"])
    return sorted(((*key, n, from_iso(oldest)) for key, (n, oldest) in groups.items()), key=repr)


def _shown(groups: list[ProblemGroup]) -> list[tuple[Any, ...]]:
    return sorted(((g.platform, g.kind, g.error_class, g.error_code, g.message, g.count,
                    g.oldest) for g in groups), key=repr)


async def _agree(store: Store) -> None:
    assert await SyncState(store).drift() == []
    service = SyncService(store, actor="tester", clock=lambda: NOW)
    assert _shown(await service.problems()) == await _by_hand(store)


async def _claim(state: SyncState) -> dict[str, ClaimedJob]:
    return {job.record_id: job for job in await state.claim(1, 100, NOW + timedelta(days=1))}


async def test_the_groups_follow_every_write_of_the_engine(store: Store) -> None:
    state = await _seed(store)
    await _agree(store)
    claimed = await _claim(state)  # the one in doubt (it stays in doubt) and two pending
    assert set(claimed) == {"INV-4", "CUS-1", "CUS-2"}
    await _agree(store)
    failing = Decision(JobStatus.FAILED, in_doubt=False, counts=True)
    await state.fail(claimed["CUS-1"], failing, Validation("Email is bad", code="2050"), None,
                     NOW)
    await state.fail(claimed["CUS-2"], failing,
                     Duplicate("Duplicate Name 'C' (id 9)", code="6240"), None, NOW)
    await state.fail(claimed["INV-4"], Decision(JobStatus.UNCERTAIN, in_doubt=True,
                                                counts=True), Transient("timeout"), None, NOW)
    await _agree(store)
    await state.succeed([(claimed["CUS-1"], RemoteRef("r-1", "0", None), None)], NOW)
    await _agree(store)
    await state.settle(sent=[(await _claim(state))["INV-4"]], unsent=[], now=NOW)
    await _agree(store)
    assert set(await _claim(state)) == {"INV-4"}
    assert await state.recover_in_flight(NOW, 1) == 1
    await _agree(store)
    await state.block((await _claim(state))["INV-4"], (Entity.CUSTOMER, "CUS-2"), "CUS-2", NOW)
    synced = await store.fetch_value("SELECT id FROM sync_jobs WHERE record_id = 'CUS-3'")
    await state.mark_broken(synced, 1, Entity.CUSTOMER, "CUS-3", "Customer CUS-3",
                            NotFound("gone", code="610"), NOW)
    await _agree(store)


async def test_the_groups_follow_the_outbox_requeues_and_a_purge(store: Store) -> None:
    await _seed(store)
    async with store.write() as db:
        # A new version of a failed record coalesces into its job: it leaves its group.
        await db.execute("INSERT INTO customers (id, display_name, classification, doc, "
                         "updated_at) VALUES ('CUS-1', 'C', 'business', '{}', ?)", (to_iso(NOW),))
        await db.execute("INSERT INTO invoices (id, number, customer_id, status, currency, "
                         "total_minor, doc, updated_at) VALUES ('INV-1', 'INV-1', 'CUS-1', "
                         "'sent', 'USD', 100, '{}', ?)", (to_iso(NOW),))
    await store.run_write(lambda db: queue_jobs(db, Entity.INVOICE, "INV-1", to_iso(NOW)))
    await _agree(store)
    service = SyncService(store, actor="tester", clock=lambda: NOW)
    ids = [row["id"] for row in await store.fetch_all(
        "SELECT id FROM sync_jobs WHERE record_id IN ('INV-2', 'INV-3')")]
    assert await service.retry(ids) == 3  # groups cut in half, and one in doubt
    await _agree(store)
    assert await service.retry_matching(JobFilter(error_class="not_found")) == 1  # whole
    await _agree(store)
    assert await service.retry_matching(JobFilter()) > 0
    await _agree(store)
    async with store.write() as db:
        await requeue(db, "j.id = -1", [], to_iso(NOW))  # nothing matches: nothing moves
        await purge_connection(db, 1, "test", to_iso(NOW))
    await _agree(store)
    assert await store.fetch_value("SELECT COUNT(*) FROM problem_groups "
                                   "WHERE connection_id = 1") == 0


async def test_a_whole_group_filter_reads_the_groups_never_the_jobs(tmp_path: Path) -> None:
    store = await RecordingStore.connect(tmp_path / "s.db")
    try:
        await _seed(store)
        service = SyncService(store, actor="tester", clock=lambda: NOW)
        for query in ("", "platform:xero", "status:failed class:duplicate code:6240",
                      "doubt:yes"):
            where = JobFilter.parse(query, now=NOW)
            store.read = []
            slow = JobFilter(since=NOW - timedelta(days=1)).within(where)  # reads the jobs
            assert _shown(await service.problems(where)) == _shown(await service.problems(slow))
            plan = await store.explain(store.read[1], where.sql()[1])
            # The groups (j) may be scanned, a few hundred rows; the jobs (a) only sought.
            assert [step for step in plan if step.startswith("SCAN") and step != "SCAN j"
                    ] == [], (query, plan)
            assert "SEARCH a USING COVERING INDEX sync_jobs_problem_age (problem_group=?)" \
                in plan, (query, plan)
    finally:
        await store.close()


async def test_a_filter_that_cuts_groups_counts_only_its_jobs(store: Store) -> None:
    await _seed(store)
    service = SyncService(store, actor="tester", clock=lambda: NOW)
    for query, expected in (("entity:payment", {("quickbooks", "blocked"): 1,
                                                ("quickbooks", "broken_link"): 1}),
                            ("since:2h", {("quickbooks", "failed"): 2,
                                          ("quickbooks", "in doubt"): 1})):
        groups = await service.problems(JobFilter.parse(query, now=NOW))
        assert {(g.platform, g.kind): g.count for g in groups} == expected, query
    cut = await service.problems(JobFilter.parse("entity:invoice code:6000", now=NOW))
    whole = await service.problems(JobFilter.parse("code:6000", now=NOW))
    assert [(g.count, g.oldest) for g in cut] == [(g.count, g.oldest) for g in whole] == [
        (2, NOW - timedelta(hours=1))]


async def test_an_older_store_gets_its_groups_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    connections, jobs = _rows()
    with sqlite3.connect(path) as db:  # a store as migration 4 left it, problems in it
        for script in MIGRATIONS[:4]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 4")
        db.executemany(_CONNECTION, connections)
        db.executemany(_JOB, jobs)
    store = await Store.open(path)
    try:
        await _agree(store)
        assert await store.fetch_value("SELECT COUNT(*) FROM problem_groups") == 9
    finally:
        await store.close()
