"""The `syncdesk` command line: status, seed, import, records, retry, and clear refusals."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_works_on_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    code, out, _ = run(capsys, "status", "--db", str(tmp_path / "new.db"), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["connections"] == [] and data["ledger"]["invoices"] == 0


def test_default_store_follows_syncdesk_db(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCDESK_DB", str(tmp_path / "env.db"))
    code, out, _ = run(capsys, "status")
    assert code == 0 and str(tmp_path / "env.db") in out


def test_seed_then_status_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    assert run(capsys, "seed", "--db", db, "--size", "12")[0] == 0
    _, out, _ = run(capsys, "status", "--db", db, "--json")
    assert json.loads(out)["ledger"]["customers"] == 12


def test_import_is_all_or_nothing_and_idempotent(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    example = str(ROOT / "examples" / "ledger.json")
    code, out, _ = run(capsys, "import", example, "--db", db)
    assert code == 0 and "created" in out
    code, out, _ = run(capsys, "import", example, "--db", db)
    assert code == 0 and " 0 created, 0 updated" in out

    broken = tmp_path / "broken.json"
    broken.write_text('{"customers": [{"id": "C-X", "display_name": "Ok"}, '
                      '{"id": "C-Y", "display_name": ""}]}')
    code, _, err = run(capsys, "import", str(broken), "--db", db)
    assert code == 1
    assert "broken.json" in err and "display_name" in err and "nothing was imported" in err
    code, out, _ = run(capsys, "status", "--db", db, "--json")
    assert json.loads(out)["ledger"]["customers"] == 2  # from the example only

    code, out, err = run(capsys, "import", str(broken), "--db", db, "--partial")
    assert code == 1 and "1 rejected" in out


def test_retry_dry_run_and_refusal_without_a_terminal(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    code, out, _ = run(capsys, "retry", "--db", db, "--status", "failed", "--dry-run")
    assert code == 0 and "0 record(s) would be retried (status failed)" in out


def test_unknown_connection_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "pause", "xero", "--db", str(tmp_path / "s.db"))
    assert code == 2 and "no connection to 'xero'" in err


@pytest.mark.parametrize("command", [["status"], ["records"], ["console", "--read-only"]])
@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00 but not really" * 50],
                         ids=["empty", "garbage"])
def test_looking_refuses_a_file_that_is_no_store_and_leaves_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str],
        content: bytes) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(content)
    code, out, err = run(capsys, *command, "--db", str(path))
    assert code == 2 and not out
    assert err.count("\n") == 1 and "is not a syncdesk store" in err
    assert path.read_bytes() == content and sorted(tmp_path.iterdir()) == [path]


def test_help_loads_no_engine_platform_or_textual() -> None:
    """`syncdesk --help` answers in well under 0.5 s because it imports none of these."""
    heavy = ("engine", "providers", "textual", "pydantic", "httpx", "uvicorn", "aiosqlite")
    probe = ("import sys, contextlib, io\n"
             "from console.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
             "    main(['--help'])\n"
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(heavy)!r}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


def test_records_checks_the_engines_names_when_asked(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["records", "--db", str(tmp_path / "s.db"), "--status", "lost"])
    assert "invalid choice: 'lost'" in capsys.readouterr().err
    code, _, _ = run(capsys, "records", "--db", str(tmp_path / "s.db"), "--status", "failed",
                     "--entity", "invoice")
    assert code == 0


def test_the_demos_engine_thread_says_why_it_died(tmp_path: Path) -> None:
    from console._commands import _EngineThread
    from engine import StoreError

    theirs = tmp_path / "theirs.db"
    with sqlite3.connect(theirs) as db:
        db.execute("CREATE TABLE recipes (name TEXT)")
    told: list[BaseException] = []
    engine = _EngineThread(theirs, throttle=False, on_failure=told.append)
    engine.start()
    engine.join(10)
    assert len(told) == 1 and isinstance(told[0], StoreError)
    with pytest.raises(StoreError, match="not a syncdesk store"):
        engine.stop()


def test_looking_upgrades_an_older_syncdesk_store_but_console_read_only_does_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine._schema import MIGRATIONS

    db = str(tmp_path / "old.db")
    with sqlite3.connect(db) as conn:  # a store as the first release wrote it
        conn.executescript(MIGRATIONS[0])
        conn.execute("PRAGMA user_version = 1")
    code, _, err = run(capsys, "console", "--read-only", "--db", db)
    assert code == 2 and "schema 1" in err
    code, out, err = run(capsys, "status", "--db", db)
    assert code == 0, err
    assert "0 customers" in out
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_demo_too_small_is_refused_in_one_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "seed", "--size", "3", "--db", str(tmp_path / "s.db"))
    assert code == 2 and err.strip() == "syncdesk: --size: demo size must be at least 10, got 3"


def test_query_narrows_records_and_retry_and_names_a_bad_token(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    code, out, _ = run(capsys, "retry", "--db", db, "--dry-run",
                       "--query", "status:failed,blocked code:6240 platform:xero")
    assert code == 0
    assert "0 record(s) would be retried (on xero, status failed/blocked, code 6240)" in out
    code, _, err = run(capsys, "records", "--db", db, "--query", "status:lost since:2d")
    assert code == 2 and "'status:lost'" in err and "no status 'lost'" in err
    code, _, err = run(capsys, "records", "--db", db, "--query", "colour:red")
    assert code == 2 and "'colour:red'" in err and "unknown filter" in err
