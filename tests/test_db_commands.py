"""`syncdesk db status | migrate | copy`: a store's schema, migrating it, and moving an
embedded store into PostgreSQL without loss (docs/DEPLOY.md)."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from console.cli import main
from engine import Businesses, Ledger, Store, generate_demo
from engine._schema import MIGRATIONS
from engine._time import to_iso, utcnow
from tests._world import World

MakeWorld = Callable[..., Any]
_names = itertools.count(1)
CURRENT = len(MIGRATIONS)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def arun(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`run` from a test that has an event loop of its own (the CLI starts one)."""
    code = await asyncio.to_thread(main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


def new_database(server: str) -> str:
    """An empty database (not the suite's migrated template) on the test server."""
    name = f"ops_{os.getpid()}_{next(_names)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())
    return server.rsplit("/", 1)[0] + "/" + name


def old_store(path: Path, version: int) -> None:
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:version]:
        db.executescript(script)
    db.execute(f"PRAGMA user_version = {version}")
    db.close()


def pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        cursor = conn.execute(sql.encode())
        return [tuple(row) for row in cursor] if cursor.description else []


# -- status and migrate ----------------------------------------------------------------------


def test_migrate_brings_an_older_file_to_the_current_schema(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "old.db"
    old_store(path, CURRENT - 1)
    code, out, _ = run(capsys, "db", "status", "--db", str(path))
    assert code == 1 and f"{CURRENT - 1}; this syncdesk needs {CURRENT}" in out
    code, out, _ = run(capsys, "db", "migrate", "--db", str(path))
    assert (code, out) == (0, f"{path}: migrated from schema {CURRENT - 1} to {CURRENT}\n")
    assert run(capsys, "db", "migrate", "--db", str(path))[1] == \
        f"{path}: schema {CURRENT}, already current\n"
    code, out, _ = run(capsys, "db", "status", "--db", str(path))
    assert code == 0 and "backend   sqlite" in out and f"schema    {CURRENT} (current)" in out


@pytest.mark.postgresql
def test_migrate_creates_the_schema_of_a_new_database_and_masks_its_password(
        postgres: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = new_database(postgres)
    code, out, _ = run(capsys, "db", "status", "--db", url)
    assert code == 1 and "none (a new store)" in out
    code, out, _ = run(capsys, "db", "migrate", "--db", url)
    assert (code, out) == (0, f"{url}: migrated from schema none to {CURRENT}\n")
    with_password = url.replace("syncdesk@", "syncdesk:hunter2@")  # trust auth ignores it
    code, out, _ = run(capsys, "db", "status", "--db", with_password)
    assert code == 0 and "hunter2" not in out
    assert f"location  {url.replace('syncdesk@', 'syncdesk:***@')}" in out
    assert "backend   postgresql" in out and f"schema    {CURRENT} (current)" in out


def test_migrate_refuses_a_newer_schema_and_a_foreign_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    newer = tmp_path / "newer.db"
    old_store(newer, CURRENT)
    sqlite3.connect(newer).execute(f"PRAGMA user_version = {CURRENT + 1}").connection.close()
    for action in ("status", "migrate"):
        code, _, err = run(capsys, "db", action, "--db", str(newer))
        assert code == 2 and f"schema {CURRENT + 1}" in err and "newer" in err
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE recipes (name TEXT)").connection.close()
    for action in ("status", "migrate"):
        code, _, err = run(capsys, "db", action, "--db", str(foreign))
        assert code == 2 and "is not a syncdesk store" in err
    assert [row[0] for row in sqlite3.connect(foreign).execute(
        "SELECT name FROM sqlite_master")] == ["recipes"]


@pytest.mark.postgresql
def test_migrate_refuses_a_foreign_database(postgres: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = new_database(postgres)
    pg_rows(url, "CREATE TABLE recipes (name text)")
    code, _, err = run(capsys, "db", "migrate", "--db", url)
    assert code == 2 and "is not a syncdesk store" in err
    assert pg_rows(url, "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'public'") == [("recipes",)]


# -- copy ------------------------------------------------------------------------------------


def _fill_empty_tables(path: Path) -> None:
    """A row in every table the world's sync left empty, with the values that are easy to
    lose on the way (NULLs, quotes, newlines, non-ASCII text, bytes that are not text), each
    column a value its CHECK allows and each reference a parent that exists."""
    db = sqlite3.connect(path)
    tables = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE 'sync_jobs_text%'")]
    for name in tables:
        if db.execute(f'SELECT 1 FROM "{name}"').fetchone():
            continue
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
        parents = {row[3]: (row[2], row[4]) for row in db.execute(
            f'PRAGMA foreign_key_list("{name}")')}
        values: dict[str, Any] = {}
        for _, column, kind, notnull, _, pk in db.execute(f'PRAGMA table_info("{name}")'):
            allowed = re.search(rf"\b{column}\b[^,]*?CHECK \({column} IN \('([^']+)'", sql)
            if column in parents:
                parent, key = parents[column]
                values[column] = db.execute(f'SELECT "{key}" FROM "{parent}"').fetchone()[0]
            elif allowed:
                values[column] = allowed[1]
            elif column == "business_id":
                values[column] = 1
            elif kind == "INTEGER" and pk == 1 and "WITHOUT ROWID" not in sql:
                continue
            elif not notnull and not pk:
                values[column] = None
            elif column.endswith("_at"):
                values[column] = "2020-01-02T03:04:05.000000Z"
            elif kind == "INTEGER":
                values[column] = 7
            elif kind == "BLOB":
                values[column] = bytes(range(256))
            else:
                values[column] = "l'été\n\"déjà\" — ok %s ?"
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        db.execute(f'INSERT INTO "{name}" ({columns}) VALUES ({marks})', list(values.values()))
    db.commit()
    db.close()


@pytest.fixture
async def synced_file(make_world: MakeWorld, store: Store, tmp_path: Path) -> Path:
    """A file store after a real sync to every sandbox, every table holding rows."""
    world: World = await make_world()
    await Ledger(store).upsert(generate_demo(seed=3, size=12))
    await world.sync()
    assert isinstance(store.path, Path)
    _fill_empty_tables(store.path)
    return store.path


def _sqlite_table_rows(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    names = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE 'sync_jobs_text%'")]
    counts = {name: db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names}
    db.close()
    return counts


def _assert_empty(url: str) -> None:
    """As a fresh migrate leaves a database: the default business, nothing else."""
    tables = [row[0] for row in pg_rows(url, "SELECT tablename FROM pg_tables "
                                             "WHERE schemaname = 'public'")]
    held = {name: pg_rows(url, f'SELECT COUNT(*) FROM "{name}"')[0][0] for name in tables}
    assert {name: n for name, n in held.items() if n} == {"businesses": 1, "syncdesk_schema": 1}
    assert pg_rows(url, "SELECT id, name FROM businesses") == [(1, "default")]


@pytest.mark.postgresql
@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
async def test_copy_moves_every_table_and_verifies_it(
        synced_file: Path, store: Store, postgres: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    await store.close()
    source = sqlite3.connect(synced_file)
    last_event = source.execute("SELECT MAX(id) FROM events").fetchone()[0]
    source.execute("DELETE FROM events WHERE id = ?", (last_event,))
    # The write order the engine queues records in is SQLite's rowid, not the copy's order.
    source.execute("UPDATE customers SET rowid = rowid + 1000 "
                   "WHERE rowid = (SELECT MIN(rowid) FROM customers)")
    source.commit()
    source.close()
    counts = _sqlite_table_rows(synced_file)
    assert all(counts.values()), {name: n for name, n in counts.items() if not n}
    url = new_database(postgres)
    code, out, err = await arun(capsys, "db", "copy", "--from", str(synced_file), "--to", url)
    assert code == 0, err
    assert "verified: every table has the same rows" in out
    for name, n in counts.items():
        assert re.search(rf"^{name} +{n} +{n} +[0-9a-f]{{16}}  ok$", out, re.MULTILINE), name
    assert {name: pg_rows(url, f'SELECT COUNT(*) FROM "{name}"')[0][0]
            for name in counts} == counts
    # Independently of the command's own checksums: the jobs, byte for byte, and the
    # counters as they were (the triggers did not count the copied jobs again).
    source = sqlite3.connect(synced_file)
    assert pg_rows(url, "SELECT * FROM sync_jobs ORDER BY id") == source.execute(
        "SELECT * FROM sync_jobs ORDER BY id").fetchall()
    assert pg_rows(url, "SELECT sealed FROM tokens ORDER BY connection_id") == source.execute(
        "SELECT sealed FROM tokens ORDER BY connection_id").fetchall()
    assert sorted(pg_rows(url, "SELECT connection_id, entity, status, n FROM job_counts "
                               "WHERE n <> 0")) == sorted(source.execute(
        "SELECT connection_id, entity, status, COUNT(*) FROM sync_jobs "
        "GROUP BY connection_id, entity, status").fetchall())
    assert pg_rows(url, "SELECT COUNT(*) FROM events")[0][0] == counts["events"]
    rowids = source.execute("SELECT business_id, id, rowid FROM customers ORDER BY 1, 2")
    assert pg_rows(url, "SELECT business_id, id, rowid FROM customers ORDER BY 1, 2") == \
        rowids.fetchall()
    source.close()
    # The copy is a working store: new rows take ids past the copied ones, and past the
    # ids SQLite handed out and deleted since (AUTOINCREMENT never gives them again).
    async with await Store.open(url) as copied:
        assert (await Businesses(copied).add("second", actor="test")).id == 2
        async with copied.write() as db:
            new_event = (await (await db.execute(
                "INSERT INTO events (at, kind) VALUES (?, 'test') RETURNING id",
                (to_iso(utcnow()),))).fetchone())[0]
    assert new_event == last_event + 1
    # A second copy into it is refused: it holds data now.
    code, _, err = await arun(capsys, "db", "copy", "--from", str(synced_file), "--to", url)
    assert code == 2 and "already holds syncdesk data" in err


@pytest.mark.postgresql
@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
async def test_a_copy_that_fails_midway_leaves_the_target_empty(
        synced_file: Path, store: Store, postgres: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    await store.close()
    # PostgreSQL's text cannot hold NUL: the attempts are refused after the jobs went in.
    db = sqlite3.connect(synced_file)
    db.execute("UPDATE sync_attempts SET message = 'a' || char(0) || 'b' "
               "WHERE id = (SELECT MAX(id) FROM sync_attempts)")
    db.commit()
    db.close()
    url = new_database(postgres)
    code, _, err = await arun(capsys, "db", "copy", "--from", str(synced_file), "--to", url)
    assert code == 2
    assert "copying sync_attempts" in err and "nothing was written to" in err
    assert "  sync_jobs: " in err  # the tables before it had been written
    _assert_empty(url)


@pytest.mark.postgresql
@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
async def test_tables_that_differ_after_the_copy_exit_1_and_roll_it_back(
        synced_file: Path, store: Store, postgres: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    await store.close()
    # Text where bytes belong: SQLite keeps it as text, PostgreSQL's bytea reads it as bytes.
    db = sqlite3.connect(synced_file)
    db.execute("UPDATE tokens SET sealed = 'not bytes' WHERE connection_id = "
               "(SELECT MIN(connection_id) FROM tokens)")
    db.commit()
    db.close()
    url = new_database(postgres)
    code, out, err = await arun(capsys, "db", "copy", "--from", str(synced_file), "--to", url)
    assert code == 1
    assert re.search(r"^tokens .* DIFFERS$", out, re.MULTILINE)
    assert len(re.findall(r"DIFFERS$", out, re.MULTILINE)) == 1
    assert "rolled back" in err
    _assert_empty(url)


@pytest.mark.postgresql
def test_copy_refuses_while_an_engine_runs_on_the_file(
        tmp_path: Path, postgres: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "live.db"
    assert run(capsys, "seed", "--db", str(path), "--size", "10")[0] == 0
    db = sqlite3.connect(path)
    db.execute("INSERT INTO engine_lease (id, owner, pid, heartbeat_at) VALUES (1, ?, ?, ?)",
               (f"{socket.gethostname()}:{os.getpid()}:x", os.getpid(), to_iso(utcnow())))
    db.commit()
    url = new_database(postgres)
    code, _, err = run(capsys, "db", "copy", "--from", str(path), "--to", url)
    assert code == 2 and f"an engine is running on {path} (pid {os.getpid()}" in err
    assert "stop it first" in err
    # A clean stop leaves the lease with pid 0: then the copy goes ahead.
    db.execute("UPDATE engine_lease SET pid = 0")
    db.commit()
    db.close()
    code, out, _ = run(capsys, "db", "copy", "--from", str(path), "--to", url)
    assert code == 0 and "verified" in out


def test_copy_refuses_what_it_does_not_move(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "store.db"
    old_store(path, CURRENT - 1)
    url = "postgresql://nobody@127.0.0.1:1/none"
    cases = [
        (["--from", url, "--to", url], "--from must be a SQLite file"),
        (["--from", str(path), "--to", str(tmp_path / "other.db")], "--to must be a postgresql"),
        (["--from", str(tmp_path / "missing.db"), "--to", url], "no store at"),
        (["--from", str(path), "--to", url], f"run `syncdesk db migrate --db {path}` first"),
    ]
    for argv, said in cases:
        code, _, err = run(capsys, "db", "copy", *argv)
        assert code == 2 and said in err, (argv, err)
