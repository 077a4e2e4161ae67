"""Chaos: sync the demo business to every sandbox while they misbehave and the engine is
SIGKILLed at random moments; then prove nothing was duplicated and nothing was lost.

Faults injected on every platform, all run long: 5% 5xx, 2% commit-then-drop (the write
lands, the answer never comes), 1% timeouts, plus before every restart a burst of 429s and
one certain commit-then-drop. The engine runs as a real `syncdesk engine run` process and is
killed with SIGKILL `--kills` times. A last run, without faults or kills and with short
back-offs (what was waiting is made due at once), finishes the work. Exits 1 on any
duplicate or missing record.

    python bench/chaos.py            # ~2,000 records, 20 kills
    python bench/chaos.py --quick    # ~120 records, 6 kills
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit
from console._fleet import SandboxFleet
from console._wiring import connect_sandbox, platforms
from engine import (
    EngineSettings,
    Entity,
    Ledger,
    Sealer,
    Store,
    SyncEngine,
    WorkerSettings,
    generate_demo,
    live_connections,
    open_provider,
)

FAULTS = (
    {"kind": "error", "count": -1, "probability": 0.05, "status": 503},
    {"kind": "drop", "count": -1, "probability": 0.02},
    {"kind": "timeout", "count": -1, "probability": 0.01},
)
CREDIT_AS_PAYMENT = {"quickbooks"}
"""Platforms that apply a credit note to an invoice by creating a payment."""

ENGINE = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]


async def _prepare(db: Path, urls: dict[str, str], size: int) -> int:
    store = await Store.open(db)
    records = generate_demo(seed=11, size=size)
    await Ledger(store).upsert(records)
    sealer = Sealer.load()
    for name, platform in platforms().items():
        await connect_sandbox(store, platform, urls[name], sealer)
    await store.close()
    return len(records)


def _control(url: str, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{url}{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def _engine(db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*ENGINE, "engine", "run", "--db", str(db), "--timeout", "1.5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _finish(db: Path) -> None:
    store = await Store.open(db)
    async with store.write() as tx:
        await tx.execute("UPDATE sync_jobs SET next_attempt_at = NULL "
                         "WHERE status IN ('pending', 'uncertain')")
    settings = EngineSettings(worker=WorkerSettings(throttle=False, backoff_base=0.1,
                                                    backoff_cap=1.0), timeout=1.5)
    await SyncEngine(store, platforms(), Sealer.load(), settings=settings).run(until_idle=True)
    await store.close()


async def _lost(store: Store, connection_id: int) -> list[str]:
    """Links whose remote object cannot be read back: records we think synced but are not."""
    row = next(c for c in await live_connections(store) if c.id == connection_id)
    provider = await open_provider(store, row, platforms()[row.platform], Sealer.load())
    lost = []
    try:
        for link in await store.fetch_all(
                "SELECT entity, record_id, remote_id FROM sync_links WHERE connection_id = ?",
                (connection_id,)):
            if await provider.fetch(Entity(link["entity"]), link["remote_id"]) is None:
                lost.append(f"{link['entity']} {link['record_id']} -> {link['remote_id']}")
    finally:
        await provider.aclose()
    return lost


async def _audit(db: Path, urls: dict[str, str],
                 baseline: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    """Per platform: remote objects beyond what our links explain, and records not done."""
    store = await Store.open(db)
    report: dict[str, dict[str, Any]] = {}
    for connection in await store.fetch_all("SELECT id, platform FROM connections"):
        name, cid = connection["platform"], connection["id"]
        remote = _control(urls[name], "GET", "/_sandbox/state")["objects"]
        expected: dict[str, int] = {}
        for link in await store.fetch_all(
                "SELECT entity, remote_id FROM sync_links WHERE connection_id = ?", (cid,)):
            parts = len(str(link["remote_id"]).split(","))
            expected[link["entity"]] = expected.get(link["entity"], 0) + parts
        if name in CREDIT_AS_PAYMENT:
            expected["payment"] = expected.get("payment", 0) + int(await store.fetch_value(
                "SELECT COUNT(DISTINCT a.source_id) FROM allocations a JOIN sync_links l "
                "ON l.entity = 'credit_note' AND l.record_id = a.source_id "
                "AND l.connection_id = ? WHERE a.source_entity = 'credit_note'", (cid,)) or 0)
        # Positive: objects no link explains (duplicates). Negative: links whose object is
        # gone (a loss). Both must be zero.
        duplicates = {entity: count - baseline[name].get(entity, 0) - expected.get(entity, 0)
                      for entity, count in remote.items()}
        statuses = {row["status"]: row["n"] for row in await store.fetch_all(
            "SELECT status, SUM(n) AS n FROM job_counts WHERE connection_id = ? AND n > 0 "
            "GROUP BY status", (cid,))}
        unfinished = await store.fetch_value(
            "SELECT COUNT(*) FROM sync_jobs WHERE connection_id = ? AND (status IN "
            "('pending', 'uncertain', 'in_flight') OR (status = 'failed' AND "
            "error_class = 'transient'))", (cid,))
        report[name] = {"duplicates": {e: n for e, n in duplicates.items() if n},
                        "missing": int(unfinished or 0), "statuses": statuses,
                        "lost": await _lost(store, cid)}
    await store.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=470, help="demo customers (470 ≈ 2,000 "
                                                              "records)")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    size, kills = (25, 6) if args.quick else (args.size, args.kills)
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    os.environ.setdefault("SYNCDESK_KEY_FILE", str(workdir / "secret.key"))
    os.environ["SYNCDESK_CONFIG"] = str(workdir / "none.toml")
    db = workdir / "chaos.db"
    started = time.monotonic()
    with SandboxFleet(platforms(), limits_enabled=False) as fleet:
        urls = fleet.urls
        records = asyncio.run(_prepare(db, urls, size))
        baseline = {name: _control(url, "GET", "/_sandbox/state")["objects"]
                    for name, url in urls.items()}
        for url in urls.values():
            _control(url, "POST", "/_sandbox/hang", {"seconds": 3})
            for fault in FAULTS:
                _control(url, "POST", "/_sandbox/faults", fault)
        for _ in range(kills):
            for url in urls.values():
                _control(url, "POST", "/_sandbox/faults",
                         {"kind": "rate_limit", "count": 3, "retry_after": 1})
                _control(url, "POST", "/_sandbox/faults",
                         {"kind": "drop", "count": 1, "method": "POST"})
            engine = _engine(db)
            time.sleep(rng.uniform(0.8, 3.0))
            engine.kill()
            engine.wait()
        for url in urls.values():
            _control(url, "DELETE", "/_sandbox/faults")
        asyncio.run(_finish(db))
        injected = {name: _control(url, "GET", "/_sandbox/state")["faults_injected"]
                    for name, url in urls.items()}
        report = asyncio.run(_audit(db, urls, baseline))
    elapsed = time.monotonic() - started
    emit("chaos.records", records, "records", f"{len(urls)} platforms")
    emit("chaos.kills", kills, "SIGKILLs", "engine killed mid-sync")
    emit("chaos.elapsed", elapsed, "s")
    failed = False
    for name, figures in report.items():
        duplicates = sum(figures["duplicates"].values())
        failed |= bool(duplicates) or bool(figures["missing"]) or bool(figures["lost"])
        emit(f"chaos.{name}.duplicates", duplicates, "objects", "must be 0",
             detail=figures["duplicates"])
        emit(f"chaos.{name}.missing", figures["missing"], "records", "must be 0")
        emit(f"chaos.{name}.lost", len(figures["lost"]), "records",
             "synced locally but gone remotely; must be 0", detail=figures["lost"][:20])
        emit(f"chaos.{name}.statuses", sum(figures["statuses"].values()), "jobs",
             "by status", detail=figures["statuses"], faults=injected[name])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
