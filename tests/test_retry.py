"""Operator requeues (retry, bulk retry, resync, re-link) are set-based: counted once per
statement, logged as one event per command, with in-doubt jobs still in doubt afterwards,
while every other status change is still counted and logged per row by the trigger."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from engine import JobFilter, Store, SyncService, SyncState
from engine._sync_state import requeue
from engine._time import from_iso

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-09-01T12:00:00.000000Z"
LATER = from_iso("2026-09-02T08:00:00.000000Z")

# (connection, entity, record, status, in_doubt, error_class, blocked_record)
JOBS: list[tuple[int, str, str, str, int, str | None, str | None]] = [
    (1, "invoice", "INV-1", "failed", 0, "validation", None),
    (1, "invoice", "INV-2", "failed", 1, "transient", None),  # ran out of attempts in doubt
    (1, "invoice", "INV-3", "uncertain", 1, "transient", None),
    (1, "payment", "PAY-1", "blocked", 0, None, "INV-1"),
    (1, "payment", "PAY-2", "broken_link", 0, "not_found", None),
    (1, "item", "ITM-1", "skipped", 0, "unmapped", None),
    (1, "customer", "CUS-1", "synced", 0, None, None),
    (1, "customer", "CUS-2", "pending", 0, None, None),
    (1, "customer", "CUS-3", "in_flight", 0, None, None),
    (2, "invoice", "INV-1", "failed", 0, "validation", None),
    (2, "invoice", "INV-2", "failed", 0, "duplicate", None),
    (2, "payment", "PAY-1", "uncertain", 0, "transient", None),
]


async def _seed(store: Store) -> SyncService:
    async with store.write() as db:
        for platform in ("quickbooks", "xero"):
            await db.execute(
                "INSERT INTO connections (platform, tenant_id, tenant_name, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?)", (platform, platform, platform, NOW, NOW))
        await db.executemany(
            "INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, status, "
            "record_version, label, attempts, next_attempt_at, in_doubt, error_class, "
            "error_code, error_message, blocked_entity, blocked_record, created_at, "
            "updated_at) VALUES (?, ?, ?, 1, 'create', ?, 1, ?, 3, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(c, e, r, s, r, NOW if s == "uncertain" else None, d, ec, ec and "E1",
              ec and f"{ec} went wrong", b and "invoice", b, NOW, NOW)
             for c, e, r, s, d, ec, b in JOBS])
    return SyncService(store, actor="tester", clock=lambda: LATER)


async def _counts_agree(store: Store) -> None:
    counted = {(r["connection_id"], r["entity"], r["status"]): r["n"]
               for r in await store.fetch_all("SELECT * FROM job_counts WHERE n != 0")}
    actual = {(r["connection_id"], r["entity"], r["status"]): r["n"]
              for r in await store.fetch_all("SELECT connection_id, entity, status, "
                                             "COUNT(*) AS n FROM sync_jobs GROUP BY 1, 2, 3")}
    assert counted == actual
    assert await SyncState(store).drift() == []  # the problem groups too
    assert await store.fetch_value("SELECT COUNT(*) FROM requeued_jobs") == 0


async def _jobs(store: Store) -> dict[tuple[int, str, str], dict[str, Any]]:
    return {(r["connection_id"], r["entity"], r["record_id"]): dict(r)
            for r in await store.fetch_all("SELECT * FROM sync_jobs")}


async def _events(store: Store, after: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await store.fetch_all(
        "SELECT kind, connection_id, entity, record_id, status FROM events WHERE id > ? "
        "ORDER BY id", (after,))]


async def test_bulk_retry_moves_every_failure_counts_once_and_logs_one_event(
        store: Store) -> None:
    service = await _seed(store)
    before = await service.last_event_id()
    done = await service.retry_matching(JobFilter())
    assert done == 9  # everything retryable but the synced one; pending/in-flight untouched
    jobs = await _jobs(store)
    assert jobs[1, "invoice", "INV-1"]["status"] == "pending"
    # In doubt stays in doubt: looked up before anything is created again.
    assert (jobs[1, "invoice", "INV-2"]["status"], jobs[1, "invoice", "INV-2"]["in_doubt"]) \
        == ("uncertain", 1)
    assert jobs[1, "invoice", "INV-3"]["status"] == "uncertain"
    assert jobs[2, "payment", "PAY-1"]["status"] == "uncertain"
    assert jobs[1, "payment", "PAY-2"]["lookup_first"] == 1
    assert jobs[1, "payment", "PAY-1"]["blocked_record"] is None
    assert jobs[1, "customer", "CUS-1"]["status"] == "synced"
    assert jobs[1, "customer", "CUS-3"]["status"] == "in_flight"
    for key in [(1, "invoice", "INV-1"), (1, "item", "ITM-1"), (2, "invoice", "INV-2")]:
        job = jobs[key]
        assert (job["attempts"], job["error_class"], job["error_message"],
                job["updated_at"]) == (0, None, None, "2026-09-02T08:00:00.000000Z"), key
    await _counts_agree(store)
    assert await _events(store, before) == [
        {"kind": "requeue", "connection_id": None, "entity": None, "record_id": None,
         "status": None}]
    assert await store.fetch_value("SELECT affected FROM audit WHERE command = "
                                   "'retry_matching'") == 9


async def test_a_retry_on_one_connection_names_it_in_its_event(store: Store) -> None:
    service = await _seed(store)
    before = await service.last_event_id()
    assert await service.retry_matching(JobFilter(connection_id=2, statuses=("failed",))) == 2
    assert await _events(store, before) == [
        {"kind": "requeue", "connection_id": 2, "entity": "invoice", "record_id": None,
         "status": "pending"}]
    await _counts_agree(store)


async def test_single_retry_resync_and_relink_keep_counts_true(store: Store) -> None:
    service = await _seed(store)
    ids = {(r["connection_id"], r["record_id"], r["entity"]): r["id"]
           for r in await store.fetch_all("SELECT id, connection_id, entity, record_id "
                                          "FROM sync_jobs")}
    before = await service.last_event_id()
    assert await service.retry([ids[1, "INV-2", "invoice"]]) == 1
    assert await _events(store, before) == [
        {"kind": "requeue", "connection_id": 1, "entity": "invoice", "record_id": "INV-2",
         "status": "uncertain"}]
    await _counts_agree(store)
    assert await service.resync(ids[1, "CUS-1", "customer"]) == 1
    await _counts_agree(store)
    assert await service.relink(ids[2, "INV-1", "invoice"]) == 1
    await _counts_agree(store)
    before = await service.last_event_id()
    assert await service.retry([ids[1, "CUS-2", "customer"]]) == 0  # pending: already going
    assert await _events(store, before) == []


async def test_other_status_changes_are_still_counted_and_logged_per_row(
        store: Store) -> None:
    service = await _seed(store)
    await service.retry_matching(JobFilter(statuses=("failed",)))
    before = await service.last_event_id()
    async with store.write() as db:  # as the engine's writes change status, row by row
        await db.execute("UPDATE sync_jobs SET status = 'synced', updated_at = ? "
                         "WHERE status = 'pending'", (NOW,))
    changed = await _events(store, before)
    assert len(changed) == 4 and {e["kind"] for e in changed} == {"job"}
    await _counts_agree(store)


async def test_a_requeue_finds_the_jobs_it_moves_by_rowid_never_by_a_scan(
        tmp_path: Path) -> None:
    """100,000 jobs of 1,000,000: one pass over sync_jobs (the filter's), not two. SQLite's
    plan, read through its trace hook: a file store, whichever backends the suite runs."""
    async with await Store.open(tmp_path / "s.db") as store:
        await _seed(store)
        statements: list[str] = []
        async with store.write() as db:
            await db.set_trace_callback(statements.append)
            assert await requeue(db, "j.status = 'failed'", [], NOW) == 4
            await db.set_trace_callback(None)
            # SQLite traces a statement again each time it enters a trigger for it.
            updates = {sql for sql in statements if sql.startswith("UPDATE sync_jobs")}
            assert len(updates) == 1, updates
            plan = [row[3] for row in await (await db.execute(
                "EXPLAIN QUERY PLAN " + updates.pop())).fetchall()]
    assert not [step for step in plan if step.startswith("SCAN")], plan


def test_bench_prints_in_process_and_cli_figures(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "retry.py"), "--jobs", "2000"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = {f["name"]: f for f in map(json.loads, done.stdout.splitlines())}
    failed = figures["retry.store.jobs"]["failed"]
    assert failed > 100
    for name in ("retry.enqueue_100k_ms", "retry.cli_100k_ms"):
        assert figures[name]["unit"] == "ms" and figures[name]["value"] > 0, name
        assert (figures[name]["rows"], figures[name]["events"]) == (failed, 1), name


def test_bench_breakdown_names_the_indexes_a_requeue_writes(tmp_path: Path) -> None:
    """Pages written are exact where CPU times are noise: an index the requeue never writes
    saves none of them when dropped, the listing's index by recency saves many."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "retry.py"), "--jobs", "2000",
                           "--breakdown"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = [json.loads(line) for line in done.stdout.splitlines()]
    by_name = {f["name"]: f for f in figures}
    assert len({f["rows"] for f in figures}) == 1 and figures[0]["rows"] > 100
    recency = by_name["retry.breakdown.without.sync_jobs_page_all"]["saves_pages"]
    assert recency > 10
    for untouched in ("sync_jobs_label", "sync_jobs_amount"):
        assert abs(by_name[f"retry.breakdown.without.{untouched}"]["saves_pages"]) \
            < recency / 4, untouched
    bare = by_name["retry.breakdown.without.indexes_and_triggers"]
    assert 0 < bare["pages_written"] < by_name["retry.breakdown.as_is"]["pages_written"]
