"""A listing's window read by keyset (`engine/_pages.py`): the same rows, in the same order,
as sorting the whole listing, from either end, from any row, under every sort and filter;
along indexes (no scan, no sort of every match); and the trigram search kept by triggers."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from bench.build_store import build
from engine import Entity, JobFilter, JobRow, Sort, Store, SyncService
from engine._pages import Positions
from engine._schema import MIGRATIONS
from engine._store import SQLiteStore

JOBS = 4000
STAMP = "2026-09-01T12:00:00.000000Z"
WINDOW = 37


class RecordingStore(SQLiteStore):
    """Remembers every query, so their plans can be asked for."""

    seen: list[tuple[str, list[Any]]]

    async def fetch_all(self, sql: str, params: Any = ()) -> Any:
        self.seen.append((sql, list(params)))
        return await super().fetch_all(sql, params)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[SyncService]:
    built = await build(tmp_path / "big.db", JOBS)
    store = await RecordingStore.connect(built.path)
    store.seen = []
    yield SyncService(store, actor="test")
    await store.close()


def ordered(jobs: list[JobRow], sort: Sort) -> list[int]:
    """The listing's order worked out in Python: the key, then id, the key's way."""
    key = {
        Sort.RECENT: lambda job: (job.updated_at, job.id),
        Sort.LABEL: lambda job: (job.label, job.id),
        Sort.AMOUNT: lambda job: (job.amount if job.amount is not None else Decimal(-1),
                                  job.id),
        Sort.ATTEMPTS: lambda job: (job.attempts, job.id),
    }[sort]
    return [job.id for job in sorted(jobs, key=key, reverse=sort is not Sort.LABEL)]


FILTERS = {
    "one connection's invoices": JobFilter(connection_id=1, entity=Entity.INVOICE),
    "two statuses": JobFilter(connection_id=1, entity=Entity.INVOICE,
                              statuses=("failed", "blocked")),
    "a platform's failures": JobFilter(platform="xero", statuses=("failed",)),
    "an error class": JobFilter(connection_id=2, error_class="validation"),
    "text": JobFilter(text="0001"),
    "everything": JobFilter(),
}


@pytest.mark.parametrize("sort", list(Sort))
@pytest.mark.parametrize("name", list(FILTERS))
async def test_every_read_is_a_slice_of_the_whole_listing_in_order(
        service: SyncService, name: str, sort: Sort) -> None:
    where = FILTERS[name]
    everything = (await service.page(where, limit=JOBS * 2)).rows
    expected = ordered(everything, sort)
    assert expected, name
    total = await service.total(where)
    assert total == len(expected) == await service.count(where)

    forward: list[int] = []
    after = None
    while True:
        window = await service.rows_after(where, sort, after, limit=WINDOW)
        forward += [job.id for job in window.rows]
        if len(window.rows) < WINDOW:
            break
        after = window.cursors[-1]
    assert forward == expected

    backward: list[int] = []
    before = None
    while True:
        window = await service.rows_before(where, sort, before, limit=WINDOW)
        backward = [job.id for job in window.rows] + backward
        if len(window.rows) < WINDOW:
            break
        before = window.cursors[0]
    assert backward == expected

    for marked in (False, True):
        if marked:  # the same rows from the marks as from an OFFSET walk
            await service.prepare_jump(where, sort)
        for index in (0, 1, total // 3, total // 2 + 1, total - WINDOW, total - 1):
            window = await service.rows_at(where, sort, index, limit=WINDOW, total=total)
            start = max(0, min(index, total - WINDOW))
            assert [job.id for job in window.rows] == expected[start:start + WINDOW], index

    middle = len(expected) // 2
    again = await service.rows_after(where, sort, (await service.rows_at(
        where, sort, middle, limit=1, total=total)).cursors[0], limit=3, inclusive=True)
    assert [job.id for job in again.rows] == expected[middle:middle + 3]


async def test_a_jump_seeks_to_a_mark_and_skips_fewer_rows_than_between_marks(
        service: SyncService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Positions, "EVERY", 4)
    store = service.store
    assert isinstance(store, RecordingStore)
    where = JobFilter(platform="xero", statuses=("failed", "pending"))  # merged arms
    expected = ordered((await service.page(where, limit=JOBS * 2)).rows, Sort.RECENT)
    total = len(expected)
    assert total > 20 * 4
    await service.prepare_jump(where, Sort.RECENT)
    for index in range(0, total, total // 7):
        store.seen = []
        window = await service.rows_at(where, Sort.RECENT, index, limit=WINDOW, total=total)
        start = max(0, min(index, total - WINDOW))
        assert [job.id for job in window.rows] == expected[start:start + WINDOW], index
        read, = [(sql, params) for sql, params in store.seen if " AS k, j.id AS id" in sql]
        assert read[0].endswith("LIMIT ? OFFSET ?") and read[1][-1] < 4, read


async def test_marks_taken_before_a_change_are_not_used_after_it(
        service: SyncService) -> None:
    where = JobFilter(connection_id=1, entity=Entity.INVOICE)
    total = await service.total(where)
    await service.prepare_jump(where, Sort.RECENT)
    recent = (await service.rows_after(where, Sort.RECENT, limit=WINDOW)).rows
    moved = (await service.rows_at(where, Sort.RECENT, total // 2, limit=1, total=total)).rows
    # A retry moves a job from the middle to the top of the most recent first.
    assert await service.retry([moved[0].id]) == 1
    expected = ordered((await service.page(where, limit=JOBS * 2)).rows, Sort.RECENT)
    assert expected[0] == moved[0].id and expected[1:WINDOW] != [j.id for j in recent][:1]
    for index in (1, total // 4, total // 2 - 1, total // 2 + 1):
        window = await service.rows_at(where, Sort.RECENT, index, limit=3, total=total)
        assert [job.id for job in window.rows] == expected[index:index + 3], index


@pytest.mark.parametrize(("where", "sort"), [
    (JobFilter(connection_id=1, entity=Entity.INVOICE, statuses=("failed", "blocked")),
     Sort.RECENT),
    (JobFilter(connection_id=1, entity=Entity.INVOICE), Sort.RECENT),
    (JobFilter(connection_id=1, entity=Entity.INVOICE), Sort.LABEL),
    (JobFilter(connection_id=1, entity=Entity.INVOICE), Sort.AMOUNT),
    (JobFilter(connection_id=1, entity=Entity.INVOICE), Sort.ATTEMPTS),
    (JobFilter(connection_id=1, entity=Entity.INVOICE, statuses=("failed",)), Sort.ATTEMPTS),
    (JobFilter(platform="quickbooks", statuses=("failed", "pending")), Sort.RECENT),
    (JobFilter(), Sort.RECENT),
])
async def test_windows_are_index_ranges_never_a_sort_of_every_match(
        service: SyncService, where: JobFilter, sort: Sort) -> None:
    store = service.store
    assert isinstance(store, RecordingStore)
    first = await service.rows_after(where, sort, limit=WINDOW)
    await service.rows_after(where, sort, first.cursors[-1], limit=WINDOW)
    await service.rows_before(where, sort, limit=WINDOW)
    reads = [(sql, params) for sql, params in store.seen if sql.startswith("SELECT")
             and " AS k, j.id AS id FROM sync_jobs j" in sql]
    assert len(reads) == 3
    for sql, params in reads:
        plan = await store.explain(sql, params)
        assert not [step for step in plan if step.startswith("SCAN")
                    and not step.startswith("SCAN (subquery-")], plan
        # Arms are merged in order (MERGE (UNION ALL)); the only sort allowed is of one
        # arm's output, which its LIMIT keeps to a window, never of every match.
        for before, step in pairwise(plan):
            if "TEMP B-TREE" in step:
                assert before.startswith("SCAN (subquery-"), plan
        assert "TEMP B-TREE" not in plan[0], plan


async def test_a_text_search_goes_through_the_trigram_index(service: SyncService) -> None:
    store = service.store
    assert isinstance(store, RecordingStore)
    where = JobFilter(connection_id=1, entity=Entity.INVOICE, text="INV-0000042")
    window = await service.rows_after(where, Sort.RECENT, limit=WINDOW)
    assert [job.label for job in window.rows] == ["INV-0000042"]
    sql, params = next((sql, params) for sql, params in reversed(store.seen)
                       if "sync_jobs_text" in sql)
    plan = await store.explain(sql, params)
    assert any("VIRTUAL TABLE" in step for step in plan), plan
    assert not [step for step in plan if step.startswith("SCAN j")], plan


async def _texts(service: SyncService, text: str) -> set[str]:
    return {job.record_id for job in (await service.page(JobFilter(text=text))).rows}


async def test_the_search_index_follows_the_record_text_and_not_status_writes(
        store: Store) -> None:
    service = SyncService(store, actor="test")
    async with store.write() as db:
        await db.execute("INSERT INTO connections (platform, tenant_id, tenant_name, "
                         "created_at, updated_at) VALUES ('xero', 't', 'T', ?, ?)",
                         (STAMP, STAMP))
        await db.execute(
            "INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, "
            "status, record_version, label, customer, created_at, updated_at) VALUES "
            "(1, 'invoice', 'V-77', 2, 'create', 'pending', 1, 'INV-0077', 'Zebra Works', "
            "?, ?)", (STAMP, STAMP))
    assert await _texts(service, "zebra wo") == {"V-77"}  # any case, across words
    assert await _texts(service, "V-77") == {"V-77"}
    async with store.write() as db:
        await db.execute("UPDATE sync_jobs SET status = 'failed', attempts = 3")
    assert await _texts(service, "Zebra") == {"V-77"}
    async with store.write() as db:
        await db.execute("UPDATE sync_jobs SET customer = 'Okapi Ltd', label = 'INV-0078'")
    assert await _texts(service, "Zebra") == set() and await _texts(service, "INV-0077") == set()
    assert await _texts(service, "okapi") == {"V-77"} and await _texts(service, "0078") == {
        "V-77"}
    assert await _texts(service, "0%7") == set()  # a wildcard is a literal
    async with store.write() as db:
        await db.execute("DELETE FROM sync_jobs")
    assert await _texts(service, "okapi") == set()


async def test_the_migration_indexes_the_jobs_a_store_already_had(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    before = next(i for i, script in enumerate(MIGRATIONS) if "sync_jobs_text" in script)
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS[:before]:
            db.executescript(script)
        db.execute(f"PRAGMA user_version = {before}")
        db.execute("INSERT INTO connections (platform, tenant_id, tenant_name, created_at, "
                   "updated_at) VALUES ('xero', 't', 'T', ?, ?)", (STAMP, STAMP))
        db.execute("INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, "
                   "status, record_version, label, customer, created_at, updated_at) VALUES "
                   "(1, 'invoice', 'V-1', 2, 'create', 'failed', 1, 'INV-0001', "
                   "'Riverside Homes', ?, ?)", (STAMP, STAMP))
    db.close()
    store = await Store.open(path)
    try:
        service = SyncService(store, actor="test")
        assert await _texts(service, "riverside h") == {"V-1"}
        window = await service.rows_after(JobFilter(text="Riverside"), Sort.LABEL, limit=5)
        assert [job.record_id for job in window.rows] == ["V-1"]
    finally:
        await store.close()
