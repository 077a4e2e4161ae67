"""`syncdesk engine run` as its users run it: a long-lived process that idles, picks up work
queued by another process, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console._fleet import free_port
from console._wiring import connect_sandbox, platforms
from engine import Sealer, Store

CLI = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def sandbox() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([*CLI, "sandbox", "serve", "--platform", "xero", "--port",
                                str(port), "--no-limits"], stdout=subprocess.DEVNULL)

    def up() -> bool:
        try:
            return httpx.get(f"{url}/_sandbox/state", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(lambda: up() or process.poll() is not None, 20, "the Xero sandbox to listen")
        assert process.poll() is None, "the sandbox could not start"
        yield url
    finally:
        process.terminate()
        process.wait(10)


def job_status(db: Path, record_id: str) -> str | None:
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT status FROM sync_jobs WHERE record_id = ?",
                           (record_id,)).fetchone()
    return None if row is None else str(row[0])


async def connected_store(db: Path, sandbox: str) -> None:
    store = await Store.open(db)
    await connect_sandbox(store, platforms()["xero"], sandbox, Sealer.load())
    await store.close()


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_engine_runs_until_sigterm_and_syncs_what_arrives_meanwhile(
        tmp_path: Path, sandbox: str) -> None:
    db = tmp_path / "run.db"
    asyncio.run(connected_store(db, sandbox))
    engine = subprocess.Popen([*CLI, "engine", "run", "--db", str(db)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert engine.stdout is not None
        assert "engine running" in engine.stdout.readline()
        # Nothing to do for ten seconds: an always-on engine is still there afterwards.
        with pytest.raises(subprocess.TimeoutExpired):
            engine.wait(10)

        ledger = tmp_path / "ledger.json"
        ledger.write_text(json.dumps({
            "customers": [{"id": "C-1", "display_name": "Maria Lopez"}],
            "items": [{"id": "TILE", "sku": "TILE", "name": "Tile", "unit_price": "12.50",
                       "income_accounts": {"xero": "200"}}],
            "invoices": [{"id": "INV-1", "number": "INV-1", "customer_id": "C-1",
                          "issue_date": "2026-09-01", "status": "sent",
                          "lines": [{"item_id": "TILE", "quantity": "2",
                                     "unit_price": "12.50"}]}],
        }))
        imported = subprocess.run([*CLI, "import", str(ledger), "--db", str(db)],
                                  capture_output=True, text=True, timeout=60, check=False)
        assert imported.returncode == 0, imported.stderr
        wait_for(lambda: job_status(db, "INV-1") == "synced", 30,
                 "the imported invoice to sync")

        started = time.monotonic()
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(10) == 0, engine.stderr.read() if engine.stderr else ""
        assert time.monotonic() - started < 10
        assert "engine stopped" in (engine.stdout.read() or "")
        import sqlite3

        with sqlite3.connect(db) as conn:  # the console can say "engine stopped … ago"
            assert conn.execute("SELECT pid FROM engine_lease").fetchone() == (0,)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
