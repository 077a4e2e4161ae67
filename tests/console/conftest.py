"""A real store in a tmp dir with two connections and a few records in every state.

Statuses, errors and attempts are set with SQL here only (the fixture plays the engine);
the console under test reads everything through `SyncService`, on a fixed clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from console.app import SyncdeskApp
from engine import (
    Allocation,
    Customer,
    Invoice,
    InvoiceStatus,
    Item,
    Ledger,
    Line,
    NewConnection,
    Payment,
    Sealer,
    Store,
    SyncService,
    TokenSet,
    add_connection,
)
from engine._time import to_iso

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
BRACKETS = "Line 1: [/Line/0] Amount is invalid [bold]not markup[/bold]"


def clock() -> datetime:
    return NOW


def ago(**delta: float) -> str:
    return to_iso(NOW - timedelta(**delta))


async def build(path: Path) -> Store:
    store = await Store.open(path)
    customers = [Customer(id=f"C-{n}", display_name=name) for n, name in
                 enumerate(["Smith & Co", "Jones Builders", "Ada Homes"], 1)]
    items = [Item(id="I-1", sku="TILE", name="Floor tile", unit_price=Decimal("12.50"),
                  income_account="4000"),
             Item(id="I-2", sku="GROUT", name="Grout")]
    invoices = [Invoice(id=f"V-{n}", number=f"INV-100{n}", customer_id=f"C-{n % 3 + 1}",
                        issue_date=date(2025, 3, n), status=InvoiceStatus.SENT,
                        lines=[Line(item_id="I-2" if n == 4 else "I-1", quantity=Decimal(n),
                                    unit_price=Decimal("12.50"))]) for n in range(1, 6)]
    payments = [Payment(id="P-1", customer_id="C-2", date=date(2025, 3, 10),
                        amount=Decimal("12.50"), reference="PAY-1",
                        allocations=[Allocation(invoice_id="V-1", amount=Decimal("12.50"))])]
    await Ledger(store, clock).upsert([*customers, *items, *invoices, *payments])
    sealer = Sealer(Fernet.generate_key())
    for platform, tenant in (("quickbooks", "Acme Builders"), ("xero", "Acme Ltd (NZ)")):
        await add_connection(store, NewConnection(
            platform=platform, tenant_id=f"t-{platform}", tenant_name=tenant,
            tokens=TokenSet("access", "refresh", NOW + timedelta(hours=1),
                            NOW + timedelta(days=87)),
        ), sealer, clock)
    async with store.write() as db:
        await db.execute("UPDATE sync_jobs SET updated_at = ?, created_at = ?",
                         (ago(minutes=30), ago(minutes=30)))
        await db.execute(
            "UPDATE connections SET last_success_at = ?, minute_remaining = 412, "
            "day_remaining = 9800, updated_at = ? WHERE platform = 'quickbooks'",
            (ago(minutes=3), ago(minutes=3)))
        await db.execute(
            "UPDATE connections SET state = 'paused', state_reason = 'paused by ops', "
            "parked_until = ?, updated_at = ? WHERE platform = 'xero'",
            (to_iso(NOW + timedelta(minutes=4)), ago(minutes=1)))
        qbo = "(SELECT id FROM connections WHERE platform = 'quickbooks')"
        await db.execute(
            f"UPDATE sync_jobs SET status = 'synced', updated_at = ? WHERE connection_id = "
            f"{qbo} AND entity IN ('customer', 'item')", (ago(minutes=20),))
        await db.execute(
            f"INSERT INTO sync_links (connection_id, entity, record_id, remote_id, "
            f"synced_version, synced_at) SELECT connection_id, entity, record_id, "
            f"'Q' || id, 1, ? FROM sync_jobs WHERE connection_id = {qbo} AND status = 'synced'",
            (ago(minutes=20),))
        await db.execute(
            f"UPDATE sync_jobs SET status = 'failed', error_class = 'validation', "
            f"error_code = '6000', error_message = ?, http_status = 400, attempts = 3, "
            f"last_attempt_at = ?, next_attempt_at = ?, updated_at = ? "
            f"WHERE connection_id = {qbo} AND record_id IN ('V-2', 'V-3')",
            (BRACKETS, ago(minutes=5), to_iso(NOW + timedelta(minutes=10)), ago(minutes=5)))
        await db.execute(
            f"UPDATE sync_jobs SET status = 'blocked', blocked_entity = 'invoice', "
            f"blocked_record = 'V-1', updated_at = ? WHERE connection_id = {qbo} "
            f"AND entity = 'payment'", (ago(minutes=4),))
        await db.execute(
            f"UPDATE sync_jobs SET status = 'skipped', error_class = 'unmapped', "
            f"error_message = 'item GROUT has no income account', updated_at = ? "
            f"WHERE connection_id = {qbo} AND record_id = 'V-4'", (ago(minutes=6),))
        job = f"(SELECT id FROM sync_jobs WHERE connection_id = {qbo} AND record_id = 'V-2')"
        for minutes, code in ((25, "500"), (15, "6000"), (5, "6000")):
            await db.execute(
                f"INSERT INTO sync_attempts (job_id, started_at, duration_ms, operation, "
                f"outcome, error_class, error_code, message, http_status) VALUES "
                f"({job}, ?, 230, 'create', 'failed', ?, ?, ?, ?)",
                (ago(minutes=minutes), "transient" if code == "500" else "validation", code,
                 "Internal error [retry]" if code == "500" else BRACKETS,
                 500 if code == "500" else 400))
        await db.execute(
            f"INSERT INTO notifications (connection_id, entity, record_id, kind, title, "
            f"message, created_at) VALUES ({qbo}, 'invoice', 'V-2', 'failed', "
            f"'INV-1002 failed', ?, ?)", (BRACKETS, ago(minutes=5)))
    return store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await build(tmp_path / "s.db")
    yield store
    await store.close()


@pytest.fixture
def service(store: Store) -> SyncService:
    return SyncService(store, actor="test", clock=clock)


@pytest.fixture
def app(service: SyncService) -> SyncdeskApp:
    return SyncdeskApp(service, poll_interval=0.05)


@pytest.fixture
def sync_app(tmp_path: Path) -> Iterator[SyncdeskApp]:
    """For snapshot tests, which run the app in their own event loop."""
    store = asyncio.run(build(tmp_path / "s.db"))
    yield SyncdeskApp(SyncService(store, actor="test", clock=clock), poll_interval=0.05)
    asyncio.run(store.close())
