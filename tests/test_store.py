"""The store file: migrations, WAL, refusal of newer files, and index-only hot queries."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from engine import JobFilter, Store, StoreError
from engine._schema import MIGRATIONS
from engine._service import _OLDEST_PENDING


async def test_new_file_is_migrated_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "new" / "s.db")
    assert await store.fetch_value("PRAGMA user_version") == len(MIGRATIONS)
    assert await store.fetch_value("PRAGMA journal_mode") == "wal"
    assert await store.fetch_value("PRAGMA foreign_keys") == 1
    await store.close()


async def test_existing_file_opens_again_without_change(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = await Store.open(path)
    async with store.write() as db:
        await db.execute("INSERT INTO settings (key, value) VALUES ('k', 'v')")
    await store.close()
    store = await Store.open(path)
    assert await store.fetch_value("SELECT value FROM settings WHERE key = 'k'") == "v"
    await store.close()


async def test_an_older_file_is_migrated_forward(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # a version-0 file: what an interrupted first run leaves
    store = await Store.open(path)
    assert await store.fetch_value("PRAGMA user_version") == len(MIGRATIONS)
    await store.close()


async def test_a_newer_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer syncdesk"):
        await Store.open(path)


async def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just text " * 100)
    with pytest.raises(StoreError, match="not a syncdesk store"):
        await Store.open(path)


async def test_a_failed_write_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.write() as db:
            await db.execute("INSERT INTO settings (key, value) VALUES ('half', 'written')")
            raise RuntimeError("crash mid-transaction")
    assert await store.fetch_value("SELECT COUNT(*) FROM settings") == 0


async def test_dashboard_counts_and_pages_are_index_searches(store: Store) -> None:
    """No hot console query may scan sync_jobs (1,000,000 rows in production)."""
    clause, params = JobFilter(connection_id=1, entity=None, statuses=("failed",)).sql()
    queries = {
        "counts": ("SELECT connection_id, entity, status, n FROM job_counts "
                   "WHERE connection_id = ?", [1]),
        "page": ("SELECT * FROM sync_jobs j WHERE j.connection_id = ? AND j.entity = ? AND "
                 "j.status = ? ORDER BY j.updated_at DESC, j.id DESC LIMIT 100",
                 [1, "invoice", "failed"]),
        "page after cursor": (
            "SELECT * FROM sync_jobs j WHERE j.connection_id = ? AND j.entity = ? "
            "AND (j.updated_at, j.id) < (?, ?) ORDER BY j.updated_at DESC, j.id DESC LIMIT 100",
            [1, "invoice", "2026-09-01", 10**6]),
        "due jobs": ("SELECT id FROM sync_jobs WHERE connection_id = ? AND status = 'pending' "
                     "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
                     "ORDER BY stage, next_attempt_at LIMIT 40", [1, "2026-09-01"]),
        "filter count": (f"SELECT COUNT(*) FROM sync_jobs j WHERE {clause}", params),
        "oldest pending": (_OLDEST_PENDING, [1] * 5),
    }
    for name, (sql, args) in queries.items():
        plan = await store.explain(sql, args)
        assert not any(step.startswith("SCAN") for step in plan), (name, plan)
        assert not any("TEMP B-TREE" in step for step in plan), (name, plan)


async def test_a_write_cancelled_at_its_begin_does_not_wedge_the_store(store: Store) -> None:
    import asyncio

    async def write() -> None:
        async with store.write() as db:
            await db.execute("INSERT INTO settings (key, value) VALUES ('lost', 'x')")

    for _ in range(20):  # cancel at every point the event loop offers, BEGIN included
        task = asyncio.create_task(write())
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        async with store.write() as db:
            await db.execute("DELETE FROM settings")
    assert await store.fetch_value("SELECT COUNT(*) FROM settings") == 0


@pytest.mark.parametrize("url", ["mysql://syncdesk@db.internal/books",
                                 Path("sqlserver://db/books")])
async def test_a_url_of_another_database_is_refused_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str | Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=r"(mysql|sqlserver)://… is not a store syncdesk knows"):
        await Store.open(url)
    assert list(tmp_path.iterdir()) == []


async def test_an_unreachable_postgresql_store_is_named_without_its_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=r"cannot open the store "
                       r"postgresql://syncdesk:\*\*\*@127\.0\.0\.1:9/books") as raised:
        await Store.open("postgresql://syncdesk:hunter2@127.0.0.1:9/books?connect_timeout=2")
    assert "hunter2" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgresql
async def test_a_postgresql_url_folded_by_a_path_opens_that_database(postgres: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS folded")
        admin.execute("CREATE DATABASE folded")
    # `--db` is parsed as a Path, which folds `postgresql://` into `postgresql:/`.
    async with await Store.open(Path(postgres.rsplit("/", 1)[0] + "/folded")) as store:
        assert store.dialect == "postgresql"
        assert await store.fetch_value("SELECT current_database()") == "folded"
