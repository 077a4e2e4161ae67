"""What the engine's SQL code may assume of a database connection, whichever backend holds it.

Both backends hand out connections of these shapes: the embedded SQLite store its own
`sqlite3` / `aiosqlite` objects (which already are these shapes), the PostgreSQL store thin
adapters over psycopg that translate the statement (`engine._sql`) and answer with rows that
read like `sqlite3.Row` (by position and by column name). So a module writes its SQL once, in
the dialect both accept, and never learns which database runs it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol, TypeVar

import aiosqlite

T = TypeVar("T")

Dialect = Literal["sqlite", "postgresql"]

IntegrityError = sqlite3.IntegrityError
"""What a write that breaks a constraint (UNIQUE, FOREIGN KEY, CHECK) raises on either backend:
PostgreSQL's refusals are re-raised as this type, carrying the server's message, so the engine
catches one type."""


class Row(Protocol):
    """A result row: `row[0]`, `row["name"]`, `row.keys()`, `dict(row)`."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def keys(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...


class SyncCursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class SyncDB(Protocol):
    """The connection a `Store.run_write` function works with (on the store's own thread)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> SyncCursor: ...
    def executemany(self, sql: str, parameters: Iterable[Any], /) -> SyncCursor: ...


class AsyncCursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    async def fetchone(self) -> Any: ...
    async def fetchall(self) -> Iterable[Any]: ...
    def __aiter__(self) -> AsyncIterator[Any]: ...


class Executed(Awaitable[AsyncCursor], AbstractAsyncContextManager[AsyncCursor], Protocol):
    """`await db.execute(…)` or `async with db.execute(…) as cursor:`."""


class AsyncDB(Protocol):
    """The connection a `Store.write()` block works with."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Executed: ...
    async def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any: ...
    async def execute_fetchall(self, sql: str, parameters: Any = ..., /) -> Iterable[Any]:
        """Execute and fetch in one hand-off to the connection's thread."""
        ...


async def run_sync(db: AsyncDB, work: Callable[[SyncDB], T]) -> T:
    """`work` (plain DB-API calls) on the connection of the transaction `db` is in, as one
    hand-off to that connection's thread instead of one per statement and per fetch."""
    if isinstance(db, aiosqlite.Connection):
        # aiosqlite runs every call as a function on its thread; `_execute` is that
        # primitive (it has no public name). Pinned by the aiosqlite range in pyproject.
        return await db._execute(work, db._conn)  # type: ignore[no-untyped-call,no-any-return]
    run: Callable[[Callable[[SyncDB], T]], Awaitable[T]] = db.run_sync  # type: ignore[attr-defined]
    return await run(work)


__all__ = ["AsyncCursor", "AsyncDB", "Dialect", "Executed", "IntegrityError", "Row",
           "SyncCursor", "SyncDB", "run_sync"]
