"""The store: where syncdesk keeps everything, behind one interface with two backends.

`Store.open(target)` takes a file path (the embedded default: one SQLite file in WAL mode,
shared by the engine and any number of consoles on one machine) or a `postgresql://…` URL
(one database shared by engines, servers and consoles on many machines: `engine._store_pg`).
Both hand out connections of the shapes in `engine._db`, so the engine's SQL is written once.

The SQLite backend, below:

Two connections per `Store`: writes go through one, serialised by an asyncio lock and wrapped
in `BEGIN IMMEDIATE` transactions (`async with store.write() as db:`); reads go through the
other and, thanks to WAL, see only committed data and never wait for a writer.

Another process holding the write lock (a long import, a second console's bulk retry) is
waited out, however long it takes: each try waits `BUSY_TIMEOUT_MS` inside SQLite, then the
store logs how long it has been busy and tries again. A busy store slows syncdesk down; it
never crashes it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import platformdirs

from ._db import AsyncDB, Dialect, Row, SyncDB, run_sync
from ._errors import StoreError
from ._schema import MIGRATIONS

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5_000
BUSY_REPORT_EVERY = 10.0
"""While the store stays busy, say so this often (seconds)."""
ENV_DB = "SYNCDESK_DB"
_URL = re.compile(r"([a-z][a-z0-9+.-]+):/")
"""A URL's scheme (`postgresql://…`, or `postgresql:/…` once `Path` has folded the slashes)."""
POSTGRES_SCHEMES = ("postgresql", "postgres")

log = logging.getLogger("syncdesk.store")


def default_db_path() -> Path | str:
    """`$SYNCDESK_DB` (a file path or a `postgresql://` URL), else syncdesk.db in the per-user
    data directory."""
    if env := os.environ.get(ENV_DB):
        return env if is_database_url(env) else Path(env).expanduser()
    return user_data_path()


def user_data_path() -> Path:
    """syncdesk.db in the per-user data directory."""
    return Path(platformdirs.user_data_dir("syncdesk", appauthor=False)) / "syncdesk.db"


def is_database_url(target: Path | str) -> bool:
    return _URL.match(str(target)) is not None


async def _connect(path: Path, *, read_only: bool = False) -> aiosqlite.Connection:
    if read_only:
        # mode=ro: SQLite itself refuses every write, and a missing file is not created.
        db = await aiosqlite.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True,
                                     isolation_level=None)
    else:
        db = await aiosqlite.connect(path, isolation_level=None)
    try:
        db.row_factory = aiosqlite.Row
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await db.execute("PRAGMA foreign_keys = ON")
        await _refuse_foreign(db, path)
        if read_only:
            return db
        await db.execute("PRAGMA synchronous = NORMAL")
        mode = await (await db.execute("PRAGMA journal_mode = WAL")).fetchone()
    except BaseException:
        # aiosqlite's thread is not a daemon: a connection left open keeps the process alive.
        await db.close()
        raise
    if mode is None or str(mode[0]).lower() != "wal":
        await db.close()
        raise StoreError(f"{path}: SQLite refused WAL mode (is it on a network share?)")
    return db


async def _refuse_foreign(db: aiosqlite.Connection, path: Path) -> None:
    """Schema 0 with tables is another program's database: never add ours, nor WAL, to it."""
    version = await (await db.execute("PRAGMA user_version")).fetchone()
    if version is not None and version[0] == 0 and await (
            await db.execute("SELECT 1 FROM sqlite_master")).fetchone():
        raise StoreError(f"{path} is not a syncdesk store (an SQLite database of something "
                         "else)")


class Store:
    """What every backend offers; `Store.open` picks the backend from its target."""

    dialect: Dialect
    path: Path | str
    """What `Store.open` was given: opening it again reaches the same store."""
    location: str
    """The store as people should see it (a URL's password is masked)."""
    read_only: bool
    busy_since: float | None
    """`time.monotonic()` when the current wait for the write lock began, if waiting."""

    @classmethod
    async def open(cls, path: Path | str, *, read_only: bool = False,
                   upgrade: bool = False) -> Store:
        """Open (creating if needed) and migrate the store at `path` (a file or a URL).

        `read_only` opens an existing store as it is: nothing is created or migrated, and a
        store that is not a current syncdesk store is refused. With `upgrade`, a syncdesk
        store of an older schema is migrated first (a command that only looks should not need
        an engine run after an upgrade); anything else is still refused.
        """
        if scheme := _URL.match(str(path)):
            if scheme[1] not in POSTGRES_SCHEMES:
                raise StoreError(f"{scheme[1]}://… is not a store syncdesk knows: give a "
                                 "SQLite file path or a postgresql:// URL")
            from ._store_pg import PostgresStore  # psycopg costs ~0.3 s to import
            # A URL that went through `Path` lost a slash (`postgresql:/host…`).
            url = re.sub(r"^([a-z][a-z0-9+.-]*):/+", r"\1://", str(path))
            store: Store = await PostgresStore.connect(url, read_only=read_only,
                                                       upgrade=upgrade)
            return store
        return await SQLiteStore.connect(Path(path).expanduser(), read_only=read_only,
                                         upgrade=upgrade)

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def write(self) -> AbstractAsyncContextManager[AsyncDB]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        raise NotImplementedError

    def write_apart(self) -> AbstractAsyncContextManager[AsyncDB]:
        """A write transaction for one that waits on something outside the store (a token
        refresh waits for the platform's answer): on PostgreSQL it has a connection of its
        own and holds only its own row locks while it waits, where a `write()` would hold
        the process's writer; SQLite has one writer however many connections, so there it is
        `write()`."""
        return self.write()

    async def run_write(self, work: Callable[[SyncDB], T]) -> T:
        """A write transaction whose statements run as one function on the store's own
        thread: one round trip to it for the whole transaction instead of one per statement
        and per fetch. `work` makes plain DB-API calls and must not block on anything else;
        what it raises rolls the transaction back and reaches the caller."""
        raise NotImplementedError

    async def fetch_all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
                        ) -> list[Row]:
        raise NotImplementedError

    async def fetch_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
                        ) -> Row | None:
        raise NotImplementedError

    async def fetch_value(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    async def explain(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[str]:
        """The backend's query plan for `sql`, one line per step (tests pin index use)."""
        raise NotImplementedError


class SQLiteStore(Store):
    dialect: Dialect = "sqlite"

    def __init__(self, path: Path, writer: aiosqlite.Connection,
                 reader: aiosqlite.Connection, *, read_only: bool = False) -> None:
        self.path = path
        self.location = str(path)
        self.read_only = read_only
        """Opened with `read_only=True`: SQLite refuses every write on this store."""
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self.busy_since = None

    @classmethod
    async def connect(cls, path: Path, *, read_only: bool = False,
                      upgrade: bool = False) -> SQLiteStore:
        if read_only and not path.is_file():
            raise StoreError(f"no store at {path}")
        if read_only and upgrade and 0 < await _schema_of(path) < len(MIGRATIONS):
            await (await cls.connect(path)).close()
        writer: aiosqlite.Connection | None = None
        try:
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            writer = await _connect(path, read_only=read_only)
            await _migrate(writer, path, read_only=read_only)
            reader = await _connect(path, read_only=read_only)
        except BaseException as exc:
            if writer is not None:
                await writer.close()
            if isinstance(exc, aiosqlite.OperationalError | OSError):
                raise StoreError(f"cannot open the store {path}: {exc}") from exc
            if isinstance(exc, aiosqlite.DatabaseError):
                raise StoreError(f"{path} is not a syncdesk store (SQLite: {exc})") from exc
            raise
        return cls(path, writer, reader, read_only=read_only)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._write_lock:
            db = self._writer
            await self._begin(db)
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def run_write(self, work: Callable[[SyncDB], T]) -> T:
        # One thread hand-off costs ~0.2 ms: a ledger write of one invoice was 20 of them.
        async with self.write() as db:
            return await run_sync(db, work)

    async def _begin(self, db: aiosqlite.Connection) -> None:
        reported = 0.0
        while True:
            try:
                await db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "within a transaction" in str(exc):
                    # A block cancelled while its BEGIN was still queued on aiosqlite's
                    # thread left that transaction open. Nothing of it was committed.
                    await db.execute("ROLLBACK")
                    continue
                if not _busy(exc):
                    raise
            now = time.monotonic()
            if self.busy_since is None:
                self.busy_since = now - BUSY_TIMEOUT_MS / 1000
            waited = now - self.busy_since
            if waited - reported >= BUSY_REPORT_EVERY:
                reported = waited
                log.warning("store busy %.0f s: another process holds the write lock on %s; "
                            "waiting for it", waited, self.path)
        if self.busy_since is not None:
            log.warning("store free again after %.0f s busy", time.monotonic() - self.busy_since)
            self.busy_since = None

    async def fetch_all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
                        ) -> list[Row]:
        return await self._read(lambda db: db.execute(sql, params).fetchall())

    async def fetch_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
                        ) -> Row | None:
        return await self._read(lambda db: db.execute(sql, params).fetchone())

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """A read as one function on the reader's thread: one hand-off to it, where
        aiosqlite's cursor makes three (execute, fetch, close)."""
        reader = self._reader
        return await reader._execute(work, reader._conn)  # type: ignore[no-untyped-call,no-any-return]

    async def explain(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[str]:
        rows = await self.fetch_all("EXPLAIN QUERY PLAN " + sql, params)
        return [str(row["detail"]) for row in rows]


async def _schema_of(path: Path) -> int:
    """The file's schema version (0: not a syncdesk store, or not SQLite at all)."""
    try:
        db = await _connect(path, read_only=True)
    except (aiosqlite.Error, OSError):
        return 0
    try:
        row = await (await db.execute("PRAGMA user_version")).fetchone()
        return int(row[0]) if row else 0
    except aiosqlite.Error:
        return 0
    finally:
        await db.close()


async def _migrate(db: aiosqlite.Connection, path: Path, *, read_only: bool = False) -> None:
    row = await (await db.execute("PRAGMA user_version")).fetchone()
    current = int(row[0]) if row else 0
    if current > len(MIGRATIONS):
        raise StoreError(
            f"{path} was written by a newer syncdesk (schema {current}, this one knows "
            f"{len(MIGRATIONS)}): upgrade syncdesk to open it"
        )
    if current == len(MIGRATIONS):
        return
    if read_only:
        raise StoreError(
            f"{path} is not a syncdesk store" if current == 0 else
            f"{path} has schema {current}, this syncdesk needs {len(MIGRATIONS)}: it is "
            "upgraded when opened for writing (`syncdesk engine run`), never read-only")
    await db.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the lock: another process may have migrated while we waited.
        row = await (await db.execute("PRAGMA user_version")).fetchone()
        current = int(row[0]) if row else 0
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in _statements(script):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {version}")
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _statements(script: str) -> Iterable[str]:
    """Split a migration into statements (executescript would COMMIT our transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if buffer.strip() and sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()

