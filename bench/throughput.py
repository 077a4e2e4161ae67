"""Throughput at the platforms' real limits: how close the engine gets to what they allow.

A generated ledger (items, customers, invoices each with one payment, built with the engine's
models) is pushed by the real engine (throttle on, production settings) over HTTP to the
QuickBooks and Xero sandboxes on loopback, which enforce their real default limits. Both
platforms run at once, each from its own store; elapsed time is measured per platform and
set against the floor the limits impose (see `floor()`).

    python bench/throughput.py            # QBO: 3,629 items + 250 invoices + 250 payments;
                                          # Xero: 150 of those invoices with their payments
    python bench/throughput.py --quick    # QBO: 600 items + 150 + 150; Xero: 30 + 30

Sizes, honestly: 3,629 items with 1,000 invoices and 1,000 payments need 193 QBO batch
requests, and at 40 batches a minute the floor alone is 243 s before any latency or 429 wait
(each QBO 429 costs the 60 s Intuit asks for), so the default sends 250 invoices (floor
182 s); `--invoices 1000 --deadline 600` runs the full set in about 5-7 minutes. Xero gets
fewer: its provider writes Payments one per request (only Contacts, Items and Invoices go as
arrays of 50), so 1,000 payments are 1,000 requests, over 16 minutes at 60/min;
`floor.best` shows what arrays of 50 would allow. The engines are stopped at `--deadline`
seconds whatever happens (so the run ends in time); a stopped run says `timed_out`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit
from console._fleet import SandboxFleet
from console._wiring import connect_sandbox, platforms
from engine import (
    Allocation,
    Customer,
    EngineSettings,
    Invoice,
    InvoiceStatus,
    Item,
    Ledger,
    Line,
    Payment,
    Record,
    Sealer,
    Store,
    SyncEngine,
)
from engine._connections import ConnectionRow
from engine._port import ConnectionSettings

REFERENCE = ("published: QuickBooks sync of 3,629 items ~60 s with batching, "
             "~20 min without")


# -- the ledger ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Books:
    customers: list[Customer]
    items: list[Item]
    invoices: list[Invoice]
    payments: list[Payment]

    @property
    def records(self) -> list[Record]:
        return [*self.customers, *self.items, *self.invoices, *self.payments]

    def stages(self) -> list[dict[str, int]]:
        """Records per entity in dependency order: nothing of a stage can go before the
        previous stage's ids exist on the platform."""
        return [{"customer": len(self.customers), "item": len(self.items)},
                {"invoice": len(self.invoices)}, {"payment": len(self.payments)}]

    def subset(self, invoices: int) -> Books:
        """The first `invoices` invoices, their payments, and only what they reference."""
        chosen = self.invoices[:invoices]
        customers = {i.customer_id for i in chosen}
        items = {line.item_id for i in chosen for line in i.lines}
        ids = {i.id for i in chosen}
        return Books([c for c in self.customers if c.id in customers],
                       [i for i in self.items if i.id in items], chosen,
                       [p for p in self.payments if p.allocations[0].invoice_id in ids])


def build_ledger(items: int, invoices: int, customers: int, seed: int = 7) -> Books:
    rng = random.Random(seed)
    people = [Customer(id=f"BC-{n:05d}", display_name=f"Bench Customer {n:05d}",
                       email=f"c{n}@bench.example") for n in range(1, customers + 1)]
    goods = [Item(id=f"BI-{n:05d}", sku=f"SKU-{n:05d}", name=f"Bench item {n:05d}",
                  unit_price=Decimal(rng.randint(100, 50_000)) / 100,
                  income_accounts={"quickbooks": "79", "xero": "200"})
             for n in range(1, items + 1)]
    start = date(2026, 3, 1)
    bills, paid = [], []
    for n in range(1, invoices + 1):
        lines = [Line(item_id=item.id, quantity=Decimal(rng.randint(1, 5)),
                      unit_price=item.unit_price)
                 for item in rng.sample(goods, rng.randint(1, 3))]
        issued = start + timedelta(days=n % 150)
        invoice = Invoice(id=f"BINV-{n:05d}", number=f"B-{n:05d}",
                          customer_id=rng.choice(people).id, lines=lines, issue_date=issued,
                          due_date=issued + timedelta(days=30), status=InvoiceStatus.SENT)
        bills.append(invoice)
        paid.append(Payment(id=f"BPAY-{n:05d}", customer_id=invoice.customer_id,
                            date=issued + timedelta(days=10), amount=invoice.total,
                            allocations=[Allocation(invoice_id=invoice.id,
                                                    amount=invoice.total)]))
    return Books(people, goods, bills, paid)


# -- the floor ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Budget:
    batch_size: int
    per_minute: int
    per_second: int | None = None
    batch_per_minute: int | None = None
    unbatched: frozenset[str] = frozenset()
    """Entities this client sends one per request."""


def floor(stages: Sequence[dict[str, int]], budget: Budget, *, singles: bool = False) -> float:
    """Seconds from the first request to the last that no client could beat under `budget`.

    The limits are rolling windows (N per 60 s, N per 1 s, batch requests' own N per 60 s),
    so the earliest time of the k-th request is the latest of: the (k-1)-th request, the
    (k-per_minute)-th + 60 s, the (k-per_second)-th + 1 s, and for a batch request the
    (j-batch_per_minute)-th batch + 60 s. Sending every request as early as that allows is
    optimal for sliding windows. Stages go in order (an invoice needs its customer's and
    items' ids), and records of one stage fill batches of `batch_size` (mixing entities, as
    QBO's batch and a stage's arrays allow). Latency is taken as zero and concurrency never
    binds then, so this is a floor, not a prediction.

    With `singles`, a client also sends single-record requests while the batch budget is
    spent (QBO: 40 batches x 30 + 460 singles = 1,660 records a minute): the best any client
    could do. Without it, every record travels in a batch where the entity allows one.
    """
    sent: list[float] = []
    batches: list[float] = []
    t = 0.0

    def earliest(batch: bool) -> float:
        at = sent[-1] if sent else 0.0
        if len(sent) >= budget.per_minute:
            at = max(at, sent[-budget.per_minute] + 60.0)
        if budget.per_second and len(sent) >= budget.per_second:
            at = max(at, sent[-budget.per_second] + 1.0)
        if batch and budget.batch_per_minute and len(batches) >= budget.batch_per_minute:
            at = max(at, batches[-budget.batch_per_minute] + 60.0)
        return at

    for stage in stages:
        batched = sum(n for e, n in stage.items() if e not in budget.unbatched)
        one_by_one = sum(n for e, n in stage.items() if e in budget.unbatched)
        while batched > 0:
            t = earliest(False)
            batch = budget.batch_size > 1
            if batch and singles:
                # A batch if one may go now, else a single record rather than wait.
                batch = earliest(True) <= t
            if batch:
                t = earliest(True)
                batches.append(t)
                batched -= min(budget.batch_size, batched)
            else:
                batched -= 1
            sent.append(t)
        for _ in range(one_by_one):
            t = earliest(False)
            sent.append(t)
    return t


def requests_needed(stages: Sequence[dict[str, int]], budget: Budget) -> int:
    """Requests with maximal batching: per stage, ceil(batched records / batch size) plus
    one request per record of an entity sent singly."""
    total = 0
    for stage in stages:
        batched = sum(n for e, n in stage.items() if e not in budget.unbatched)
        total += math.ceil(batched / budget.batch_size)
        total += sum(n for e, n in stage.items() if e in budget.unbatched)
    return total


QBO = Budget(batch_size=30, per_minute=500, per_second=10, batch_per_minute=40)
"""QBO: 500 requests/min and 10/s per realm; its batch endpoint 40/min, 30 items each."""
XERO_BEST = Budget(batch_size=50, per_minute=60)
"""Xero: 60/min per tenant; every collection (Payments too) accepts arrays (~50 advised)."""
XERO_AS_SENT = replace(XERO_BEST, unbatched=frozenset({"payment"}))
"""What syncdesk's Xero provider does: payments one per request."""


# -- the run ------------------------------------------------------------------------------

class CountingTransport(httpx.AsyncHTTPTransport):
    """Counts answers by HTTP status as the client saw them (429s from every limiter)."""

    def __init__(self, counts: Counter[int]) -> None:
        super().__init__()
        self.counts = counts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.counts[response.status_code] += 1
        return response


async def _sync(db: Path, name: str, url: str, ledger: Books, deadline: float
                ) -> dict[str, Any]:
    store = await Store.open(db)
    sealer = Sealer.load()
    await Ledger(store).upsert(ledger.records)
    await connect_sandbox(store, platforms()[name], url, sealer)
    counts: Counter[int] = Counter()

    def hook(row: ConnectionRow, s: ConnectionSettings) -> ConnectionSettings:
        return replace(s, transport=CountingTransport(counts))

    engine = SyncEngine(store, {name: platforms()[name]}, sealer, settings=EngineSettings(),
                        settings_hook=hook)
    stop = asyncio.Event()
    timed_out: list[bool] = []

    def give_up() -> None:
        timed_out.append(True)
        stop.set()

    timer = asyncio.get_running_loop().call_later(deadline, give_up)
    started = time.monotonic()
    report = await engine.run(stop, until_idle=True)
    elapsed = time.monotonic() - started
    timer.cancel()
    statuses = {row["status"]: row["n"] for row in await store.fetch_all(
        "SELECT status, SUM(n) AS n FROM job_counts WHERE n > 0 GROUP BY status")}
    await store.close()
    return {"elapsed": elapsed, "report": report, "http": dict(counts), "statuses": statuses,
            "timed_out": bool(timed_out)}


async def _both(workdir: Path, urls: dict[str, str], ledgers: dict[str, Books],
                deadline: float) -> dict[str, dict[str, Any]]:
    names = list(ledgers)
    results = await asyncio.gather(*(_sync(workdir / f"{n}.db", n, urls[n], ledgers[n],
                                           deadline) for n in names))
    return dict(zip(names, results, strict=True))


def _report(name: str, ledger: Books, result: dict[str, Any], state: dict[str, Any],
            budgets: dict[str, tuple[Budget, bool]]) -> None:
    stages = ledger.stages()
    records = sum(sum(s.values()) for s in stages)
    elapsed = result["elapsed"]
    sizes = {e: n for s in stages for e, n in s.items()}
    emit(f"throughput.{name}.records", records, "records", "", detail=sizes)
    synced = result["statuses"].get("synced", 0)
    emit(f"throughput.{name}.elapsed", elapsed, "s", REFERENCE if name == "quickbooks" else "",
         statuses=result["statuses"], timed_out=result["timed_out"])
    emit(f"throughput.{name}.records_per_s", synced / elapsed, "records/s",
         "synced records per second of the run")
    if result["timed_out"]:
        # Stopped at the deadline: the elapsed time is a lower bound, the ratio too.
        emit(f"throughput.{name}.unfinished", records - synced, "records",
             "left when the deadline stopped the engine")
    for label, (budget, singles) in budgets.items():
        least = floor(stages, budget, singles=singles)
        emit(f"throughput.{name}.floor.{label}", least, "s",
             f"limits alone, zero latency; {requests_needed(stages, budget)} requests "
             "with maximal batching" + (" plus singles while batches wait" if singles else ""))
        if least >= 1.0:
            emit(f"throughput.{name}.elapsed_over_floor.{label}", elapsed / least, "ratio",
                 "a lower bound: stopped at the deadline" if result["timed_out"]
                 else "1.0 = as fast as the limits allow")
    http = result["http"]
    emit(f"throughput.{name}.requests", state["requests"], "requests",
         "as the sandbox saw them (API calls, not OAuth)",
         engine_counted=result["report"].requests)
    emit(f"throughput.{name}.rate_limited", state["rate_limited"], "responses",
         "429s from the sandbox's per-realm limiter; should be ~0")
    emit(f"throughput.{name}.http_429", http.get(429, 0), "responses",
         "every 429 the client saw (incl. QBO's batch limiter); should be ~0",
         by_status={str(k): v for k, v in sorted(http.items())})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3629)
    parser.add_argument("--invoices", type=int, default=250)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--xero-invoices", type=int, default=150)
    parser.add_argument("--deadline", type=float, default=240.0,
                        help="stop the engines after this many seconds (quick: 40)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.invoices, args.customers, args.xero_invoices = 600, 150, 20, 30
        args.deadline = min(args.deadline, 40.0)
    workdir = Path(tempfile.mkdtemp(prefix="throughput-"))
    os.environ.setdefault("SYNCDESK_KEY_FILE", str(workdir / "secret.key"))
    os.environ["SYNCDESK_CONFIG"] = str(workdir / "none.toml")
    full = build_ledger(args.items, args.invoices, args.customers)
    ledgers = {"quickbooks": full, "xero": full.subset(args.xero_invoices)}
    with SandboxFleet(list(ledgers), limits_enabled=True) as fleet:
        results = asyncio.run(_both(workdir, fleet.urls, ledgers, args.deadline))
        states = {n: httpx.get(f"{fleet.urls[n]}/_sandbox/state", timeout=10).json()
                  for n in ledgers}
    unbatched_items = [{"item": args.items}]
    emit("throughput.quickbooks.items_unbatched_floor", floor(unbatched_items, replace(
        QBO, batch_size=1)), "s", f"{args.items} items one per request at 500/min, 10/s")
    _report("quickbooks", full, results["quickbooks"], states["quickbooks"],
            {"batches": (QBO, False), "best": (QBO, True)})
    _report("xero", ledgers["xero"], results["xero"], states["xero"],
            {"as_sent": (XERO_AS_SENT, False), "best": (XERO_BEST, False)})
    failed = sum(r["statuses"].get("failed", 0) for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
