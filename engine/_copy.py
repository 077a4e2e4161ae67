"""Moving a store between backends, and reading which schema a store has.

`copy_store` moves an embedded SQLite store into an empty PostgreSQL database as one
transaction on the target: every table's rows in dependency order (COPY, streamed in
batches from one read snapshot of the file), identity sequences set past the copied ids
(and past SQLite's AUTOINCREMENT high-water marks, so no deleted id is handed out again),
the target's own triggers off meanwhile — the counters, problem groups and events they
keep are copied as they are, and firing them again would count everything twice. Before it
commits, every table is read back and compared with the source: row count and a checksum
computed the same way on both sides. Any error or any difference rolls the whole copy back:
the target is left as it was, migrated and empty.

The checksum is order-free: the sum, modulo 2^256, of the SHA-256 of each row, its values
normalised to text (NULL, a number's decimal text, a blob's hex). Neither side sorts, so no
collation (SQLite's bytes against a PostgreSQL locale) can make equal tables differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._db import Dialect
from ._engine import EngineSettings, _process_alive
from ._errors import StoreError
from ._schema import MIGRATIONS
from ._store import Store, is_database_url
from ._time import from_iso, utcnow

_COPY_LOCK = 0x5D5C_0002
"""The advisory lock that keeps two copies out of one target database."""
_SCHEMA_TABLE = "syncdesk_schema"
"""PostgreSQL's record of the schema version (SQLite keeps it in `user_version`)."""
_SEEDED = {"businesses": [(1, "default")]}
"""What a freshly migrated store already holds: (id, name) of the default business. A target
holding only this is empty; the copy replaces it with the source's own row."""
_MODULUS = 1 << 256


@dataclass(frozen=True)
class StoreSchema:
    """Which schema a store has, read without opening (or migrating) it."""

    dialect: Dialect
    location: str
    """The store as people should see it (a URL's password masked)."""
    version: int
    """0: a new, empty store, or not a syncdesk store at all (`foreign`)."""
    foreign: bool = False
    """The database holds tables of something else."""

    @property
    def current(self) -> int:
        """The schema this syncdesk writes."""
        return len(MIGRATIONS)


@dataclass
class TableCopy:
    name: str
    source_rows: int = 0
    target_rows: int = 0
    source_sum: int = 0
    target_sum: int = 0

    @property
    def equal(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sum == self.target_sum

    @property
    def checksum(self) -> str:
        """The source's checksum, short enough to print."""
        return f"{self.source_sum:064x}"[:16]


@dataclass
class CopyReport:
    source: str
    target: str
    tables: list[TableCopy] = field(default_factory=list)
    seconds: float = 0.0
    committed: bool = False
    """False when the tables differed: the copy was rolled back, the target left empty."""

    @property
    def rows(self) -> int:
        return sum(table.source_rows for table in self.tables)

    @property
    def equal(self) -> bool:
        return all(table.equal for table in self.tables)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


async def store_schema(target: Path | str) -> StoreSchema:
    """The schema version of the store at `target` (a file or a URL), as it is now."""
    if is_database_url(target):
        return await asyncio.to_thread(_postgres_schema, str(target))
    path = Path(target).expanduser()
    if not path.is_file():
        return StoreSchema("sqlite", str(path), 0)
    db = _read_sqlite(path)
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        foreign = version == 0 and db.execute("SELECT 1 FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a syncdesk store (SQLite: {exc})") from exc
    finally:
        db.close()
    return StoreSchema("sqlite", str(path), version, foreign=bool(foreign))


def _postgres_schema(url: str) -> StoreSchema:
    from ._store_pg import masked

    with _connect_pg(url) as conn:
        names = {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema()")}
        row = conn.execute(f"SELECT version FROM {_SCHEMA_TABLE}").fetchone() \
            if _SCHEMA_TABLE in names else None
    version = int(row[0]) if row else 0
    return StoreSchema("postgresql", masked(url), version, foreign=version == 0 and bool(names))


async def copy_store(source: Path, target: str, *, batch: int = 5000,
                     progress: Callable[[str, int], None] | None = None) -> CopyReport:
    """Copy the SQLite store at `source` into the empty PostgreSQL database at `target`
    (migrated to the current schema first), verified table by table; see the module's
    docstring. `progress(table, rows)` hears of each table once it is written."""
    if is_database_url(source):
        raise StoreError("db copy reads an embedded store: --from must be a SQLite file")
    if not is_database_url(target):
        raise StoreError("db copy writes to PostgreSQL: --to must be a postgresql:// URL")
    source = Path(source).expanduser()
    found = await store_schema(source)
    if not source.is_file():
        raise StoreError(f"no store at {source}")
    if found.foreign or found.version == 0:
        raise StoreError(f"{source} is not a syncdesk store")
    if found.version != found.current:
        raise StoreError(
            f"{source} has schema {found.version}, this syncdesk copies schema {found.current}: "
            + (f"run `syncdesk db migrate --db {source}` first" if found.version < found.current
               else "use the syncdesk that wrote it"))
    _refuse_running_engine(source)
    await (await Store.open(target)).close()  # creates or migrates it; refuses a foreign one
    return await asyncio.to_thread(_copy, source, target, batch, progress)


def _read_sqlite(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    db.execute("PRAGMA query_only = 1")
    return db


def _connect_pg(url: str) -> Any:
    import psycopg

    from ._store_pg import masked

    try:
        return psycopg.connect(url, application_name="syncdesk db copy")
    except psycopg.Error as exc:
        raise StoreError(f"cannot open {masked(url)}: {str(exc).strip()}") from exc


def _refuse_running_engine(path: Path) -> None:
    """An engine writing to the file while it is copied would write what the copy never
    sees: its lease or its row in `engines` (a live pid, a fresh heartbeat) says whether one
    runs."""
    db = _read_sqlite(path)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        beats = [(str(owner).split(":")[0], int(pid), str(at)) for owner, pid, at in db.execute(
            "SELECT owner, pid, heartbeat_at FROM engine_lease WHERE pid <> 0")
        ] if "engine_lease" in tables else []
        if "engines" in tables:
            beats += db.execute("SELECT host, pid, heartbeat_at FROM engines "
                                "WHERE stopped_at IS NULL").fetchall()
    finally:
        db.close()
    timeout = EngineSettings().lease_timeout
    for host, pid, at in beats:
        age = (utcnow() - from_iso(at)).total_seconds()
        if age < timeout and (host != socket.gethostname() or _process_alive(pid)):
            raise StoreError(f"an engine is running on {path} (pid {pid} on {host}, last "
                             f"heartbeat {age:.0f} s ago): stop it first, then copy")


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    """The columns read from the source: its own, and SQLite's `rowid` where the target keeps
    it as a column (the engine reads records in write order by it)."""
    identities: tuple[str, ...]
    """The target's identity columns, whose sequences must pass the copied values."""


def _copy(source: Path, url: str, batch: int,
          progress: Callable[[str, int], None] | None) -> CopyReport:
    import psycopg

    from ._store_pg import masked

    started = time.monotonic()
    report = CopyReport(str(source), masked(url))
    src = _read_sqlite(source)
    conn = _connect_pg(url)
    try:
        src.execute("BEGIN")  # one snapshot of the file, however long the copy takes
        tables = _plan(src, conn)
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_COPY_LOCK,))
        _refuse_data(conn, tables)
        triggered = [row[0] for row in conn.execute(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace")]
        for name in triggered:
            conn.execute(f'ALTER TABLE "{name}" DISABLE TRIGGER USER')
        # Indexes are built once over the copied rows rather than kept up row by row (a
        # copy of 200k jobs: 41 s against 45 s, the trigram index the dearest); those behind
        # a key or a unique constraint stay, to check the rows as they come.
        indexes = [(str(name), str(sql)) for name, sql in conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)")]
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for name in _SEEDED:
            conn.execute(f'DELETE FROM "{name}"')
        sequences = _sqlite_sequences(src)
        for table in tables:
            copied = TableCopy(table.name)
            report.tables.append(copied)
            try:
                _write(src, conn, table, copied, batch)
            except Exception as exc:
                raise StoreError(f"copying {table.name} (after {copied.source_rows} rows): "
                                 f"{str(exc).strip()}") from exc
            for column in table.identities:
                floor = sequences.get(table.name, 0) if column == "id" else 0
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence(%s, %s), GREATEST(%s, "
                    f'COALESCE((SELECT MAX("{column}") FROM "{table.name}"), 0)) + 1, false)',
                    (f'"{table.name}"', column, floor))
            if progress is not None:
                progress(table.name, copied.source_rows)
        for name in triggered:
            conn.execute(f'ALTER TABLE "{name}" ENABLE TRIGGER USER')
        for _, sql in indexes:
            conn.execute(sql.encode())
        for table, copied in zip(tables, report.tables, strict=True):
            copied.target_rows, copied.target_sum = _checksum(
                _server_rows(conn, table, batch))
        _refuse_running_engine(source)
        report.seconds = time.monotonic() - started
        if report.equal:
            conn.commit()
            report.committed = True
        else:
            conn.rollback()
    except BaseException as exc:
        with contextlib.suppress(psycopg.Error):  # a lost connection has nothing to undo
            conn.rollback()
        if isinstance(exc, StoreError | psycopg.Error | sqlite3.Error):
            raise StoreError(f"{str(exc).strip()}; nothing was written to {report.target}"
                             ) from exc
        raise
    finally:
        conn.close()
        src.close()
    return report


def _plan(src: sqlite3.Connection, conn: Any) -> list[_Table]:
    """The tables both stores have, parents before children; a table only one of them has
    means their schemas differ, and nothing is copied."""
    objects = src.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    virtual = [name for name, sql in objects if str(sql).upper().startswith("CREATE VIRTUAL")]
    mine = {name for name, _ in objects if not name.startswith("sqlite_")
            and not any(name == v or name.startswith(f"{v}_") for v in virtual)}
    theirs: dict[str, dict[str, tuple[bool, bool]]] = {}
    for table, column, default, identity in conn.execute(
            "SELECT c.relname, a.attname, a.atthasdef, a.attidentity <> '' FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid WHERE c.relkind = 'r' AND c.relname <> %s "
            "AND c.relnamespace = current_schema()::regnamespace AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY c.relname, a.attnum", (_SCHEMA_TABLE,)):
        theirs.setdefault(table, {})[column] = (default, identity)
    if mine != set(theirs):
        raise StoreError(
            "the stores' schemas differ (tables only in the file: "
            f"{sorted(mine - set(theirs)) or 'none'}; only in the database: "
            f"{sorted(set(theirs) - mine) or 'none'})")
    plan = []
    for name in _parents_first(src, mine):
        own = tuple(row[1] for row in src.execute(f'PRAGMA table_info("{name}")'))
        extra = tuple(column for column in theirs[name] if column not in own)
        columns = own + tuple(column for column in extra if column == "rowid")
        lacking = [c for c in extra if c != "rowid" and not any(theirs[name][c])]
        if set(own) - set(theirs[name]) or lacking:
            raise StoreError(f"the stores' schemas differ in the columns of {name}")
        plan.append(_Table(name, columns,
                           tuple(c for c, (_, identity) in theirs[name].items() if identity)))
    return plan


def _parents_first(src: sqlite3.Connection, names: Iterable[str]) -> list[str]:
    done: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done or name in path:
            return
        for row in src.execute(f'PRAGMA foreign_key_list("{name}")'):
            visit(str(row[2]), (*path, name))
        done.append(name)

    for name in sorted(names):
        visit(name, ())
    return done


def _refuse_data(conn: Any, tables: Sequence[_Table]) -> None:
    for table in tables:
        rows = conn.execute(f'SELECT * FROM "{table.name}" LIMIT 2').fetchall()
        seeded = _SEEDED.get(table.name, [])
        if rows and [tuple(row[:2]) for row in rows] != seeded:
            raise StoreError(f"the target already holds syncdesk data ({table.name} has rows): "
                             "db copy fills only an empty database")


def _sqlite_sequences(src: sqlite3.Connection) -> dict[str, int]:
    if not src.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        return {}
    return {str(name): int(seq) for name, seq in src.execute(
        "SELECT name, seq FROM sqlite_sequence")}


def _write(src: sqlite3.Connection, conn: Any, table: _Table, copied: TableCopy,
           batch: int) -> None:
    names = ", ".join(f'"{column}"' for column in table.columns)
    cursor = src.execute(f'SELECT {names} FROM "{table.name}"')
    total = 0
    with conn.cursor() as out, out.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        while rows := cursor.fetchmany(batch):
            for row in rows:
                copy.write_row(row)
                total = (total + _digest(row)) % _MODULUS
            copied.source_rows += len(rows)
    copied.source_sum = total


def _server_rows(conn: Any, table: _Table, batch: int) -> Iterable[Sequence[Any]]:
    names = ", ".join(f'"{column}"' for column in table.columns)
    with conn.cursor(name=f"verify_{table.name}") as cursor:
        cursor.itersize = batch
        cursor.execute(f'SELECT {names} FROM "{table.name}"')
        yield from cursor


def _checksum(rows: Iterable[Sequence[Any]]) -> tuple[int, int]:
    count = total = 0
    for row in rows:
        count += 1
        total = (total + _digest(row)) % _MODULUS
    return count, total


def _digest(row: Sequence[Any]) -> int:
    """A row's values as text, each length-prefixed (so no two rows read alike), hashed."""
    parts = []
    for value in row:
        if value is None:
            parts.append("-")
            continue
        if isinstance(value, bytes | memoryview):
            parts.append(f"{len(value)}b{bytes(value).hex()}")
        else:
            text = str(value)
            parts.append(f"{len(text)}:{text}")
    return int.from_bytes(hashlib.sha256("".join(parts).encode()).digest(), "big")


__all__ = ["CopyReport", "StoreSchema", "TableCopy", "copy_store", "store_schema"]
