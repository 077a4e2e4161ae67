"""The PostgreSQL store: one database shared by engines, servers and consoles on many hosts.

It offers what the SQLite store offers, the same way: writes on one connection per process,
serialised by an asyncio lock and wrapped in a transaction (`async with store.write() as
db:`), a whole transaction as one function (`run_write`), reads on a second connection in
autocommit (each sees what was committed when it started). Each connection is a synchronous
psycopg connection with a thread of its own, as aiosqlite gives SQLite one: a transaction of
many statements is one hand-off, and the engine's SQL code is the same for both backends.

Statements are translated once each (`engine._sql`); rows read like `sqlite3.Row`; Python
booleans are stored as 0/1 and sums come back as numbers, as SQLite gives them. Concurrency
between processes is PostgreSQL's: row locks, `FOR UPDATE SKIP LOCKED`, advisory locks.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

from ._db import AsyncCursor, Dialect, IntegrityError, Row, SyncDB
from ._errors import StoreError
from ._schema import MIGRATIONS
from ._schema_pg import EVENTS_CHANNEL, migrations
from ._sql import numbered_params, to_postgres
from ._store import Store

T = TypeVar("T")
log = logging.getLogger("syncdesk.store")

_NUMBERED = re.compile(r"\?[0-9]")
_MIGRATION_LOCK = 0x5D5C_0001
"""The advisory lock that lets one process at a time migrate a database."""


def masked(url: str) -> str:
    """`url` with its password, if any, replaced by `***`."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


class PgRow:
    """A result row as `sqlite3.Row` reads: by position, by column name, `keys()`."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: dict[str, int]) -> None:
        self._values = values
        self._names = names

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._names[key]]
            except KeyError:
                raise IndexError(f"no such column: {key}") from None
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PgRow):
            return tuple(self._values) == tuple(other._values) and self._names == other._names
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._names, self._values, strict=False))!r})"


def _rows(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], PgRow]:
    names: dict[str, int] = {}
    for index, column in enumerate(cursor.description or ()):
        names.setdefault(column.name, index)  # sqlite3.Row: the first column of a name
    return lambda values: PgRow(values, names)


class _BoolAsInt(Dumper):
    """True/False as 1/0: the schema's flags are integers, as on SQLite."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumericAsNumber(Loader):
    """SUM() of integers is NUMERIC on PostgreSQL; SQLite gives an int (or a float)."""

    format = Format.TEXT

    def load(self, data: Any) -> int | float:
        text = bytes(data)
        return float(text) if b"." in text or b"e" in text.lower() else int(text)


def _translated(sql: str, params: Any) -> tuple[str, Any]:
    if params and not isinstance(params, dict) and _NUMBERED.search(sql):
        return to_postgres(sql), numbered_params(params)
    return to_postgres(sql), params if params else ()


class _Cursor:
    """What a statement gave: its rows (all fetched at once: libpq holds them anyway)."""

    def __init__(self, rows: list[PgRow], rowcount: int) -> None:
        self._rows = rows
        self._at = 0
        self.rowcount = rowcount

    def fetchone(self) -> PgRow | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchall(self) -> list[PgRow]:
        rest = self._rows[self._at:]
        self._at = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[PgRow]:
        return iter(self.fetchall())


class _SyncConnection:
    """`SyncDB` over one psycopg connection, on the thread that owns it."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        statement, params = _translated(sql, parameters)
        with _refusals(), self.conn.cursor(row_factory=_rows) as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall() if cursor.description is not None else []
            return _Cursor(rows, cursor.rowcount)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> _Cursor:
        batch = list(parameters)
        if not batch:
            return _Cursor([], 0)
        statement, _ = _translated(sql, batch[0])
        if _NUMBERED.search(sql):
            batch = [numbered_params(params) for params in batch]
        with _refusals(), self.conn.cursor() as cursor:
            cursor.executemany(statement, batch)
            return _Cursor([], cursor.rowcount)

    def script(self, sql: str) -> None:
        """Statements as written (DDL, plpgsql bodies), no placeholders."""
        with _refusals():
            self.conn.execute(sql.encode())


class _refusals:
    """PostgreSQL's refusals as the engine knows them (`IntegrityError`, `StoreError`)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if isinstance(exc, psycopg.IntegrityError):
            raise IntegrityError(str(exc).strip()) from exc
        if isinstance(exc, psycopg.OperationalError):
            raise StoreError(f"the PostgreSQL store: {str(exc).strip()}") from exc


class _Executed:
    """`await db.execute(…)`, or `async with db.execute(…) as cursor:`."""

    def __init__(self, pending: Awaitable[AsyncCursor]) -> None:
        self._pending = pending

    def __await__(self) -> Any:
        return self._pending.__await__()

    async def __aenter__(self) -> AsyncCursor:
        return await self._pending

    async def __aexit__(self, *exc: object) -> None:
        return None


class _AsyncCursor:
    def __init__(self, cursor: _Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def fetchone(self) -> PgRow | None:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[PgRow]:
        return self._cursor.fetchall()

    def __aiter__(self) -> AsyncIterator[PgRow]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[PgRow]:
        for row in self._cursor.fetchall():
            yield row


class _Link:
    """One psycopg connection and the thread that works it."""

    def __init__(self, conn: psycopg.Connection[Any], name: str) -> None:
        self.sync = _SyncConnection(conn)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"syncdesk-pg-{name}")

    async def run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    def execute(self, sql: str, parameters: Any = (), /) -> _Executed:
        return _Executed(self._executed(sql, parameters))

    async def _executed(self, sql: str, parameters: Any) -> AsyncCursor:
        return _AsyncCursor(await self.run(lambda: self.sync.execute(sql, parameters)))

    async def executemany(self, sql: str, parameters: Iterable[Any], /) -> int:
        batch = list(parameters)
        return (await self.run(lambda: self.sync.executemany(sql, batch))).rowcount

    async def execute_fetchall(self, sql: str, parameters: Any = (), /) -> list[PgRow]:
        return await self.run(lambda: self.sync.execute(sql, parameters).fetchall())

    async def run_sync(self, work: Callable[[SyncDB], T]) -> T:
        return await self.run(lambda: work(self.sync))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Link]:
        """Committed when the block ends, rolled back if it raises."""
        await self.run(lambda: self.sync.script("BEGIN"))
        try:
            yield self
        except BaseException:
            await asyncio.shield(self.run(lambda: self.sync.script("ROLLBACK")))
            raise
        await self.run(lambda: self.sync.script("COMMIT"))

    async def close(self) -> None:
        await self.run(self.sync.conn.close)
        self._thread.shutdown()


def _connect(url: str, *, read_only: bool) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(url, autocommit=True, application_name="syncdesk")
    except psycopg.Error as exc:
        raise StoreError(f"cannot open the store {masked(url)}: {str(exc).strip()}") from exc
    conn.adapters.register_dumper(bool, _BoolAsInt)
    conn.adapters.register_loader("numeric", _NumericAsNumber)
    if read_only:
        conn.execute("SET default_transaction_read_only = on")
    return conn


class PostgresStore(Store):
    dialect: Dialect = "postgresql"

    def __init__(self, url: str, writer: _Link, reader: _Link, *, read_only: bool) -> None:
        self.path = url
        self._url = url
        self.location = masked(url)
        self.read_only = read_only
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._closed = False
        self.busy_since = None

    @classmethod
    async def connect(cls, url: str, *, read_only: bool = False,
                      upgrade: bool = False) -> PostgresStore:
        loop = asyncio.get_running_loop()
        writer = _Link(await loop.run_in_executor(None, lambda: _connect(url, read_only=False)
                                                  if upgrade or not read_only else
                                                  _connect(url, read_only=True)), "writer")
        try:
            await writer.run(lambda: _migrate(writer.sync, url,
                                              read_only=read_only and not upgrade))
            if read_only and upgrade:
                await writer.run(lambda: writer.sync.script(
                    "SET default_transaction_read_only = on"))
            reader = _Link(await loop.run_in_executor(
                None, lambda: _connect(url, read_only=read_only)), "reader")
        except BaseException:
            await writer.close()
            raise
        return cls(url, writer, reader, read_only=read_only)

    async def close(self) -> None:
        if self._closed:
            return  # as SQLite's: closing twice is closing
        self._closed = True
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[_Link]:
        async with self._write_lock, self._writer.transaction() as link:
            yield link

    @asynccontextmanager
    async def write_apart(self) -> AsyncIterator[_Link]:
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(None, lambda: _connect(self._url, read_only=False))
        link = _Link(conn, "apart")
        try:
            async with link.transaction():
                yield link
        finally:
            await link.close()

    async def run_write(self, work: Callable[[SyncDB], T]) -> T:
        async with self.write() as link:
            return await link.run_sync(work)

    async def fetch_all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
                        ) -> list[Row]:
        rows: list[Row] = list(await self._reader.execute_fetchall(sql, params))
        return rows

    async def fetch_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
                        ) -> Row | None:
        rows = await self._reader.execute_fetchall(sql, params)
        return rows[0] if rows else None

    async def explain(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[str]:
        rows = await self.fetch_all("EXPLAIN " + sql, params)
        return [str(row[0]) for row in rows]

    async def events_written(self) -> AsyncIterator[None]:
        """Once per commit that wrote events, from now on (a connection of its own, LISTENing:
        it idles without a query)."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                str(self.path), autocommit=True, application_name="syncdesk-listen")
        except psycopg.Error as exc:
            raise StoreError(f"cannot listen to {self.location}: {str(exc).strip()}") from exc
        try:
            await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            async for _ in conn.notifies():
                yield
        finally:
            await conn.close()


def _migrate(db: _SyncConnection, url: str, *, read_only: bool) -> None:
    steps = migrations()
    current = _version(db)
    if current > len(steps):
        raise StoreError(
            f"{masked(url)} was written by a newer syncdesk (schema {current}, this one "
            f"knows {len(steps)}): upgrade syncdesk to open it")
    if current == len(steps):
        return
    if read_only:
        raise StoreError(
            f"{masked(url)} is not a syncdesk store" if current == 0 else
            f"{masked(url)} has schema {current}, this syncdesk needs {len(steps)}: it is "
            "upgraded when opened for writing (`syncdesk engine run`), never read-only")
    if current == 0 and db.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
            "LIMIT 1").fetchone():
        raise StoreError(f"{masked(url)} is not a syncdesk store (a database of something "
                         "else: its schema has tables, none of them syncdesk's)")
    db.script("BEGIN")
    try:
        db.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
        # Re-read under the lock: another process may have migrated while we waited.
        current = _version(db)
        for version, script in enumerate(steps[current:], start=current + 1):
            for step in script:
                if step.params:
                    db.conn.execute(step.sql.encode(), step.params)
                else:
                    db.script(step.sql)
            db.script("CREATE TABLE IF NOT EXISTS syncdesk_schema (version BIGINT NOT NULL)")
            db.script("DELETE FROM syncdesk_schema")
            db.execute("INSERT INTO syncdesk_schema (version) VALUES (?)", (version,))
    except BaseException:
        db.script("ROLLBACK")
        raise
    db.script("COMMIT")
    log.info("migrated %s to schema %d", masked(url), len(MIGRATIONS))


def _version(db: _SyncConnection) -> int:
    if not db.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = "
                      "current_schema() AND table_name = 'syncdesk_schema'").fetchone():
        return 0
    row = db.execute("SELECT version FROM syncdesk_schema").fetchone()
    return int(row[0]) if row else 0


__all__ = ["PgRow", "PostgresStore", "masked"]
