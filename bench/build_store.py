"""A big store, built fast, and what the console's queries cost on it.

`build()` writes N sync jobs spread over four connections (one per platform) with direct SQL
in transactions of 50,000 rows through a `Store`, triggers on: `job_counts` and `events`
are kept by the schema's own triggers, and the build checks the counts against a GROUP BY.
Every job has a ledger row behind it (minimal, but valid for the engine's models) and every
synced job a link. Statuses are spread as a store a few months old looks: mostly synced,
failed with real error classes, codes and messages, pending, blocked by a parent, skipped
(Wave cannot take payments), a few broken links and uncertain ones.

Then `SyncService` is timed on it: the dashboard, a first record page, a filtered page, a
text search, counts, a dry-run retry and the real retry of ~10% of the jobs, with SQLite's
query plans for the counts and the filtered page (index searches, never a SCAN of
sync_jobs).

    python bench/build_store.py               # 1,000,000 jobs
    python bench/build_store.py --quick       # 100,000 jobs
    python bench/build_store.py --jobs 5000 --db /tmp/s.db --keep
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit
from engine import Entity, JobFilter, Store, SyncService
from engine._store import SQLiteStore

PLATFORMS = ("quickbooks", "xero", "wave", "freshbooks")
BATCH = 50_000
NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)
"""Every timestamp lies in the 90 days before this moment (no clock is read)."""

ENTITY_SHARE = ((Entity.CUSTOMER, 0.05), (Entity.ITEM, 0.01), (Entity.INVOICE, 0.54),
                (Entity.PAYMENT, 0.40))
STATUS_SHARE = (("synced", 0.855), ("failed", 0.075), ("pending", 0.02), ("blocked", 0.02),
                ("skipped", 0.025), ("broken_link", 0.003), ("uncertain", 0.002))
"""Failed, blocked, broken_link and uncertain: 10% of the jobs (what `retry` re-queues);
skipped ones on top, Wave's payments all among them."""

FAILURES = (
    ("validation", "6000", 400, "A business validation error has occurred: Amount is not "
     "equal to Lines total [/Line/0]"),
    ("validation", "2050", 400, "Invalid string format: Email Address does not conform to "
     "the syntax rules of RFC 822"),
    ("duplicate", "6140", 400, "Duplicate Document Number Error: You must specify a "
     "different number. This number has already been used."),
    ("duplicate", "6240", 400, "The name supplied already exists."),
    ("transient", "503", 503, "Service Unavailable: the platform did not answer in time"),
    ("not_found", "610", 400, "Object Not Found: Something you're trying to use has been "
     "made inactive."),
    ("stale", "5010", 400, "Stale Object Error: You and another user were working on the "
     "same thing."),
    ("auth_expired", "3200", 401, "AuthenticationFailed: token expired"),
)
SKIPS = {
    "payment": ("unsupported", None, "Payments are not supported by Wave's public API"),
    "other": ("unmapped", None, "Item Labor has no income account for this platform: map one "
              "on the Connections screen"),
}


@dataclass(frozen=True)
class Built:
    path: Path
    jobs: int
    connections: list[int]
    seconds: float
    by_status: dict[str, int]


def _pick(rng: random.Random, shares: Sequence[tuple[Any, float]]) -> Any:
    roll = rng.random()
    for value, share in shares:
        roll -= share
        if roll < 0:
            return value
    return shares[0][0]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _records(count: int) -> list[tuple[Entity, str]]:
    """`count` ledger records, by entity share, with stable ids."""
    out: list[tuple[Entity, str]] = []
    for entity, share in ENTITY_SHARE:
        n = max(1, round(count * share))
        out.extend((entity, f"{entity.value[:3].upper()}-{i:07d}") for i in range(n))
    return out[:count] if len(out) > count else out


def _ledger_rows(records: Sequence[tuple[Entity, str]], customers: int
                 ) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {"customer": [], "item": [], "invoice": [],
                                               "payment": []}
    when = _stamp(NOW - timedelta(days=91))
    for index, (entity, rid) in enumerate(records):
        customer = f"CUS-{index % customers:07d}"
        if entity is Entity.CUSTOMER:
            name = f"Customer {rid[4:]} Renovations"
            rows["customer"].append((rid, name, "business", json.dumps(
                {"id": rid, "display_name": name, "classification": "business"}), when))
        elif entity is Entity.ITEM:
            rows["item"].append((rid, f"SKU{rid[4:]}", f"Item {rid[4:]}", json.dumps(
                {"id": rid, "sku": f"SKU{rid[4:]}", "name": f"Item {rid[4:]}",
                 "unit_price": "10.00", "income_account": "79"}), when))
        elif entity is Entity.INVOICE:
            number = f"INV-{rid[4:]}"
            amount = 1000 + index * 37 % 500_000
            rows["invoice"].append((rid, number, customer, "sent", "USD", amount, json.dumps(
                {"id": rid, "number": number, "customer_id": customer, "currency": "USD",
                 "issue_date": "2026-06-01", "status": "sent",
                 "lines": [{"description": "Renovation work",
                            "unit_price": f"{amount / 100:.2f}"}]}), when))
        else:
            amount = 1000 + index * 53 % 300_000
            rows["payment"].append((rid, customer, "USD", amount, f"CHK-{rid[4:]}",
                                    json.dumps({"id": rid, "customer_id": customer,
                                                "currency": "USD", "date": "2026-07-01",
                                                "amount": f"{amount / 100:.2f}"}), when))
    return rows


_LEDGER_SQL = {
    "customer": "INSERT INTO customers (id, display_name, classification, doc, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
    "item": "INSERT INTO items (id, sku, name, doc, updated_at) VALUES (?, ?, ?, ?, ?)",
    "invoice": "INSERT INTO invoices (id, number, customer_id, status, currency, total_minor, "
               "doc, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "payment": "INSERT INTO payments (id, customer_id, currency, amount_minor, reference, doc, "
               "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
}

_JOB_SQL = (
    "INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, status, "
    "record_version, sent_version, label, customer, amount_minor, currency, attempts, "
    "next_attempt_at, last_attempt_at, idempotency_key, error_class, error_code, "
    "error_message, http_status, blocked_entity, blocked_record, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, 'create', ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LINK_SQL = ("INSERT INTO sync_links (connection_id, entity, record_id, remote_id, "
             "remote_version, remote_number, synced_version, synced_at) "
             "VALUES (?, ?, ?, ?, '0', ?, 1, ?)")


def _jobs(connections: Sequence[tuple[int, str]], records: Sequence[tuple[Entity, str]],
          customers: int, seed: int, status_share: Sequence[tuple[str, float]]
          ) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...] | None]]:
    """(job row, link row or None) for every record on every connection."""
    rng = random.Random(seed)
    span = 90 * 86_400
    for connection_id, platform in connections:
        for index, (entity, rid) in enumerate(records):
            status = _pick(rng, status_share)
            if platform == "wave" and entity is Entity.PAYMENT:
                status = "skipped"
            updated = NOW - timedelta(seconds=rng.randrange(span))
            stamp = _stamp(updated)
            label = {Entity.CUSTOMER: f"Customer {rid[4:]} Renovations",
                     Entity.ITEM: f"Item {rid[4:]}", Entity.INVOICE: f"INV-{rid[4:]}",
                     Entity.PAYMENT: f"CHK-{rid[4:]}"}[entity]
            customer = None if entity in (Entity.CUSTOMER, Entity.ITEM) else \
                f"Customer {index % customers:07d} Renovations"
            amount = None if customer is None else 1000 + index * 37 % 500_000
            error: tuple[Any, ...] = (None, None, None, None)
            blocked: tuple[Any, Any] = (None, None)
            attempts, next_at, sent = 1, None, 1
            if status == "failed":
                error = rng.choice(FAILURES)
                attempts = 6 if error[0] == "transient" else 1
            elif status == "skipped":
                skip = SKIPS["payment" if entity is Entity.PAYMENT else "other"]
                error = (skip[0], skip[1], None, skip[2])
                attempts = 0
            elif status == "blocked":
                blocked = ("customer", f"CUS-{index % customers:07d}")
                attempts = 0
            elif status == "pending":
                attempts, sent = 0, None
                next_at = _stamp(NOW + timedelta(seconds=rng.randrange(600)))
            elif status == "broken_link":
                error = ("not_found", "610", 400, "Object Not Found: it was deleted on the "
                         "platform")
            elif status == "uncertain":
                error = ("transient", None, None, "No answer within 30 s; reconciling before "
                         "sending again")
            key = f"{connection_id}:{entity.value}:{rid}:1"
            yield ((connection_id, entity.value, rid, entity.stage, status, sent, label,
                    customer, amount, "USD" if amount else None, attempts, next_at,
                    stamp if attempts else None, key if sent else None,
                    error[0], error[1], error[3], error[2], *blocked,
                    stamp, stamp),
                   (connection_id, entity.value, rid, f"{connection_id}{index}", label, stamp)
                   if status in ("synced", "broken_link") else None)


async def build(path: Path, jobs: int, *, seed: int = 5,
                status_share: Sequence[tuple[str, float]] = STATUS_SHARE) -> Built:
    """Write a store of `jobs` sync jobs over four connections at `path` (a new file),
    statuses drawn by `status_share` (a bad week has more failures than STATUS_SHARE)."""
    started = time.perf_counter()
    store = await Store.open(path)
    per_connection = max(1, jobs // len(PLATFORMS))
    records = _records(per_connection)
    customers = max(1, sum(1 for e, _ in records if e is Entity.CUSTOMER))
    stamp = _stamp(NOW - timedelta(days=91))
    async with store.write() as db:
        for platform in PLATFORMS:
            await db.execute(
                "INSERT INTO connections (platform, tenant_id, tenant_name, created_at, "
                "updated_at, last_success_at) VALUES (?, ?, ?, ?, ?, ?)",
                (platform, f"{platform}-tenant", f"Bench {platform.title()} Co", stamp, stamp,
                 _stamp(NOW)))
        for table, rows in _ledger_rows(records, customers).items():
            await db.executemany(_LEDGER_SQL[table], rows)
    connections = [(row["id"], row["platform"]) for row in await store.fetch_all(
        "SELECT id, platform FROM connections ORDER BY id")]
    stream = _jobs(connections, records, customers, seed, status_share)
    done = False
    while not done:
        job_rows, link_rows = [], []
        for job, link in stream:
            job_rows.append(job)
            if link is not None:
                link_rows.append(link)
            if len(job_rows) >= BATCH:
                break
        else:
            done = True
        if not job_rows:
            break
        async with store.write() as db:
            await db.executemany(_JOB_SQL, job_rows)
            await db.executemany(_LINK_SQL, link_rows)
    await store.fetch_value("PRAGMA optimize")
    counted = {row["status"]: row["n"] for row in await store.fetch_all(
        "SELECT status, SUM(n) AS n FROM job_counts GROUP BY status")}
    actual = {row["status"]: row["n"] for row in await store.fetch_all(
        "SELECT status, COUNT(*) AS n FROM sync_jobs GROUP BY status")}
    await store.close()
    if {k: v for k, v in counted.items() if v} != actual:
        raise AssertionError(f"job_counts {counted} disagree with sync_jobs {actual}")
    return Built(path, sum(actual.values()), [c for c, _ in connections],
                 time.perf_counter() - started, actual)


class RecordingStore(SQLiteStore):
    """A `Store` that remembers the last query, so its plan can be asked for."""

    last: tuple[str, Any] = ("", ())

    async def fetch_all(self, sql: str, params: Any = ()) -> Any:
        self.last = (sql, params)
        return await super().fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Any = ()) -> Any:
        self.last = (sql, params)
        return await super().fetch_one(sql, params)


def _scans(plan: list[str]) -> list[str]:
    """Plan steps that read all of sync_jobs (a SCAN, even one through an index)."""
    return [step for step in plan if step.startswith("SCAN") and (
        " j" in step or "sync_jobs" in step)]


async def _timed(name: str, call: Any, reference: str = "", **extra: Any) -> Any:
    started = time.perf_counter()
    result = await call
    elapsed = (time.perf_counter() - started) * 1000
    emit(name, elapsed, "ms", reference, **extra)
    return result


async def measure(path: Path, connection_id: int) -> None:
    """Time the console's queries on the store at `path` and print their plans."""
    store = await RecordingStore.connect(path)
    service = SyncService(store, actor="bench")
    invoices = JobFilter(connection_id=connection_id, entity=Entity.INVOICE)
    failed = JobFilter(connection_id=connection_id, entity=Entity.INVOICE,
                       statuses=("failed",), error_class="validation")
    await _timed("store.dashboard.connections", service.connections(), "4 connections")
    page = await _timed("store.page.first", service.page(invoices), "100 invoices, newest first")
    await _timed("store.page.second", service.page(invoices, after=page.next), "keyset cursor")
    await _timed("store.page.filtered", service.page(failed),
                 "status failed + error_class validation")
    plans = {"page.filtered": await store.explain(*store.last)}
    await _timed("store.page.search", service.page(JobFilter(
        connection_id=connection_id, entity=Entity.INVOICE, text="0004242")),
        "text search: LIKE over label, record id, customer, error")
    await _timed("store.page.search_all", service.page(JobFilter(text="Amount is not equal")),
                 "text search over every connection's jobs")
    for name, where in (("count.failed", JobFilter(connection_id=connection_id,
                                                   statuses=("failed",))),
                        ("count.filtered", failed),
                        ("count.connection", JobFilter(connection_id=connection_id))):
        n = await _timed(f"store.{name}", service.count(where), where.describe())
        plans[name] = await store.explain(*store.last)
        emit(f"store.{name}.rows", n, "jobs")
    one = JobFilter(connection_id=connection_id)
    n = await _timed("store.retry_matching.dry_run.connection", service.retry_matching(
        one, dry_run=True), "every retryable job of one connection")
    plans["retry_matching.dry_run.connection"] = await store.explain(*store.last)
    emit("store.retry_matching.dry_run.connection.rows", n, "jobs")
    everything = JobFilter()
    n = await _timed("store.retry_matching.dry_run", service.retry_matching(
        everything, dry_run=True), "every retryable job of every connection")
    plans["retry_matching.dry_run.all"] = await store.explain(*store.last)
    emit("store.retry_matching.dry_run.rows", n, "jobs")
    failures = JobFilter(statuses=("failed", "blocked", "broken_link", "uncertain"))
    n = await _timed("store.retry_matching.enqueue", service.retry_matching(failures),
                     "every failure of every connection (skipped left alone): set-based, "
                     "counted once per statement, one event")
    emit("store.retry_matching.enqueue.rows", n, "jobs")
    await _timed("store.dashboard.after_retry", service.connections(),
                 "oldest pending now spans the re-queued jobs")
    for name, plan in plans.items():
        emit(f"store.plan.{name}", len(_scans(plan)), "full scans of sync_jobs", "must be 0",
             plan=plan)
    await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="where to write the store (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--quick", action="store_true", help="100,000 jobs")
    args = parser.parse_args(argv)
    jobs = 100_000 if args.quick else args.jobs
    workdir = Path(tempfile.mkdtemp(prefix="build-store-"))
    path = args.db or workdir / "store.db"
    if path.exists():
        parser.error(f"{path} exists: build_store writes a new store")
    built = asyncio.run(build(path, jobs))
    emit("store.build.jobs", built.jobs, "jobs", "4 connections", by_status=built.by_status)
    emit("store.build.seconds", built.seconds, "s", "direct SQL, 50,000 rows a transaction, "
         "triggers on")
    emit("store.build.jobs_per_s", built.jobs / built.seconds, "jobs/s")
    emit("store.build.size", path.stat().st_size / 1e6, "MB")
    asyncio.run(measure(path, built.connections[0]))
    if not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
