"""`--read-only` is strict: the file is opened as it is, and nothing in it changes.

A read-only store is never created, migrated or switched to WAL; a file that is not a
syncdesk store is refused in one line; the console's refusals are said, never silent.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from engine import ConfigError, Store, StoreError, SyncService


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_read_only_store_reads_and_sqlite_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    await (await Store.open(path)).close()
    store = await Store.open(path, read_only=True)
    try:
        assert store.read_only
        assert await store.fetch_value("SELECT COUNT(*) FROM connections") == 0
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            async with store.write() as db:
                await db.execute("INSERT INTO settings (key, value) VALUES ('k', 'v')")
    finally:
        await store.close()


@pytest.mark.parametrize("content", [b"", b"not a database " * 100], ids=["empty", "text"])
async def test_read_only_refuses_a_file_that_is_no_store_and_leaves_it(
        tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="is not a syncdesk store"):
        await Store.open(path, read_only=True)
    assert path.read_bytes() == content


async def test_a_foreign_sqlite_database_never_gains_our_schema(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE recipes (name TEXT)")
    before = digest(path)
    for read_only in (True, False):
        with pytest.raises(StoreError, match="not a syncdesk store"):
            await Store.open(path, read_only=read_only)
    assert digest(path) == before


async def test_read_only_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        await Store.open(tmp_path / "missing.db", read_only=True)
    assert not list(tmp_path.iterdir())


async def test_read_only_keeps_the_journal_mode_and_every_byte(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    await (await Store.open(path)).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = DELETE")
    before = digest(path)
    store = await Store.open(path, read_only=True)
    try:
        assert await store.fetch_value("PRAGMA journal_mode") == "delete"
    finally:
        await store.close()
    assert digest(path) == before


async def test_a_read_only_service_leaves_notifications_unread(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    await (await Store.open(path)).close()
    store = await Store.open(path, read_only=True)
    try:
        service = SyncService(store, actor="test")
        assert service.read_only
        with pytest.raises(ConfigError, match="read-only"):
            await service.mark_read(None)
    finally:
        await store.close()


async def test_a_read_only_store_follows_a_writer_on_the_same_file(tmp_path: Path) -> None:
    """The read-only console watches a live engine: WAL readers see each commit."""
    path = tmp_path / "s.db"
    writer = await Store.open(path)
    reader = await Store.open(path, read_only=True)
    try:
        for n in (1, 2):
            async with writer.write() as db:
                await db.execute("INSERT INTO settings (key, value) VALUES (?, 'v')", (f"k{n}",))
            assert await reader.fetch_value("SELECT COUNT(*) FROM settings") == n
    finally:
        await reader.close()
        await writer.close()
