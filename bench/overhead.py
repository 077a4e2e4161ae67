"""Engine overhead: the engine against a plain loop pushing the same records, in one run.

Both push the same generated ledger (customers, items, invoices, one payment each) to a
fresh in-process QuickBooks sandbox (`httpx.ASGITransport`, limits off; the engine's
throttle off), so nothing waits for a rate limit and the difference is what the engine
itself costs: the store, the ledger reads, claims, per-job outcome transactions, attempts,
events, batching. The plain loop calls the same provider one record at a time, in
dependency order, with no batching and no store.

CPU is `time.process_time()` of this process, and the sandbox runs in it too: both sides
pay for the sandbox's work, so ms/record is the client plus the platform emulator.

    python bench/overhead.py            # 2,000 items + 500 invoices + 500 payments
    python bench/overhead.py --quick    # 300 items + 100 invoices + 100 payments
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit
from bench.throughput import Books, build_ledger
from console._wiring import connect_sandbox, platforms, sandbox_app
from engine import (
    ConnectionSettings,
    EngineSettings,
    Entity,
    Invoice,
    Item,
    Ledger,
    Operation,
    Payment,
    PushRequest,
    RemoteRef,
    Sealer,
    Store,
    SyncEngine,
    WorkerSettings,
)
from engine._connections import ConnectionRow
from engine._ledger import entity_of

PLATFORM = "quickbooks"


@dataclass
class Figures:
    records: int
    seconds: float
    cpu: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.records


class FixedToken:
    """A `TokenSource` holding one access token (the plain loop has no store)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def access_token(self) -> str:
        return self.token

    async def refreshed(self, rejected: str) -> str:
        raise RuntimeError("the benchmark's token should not expire")


async def _plain(books: Books) -> Figures:
    app = sandbox_app(PLATFORM, limits_enabled=False)
    transport = httpx.ASGITransport(app=app)
    platform = platforms()[PLATFORM]
    settings = ConnectionSettings(platform=PLATFORM, client_id="syncdesk-demo",
                                  client_secret="demo-secret", base_url="http://sandbox",
                                  transport=transport)
    oauth = platform.oauth(settings)
    async with httpx.AsyncClient(transport=transport) as client:
        consent = await client.get(oauth.authorization_url("http://127.0.0.1/cb", "s"))
    grant = await oauth.exchange_code(consent.headers["location"], "http://127.0.0.1/cb")
    settings = replace(settings, tenant_id=grant.tenants[0].tenant_id)
    provider = platform.provider(settings, FixedToken(grant.tokens.access_token))
    items = {item.id: item for item in books.items}
    refs: dict[tuple[Entity, str], RemoteRef] = {}
    records = books.records
    started, cpu = time.perf_counter(), time.process_time()
    for number, record in enumerate(records):
        entity = entity_of(record)
        needs: dict[tuple[Entity, str], RemoteRef] = {}
        used: dict[str, Item] = {}
        if isinstance(record, (Invoice, Payment)):
            needs[(Entity.CUSTOMER, record.customer_id)] = refs[(Entity.CUSTOMER,
                                                                 record.customer_id)]
        if isinstance(record, Invoice):
            for line in record.lines:
                assert line.item_id
                needs[(Entity.ITEM, line.item_id)] = refs[(Entity.ITEM, line.item_id)]
                used[line.item_id] = items[line.item_id]
        if isinstance(record, Payment):
            for allocation in record.allocations:
                key = (Entity.INVOICE, allocation.invoice_id)
                needs[key] = refs[key]
        request = PushRequest(entity, Operation.CREATE, record, f"plain-{number}", None,
                              needs, used)
        refs[(entity, record.id)] = await provider.push(request)
    figures = Figures(len(records), time.perf_counter() - started,
                      time.process_time() - cpu)
    await provider.aclose()
    return figures


async def _engine(books: Books, workdir: Path) -> tuple[Figures, Figures, dict[str, Any]]:
    app = sandbox_app(PLATFORM, limits_enabled=False)
    store = await Store.open(workdir / "overhead.db")
    sealer = Sealer.load()
    started, cpu = time.perf_counter(), time.process_time()
    await Ledger(store).upsert(books.records)
    upsert = Figures(len(books.records), time.perf_counter() - started,
                     time.process_time() - cpu)
    await connect_sandbox(store, platforms()[PLATFORM], "http://sandbox", sealer,
                          transport=httpx.ASGITransport(app=app))

    def hook(row: ConnectionRow, s: ConnectionSettings) -> ConnectionSettings:
        return replace(s, transport=httpx.ASGITransport(app=app))

    engine = SyncEngine(store, platforms(), sealer, settings_hook=hook,
                        settings=EngineSettings(worker=WorkerSettings(throttle=False)))
    started, cpu = time.perf_counter(), time.process_time()
    report = await engine.run(until_idle=True)
    run = Figures(len(books.records), time.perf_counter() - started,
                  time.process_time() - cpu)
    statuses = {row["status"]: row["n"] for row in await store.fetch_all(
        "SELECT status, SUM(n) AS n FROM job_counts WHERE n > 0 GROUP BY status")}
    await store.close()
    return run, upsert, {"statuses": statuses, "requests": report.requests}


async def _measure(books: Books, workdir: Path) -> tuple[Figures, Figures, Figures,
                                                         dict[str, Any]]:
    plain = await _plain(books)
    run, upsert, detail = await _engine(books, workdir)
    return plain, run, upsert, detail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--invoices", type=int, default=500)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.invoices, args.customers = 300, 100, 20
    workdir = Path(tempfile.mkdtemp(prefix="overhead-"))
    os.environ.setdefault("SYNCDESK_KEY_FILE", str(workdir / "secret.key"))
    os.environ["SYNCDESK_CONFIG"] = str(workdir / "none.toml")
    books = build_ledger(args.items, args.invoices, args.customers)
    plain, run, upsert, detail = asyncio.run(_measure(books, workdir))
    sizes = {e: n for stage in books.stages() for e, n in stage.items()}
    emit("overhead.records", plain.records, "records", PLATFORM, detail=sizes)
    emit("overhead.plain.records_per_s", plain.per_second, "records/s",
         "sequential loop, one request per record, no store")
    emit("overhead.plain.cpu_ms_per_record", plain.cpu_ms, "ms",
         "process CPU incl. the in-process sandbox")
    emit("overhead.engine.records_per_s", run.per_second, "records/s",
         "engine, batches of 30, store, throttle off", statuses=detail["statuses"],
         requests=detail["requests"])
    emit("overhead.engine.cpu_ms_per_record", run.cpu_ms, "ms",
         "process CPU incl. the in-process sandbox")
    emit("overhead.ratio.records_per_s", run.per_second / plain.per_second, "ratio",
         "engine / plain loop; > 1: the engine is faster")
    emit("overhead.ratio.cpu_per_record", run.cpu_ms / plain.cpu_ms, "ratio",
         "engine / plain loop; > 1: the engine costs more CPU per record")
    emit("overhead.ledger_upsert.records_per_s", upsert.per_second, "records/s",
         "Ledger.upsert of the same records (not in the engine's time)")
    unsynced = sum(n for s, n in detail["statuses"].items() if s != "synced")
    return 1 if unsynced else 0


if __name__ == "__main__":
    sys.exit(main())
