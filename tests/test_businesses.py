"""Many businesses in one store (#14): the migration of a one-business store, record ids that
are each business's own, scopes that never show another business's data, and fairness."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from engine import (
    Businesses,
    ConfigError,
    Customer,
    InputError,
    Invoice,
    Item,
    JobFilter,
    Ledger,
    NewConnection,
    Payment,
    Sealer,
    Sort,
    Store,
    SyncService,
    TokenSet,
    add_connection,
)
from engine._models import Entity
from engine._schema import MIGRATIONS
from engine._store import _statements
from engine._time import utcnow
from tests._world import World

STAMP = "2026-09-01T00:00:00.000000Z"
BEFORE = next(i for i, script in enumerate(MIGRATIONS) if "CREATE TABLE businesses" in script)
"""How many migrations a store had before businesses."""
BACKLOG = 100_000


def books(number: str = "INV-1") -> list[Any]:
    return [
        Customer(id="C-1", display_name="Maria Lopez"),
        Item(id="TILE", sku="TILE", name="Tile", unit_price=Decimal("12.50"),
             income_accounts={"quickbooks": "79", "xero": "200"}),
        Invoice.model_validate({
            "id": "INV-1", "number": number, "customer_id": "C-1", "issue_date": "2026-09-01",
            "status": "sent", "lines": [{"item_id": "TILE", "quantity": "2",
                                         "unit_price": "50.00"}]}),
        Payment.model_validate({
            "id": "P-1", "customer_id": "C-1", "date": "2026-09-02", "amount": "40.00",
            "allocations": [{"invoice_id": "INV-1", "amount": "40.00"}]}),
    ]


async def connect(store: Store, business: int, tenant: str) -> int:
    return await add_connection(store, NewConnection(
        "xero", tenant, tenant, TokenSet("access", "refresh", utcnow()), business_id=business),
        Sealer(Fernet.generate_key()))


async def test_a_store_from_before_businesses_migrates_into_default_with_nothing_lost(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys = ON")
    for script in MIGRATIONS[:BEFORE]:
        for statement in _statements(script):
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {BEFORE}")
    db.executescript(f"""
        INSERT INTO customers (id, display_name, classification, doc, version, updated_at)
        VALUES ('C-1', 'Maria Lopez', 'homeowner',
                '{{"id": "C-1", "display_name": "Maria Lopez"}}', 3, '{STAMP}');
        INSERT INTO items (id, sku, name, doc, updated_at) VALUES ('TILE', 'TILE', 'Tile',
            '{{"id": "TILE", "sku": "TILE", "name": "Tile", "unit_price": "12.50"}}', '{STAMP}');
        INSERT INTO invoices (id, number, customer_id, status, currency, total_minor, doc,
            updated_at) VALUES ('INV-1', 'INV-0001', 'C-1', 'sent', 'USD', 10000,
            '{{"id": "INV-1", "number": "INV-0001", "customer_id": "C-1",
               "issue_date": "2026-09-01", "status": "sent", "lines": [{{"item_id": "TILE",
               "quantity": "8", "unit_price": "12.50"}}]}}', '{STAMP}');
        INSERT INTO document_items VALUES ('invoice', 'INV-1', 'TILE');
        INSERT INTO payments (id, customer_id, currency, amount_minor, doc, updated_at)
        VALUES ('P-1', 'C-1', 'USD', 4000, '{{"id": "P-1", "customer_id": "C-1",
            "date": "2026-09-02", "amount": "40.00", "allocations": [{{"invoice_id": "INV-1",
            "amount": "40.00"}}]}}', '{STAMP}');
        INSERT INTO allocations VALUES ('payment', 'P-1', 'INV-1', 4000);
        INSERT INTO connections (platform, tenant_id, tenant_name, created_at, updated_at)
        VALUES ('xero', 't-1', 'Lopez Tiling', '{STAMP}', '{STAMP}');
        INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, status,
            record_version, label, created_at, updated_at) VALUES
            (1, 'invoice', 'INV-1', 2, 'create', 'failed', 1, 'INV-0001', '{STAMP}', '{STAMP}');
        INSERT INTO api_keys (name, hint, digest, created_at)
        VALUES ('shop', 'sdk_abcd', 'digest', '{STAMP}');
        INSERT INTO audit (at, actor, command, scope, affected)
        VALUES ('{STAMP}', 'cli', 'retry', '{{}}', 1);
    """)
    db.commit()
    db.close()

    store = await Store.open(path)
    try:
        assert [b.name for b in await Businesses(store).list()] == ["default"]
        ledger = Ledger(store)
        customer = await ledger.get(Entity.CUSTOMER, "C-1")
        assert customer is not None and customer.display_name == "Maria Lopez"
        balance = await ledger.balance("INV-1")
        assert balance is not None and (balance.total, balance.paid) == (Decimal("100.00"),
                                                                       Decimal("40.00"))
        for table, count in (("customers", 1), ("items", 1), ("invoices", 1),
                             ("document_items", 1), ("payments", 1), ("allocations", 1),
                             ("sync_jobs", 1), ("api_keys", 1), ("audit", 1)):
            assert await store.fetch_value(f"SELECT COUNT(*) FROM {table}") == count, table
        for table in ("customers", "invoices", "connections", "api_keys", "audit",
                      "allocations"):
            assert await store.fetch_value(
                f"SELECT COUNT(*) FROM {table} WHERE business_id != 1") == 0, table
        assert await store.fetch_value("SELECT version FROM customers") == 3
        assert await store.fetch_all("PRAGMA foreign_key_check") == []
        # The migrated ledger still keeps its rules: an item in use cannot go.
        async with store.write() as write:
            with pytest.raises(sqlite3.IntegrityError):
                await write.execute("DELETE FROM items WHERE id = 'TILE'")
        service = SyncService(store, actor="test", business=1)
        assert [j.label for j in (await service.page(JobFilter())).rows] == ["INV-0001"]
    finally:
        await store.close()


async def test_record_ids_numbers_and_skus_are_each_business_s_own(store: Store) -> None:
    second = (await Businesses(store).add("Harbour Plumbing", actor="test")).id
    first_xero, second_xero = await connect(store, 1, "t-1"), await connect(store, second, "t-2")
    await Ledger(store).upsert(books())
    await Ledger(store, business=second).upsert(books())  # the same ids, numbers and SKUs
    jobs = await store.fetch_all("SELECT connection_id, COUNT(*) AS n FROM sync_jobs "
                                 "GROUP BY connection_id ORDER BY connection_id")
    assert [(r["connection_id"], r["n"]) for r in jobs] == [(first_xero, 4), (second_xero, 4)]

    # A change in one business queues nothing in the other.
    await Ledger(store, business=second).upsert([Customer(id="C-1", display_name="M. Lopez")])
    first = await Ledger(store).get(Entity.CUSTOMER, "C-1")
    assert first is not None and first.display_name == "Maria Lopez"
    versions = await store.fetch_all("SELECT connection_id, record_version FROM sync_jobs "
                                     "WHERE entity = 'customer' ORDER BY connection_id")
    assert [(r[0], r[1]) for r in versions] == [(first_xero, 1), (second_xero, 2)]

    # References never cross: business 2 has no invoice INV-9, though business 1 does.
    await Ledger(store).upsert([books("INV-0009")[2].model_copy(
        update={"id": "INV-9", "number": "INV-0009"})])
    stray = Payment.model_validate({
        "id": "P-9", "customer_id": "C-1", "date": "2026-09-02", "amount": "1.00",
        "allocations": [{"invoice_id": "INV-9", "amount": "1.00"}]})
    with pytest.raises(InputError, match="no invoice 'INV-9'"):
        await Ledger(store, business=second).upsert([stray])


async def test_a_scoped_service_never_shows_or_touches_another_business(store: Store) -> None:
    second = (await Businesses(store).add("Harbour Plumbing", actor="test")).id
    mine, theirs = await connect(store, second, "t-2"), await connect(store, 1, "t-1")
    await Ledger(store).upsert(books())
    await Ledger(store, business=second).upsert(books()[:1])
    service = SyncService(store, actor="test", business=second)
    assert [c.id for c in await service.connections()] == [mine]
    page = await service.page(JobFilter())
    assert {job.connection_id for job in page.rows} == {mine} and len(page.rows) == 1
    assert await service.count(JobFilter(connection_id=theirs)) == 0
    window = await service.rows_after(JobFilter(), Sort.RECENT, limit=10)
    assert {job.connection_id for job in window.rows} == {mine}
    assert await service.total(JobFilter()) == 1
    their_job = await store.fetch_value("SELECT id FROM sync_jobs WHERE connection_id = ?",
                                        (theirs,))
    assert await service.job(their_job) is None
    assert await service.retry([their_job]) == 0
    with pytest.raises(ConfigError, match="no connection"):
        await service.pause(theirs)
    assert [row.connection_id for row, _ in await service.record_jobs(
        Entity.CUSTOMER, "C-1")] == [mine]
    everyone = SyncService(store, actor="test")
    assert await everyone.count(JobFilter()) == 5


async def test_businesses_are_added_renamed_found_and_removed_only_when_empty(
        store: Store) -> None:
    businesses = Businesses(store)
    assert (await businesses.find(None)).name == "default"
    added = await businesses.add("Harbour Plumbing", actor="test")
    with pytest.raises(ConfigError, match=r"several businesses.*default, Harbour Plumbing"):
        await businesses.find(None)
    with pytest.raises(ConfigError, match="exists already"):
        await businesses.add("Harbour Plumbing", actor="test")
    with pytest.raises(ConfigError, match="only digits"):
        await businesses.add("42", actor="test")
    assert (await businesses.find(str(added.id))).name == "Harbour Plumbing"
    renamed = await businesses.rename("default", "Lopez Tiling", actor="test")
    assert renamed.id == 1 and (await businesses.find("Lopez Tiling")).id == 1
    await Ledger(store, business=added.id).upsert(books()[:1])
    with pytest.raises(ConfigError, match="still holds 1 customers"):
        await businesses.remove("Harbour Plumbing", actor="test")
    empty = await businesses.add("Empty", actor="test")
    await businesses.remove("Empty", actor="test")
    assert empty.id not in {b.id for b in await businesses.list()}
    with pytest.raises(ConfigError, match="no business 'Empty'"):
        await businesses.find("Empty")
    assert await store.fetch_value(
        "SELECT COUNT(*) FROM audit WHERE command LIKE 'business_%'") == 4


async def test_a_tenant_belongs_to_one_business(store: Store) -> None:
    second = (await Businesses(store).add("Harbour Plumbing", actor="test")).id
    await connect(store, 1, "t-1")
    with pytest.raises(ConfigError, match="connected to another business"):
        await connect(store, second, "t-1")


@pytest.mark.e2e
async def test_one_business_s_100k_backlog_never_starves_another_s_single_invoice(
        store: Store, sealer: Sealer, make_world: Callable[..., Any]) -> None:
    """Deliver 5: workers are per connection, so a business with 100,000 records waiting on
    its platform does not hold back another business's invoice on its own."""
    world: World = await make_world(("xero", "quickbooks"))
    busy = world.connections["quickbooks"]
    # The busy business's backlog: 100,000 customers, written in one statement each for the
    # ledger and the outbox (the same rows the ledger writes, minus 100,000 round trips).
    async with store.write() as db:
        await db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO customers (business_id, id, display_name, classification, doc, "
            "updated_at) SELECT 1, 'B-' || i, 'Backlog ' || i, 'homeowner', "
            "json_object('id', 'B-' || i, 'display_name', 'Backlog ' || i), ? FROM n",
            (BACKLOG, STAMP))
        await db.execute(
            "INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, status, "
            "record_version, label, created_at, updated_at) SELECT ?, 'customer', id, 0, "
            "'create', 'pending', 1, display_name, ?, ? FROM customers WHERE business_id = 1 "
            "AND id LIKE 'B-%'", (busy, STAMP, STAMP))
    # The other business, on its own platform connection, with one invoice.
    other = (await Businesses(store).add("Harbour Plumbing", actor="test")).id
    await store.run_write(lambda db: db.execute(
        "UPDATE connections SET business_id = ? WHERE id = ?",
        (other, world.connections["xero"])))
    await Ledger(store, business=other).upsert(books())
    stop = asyncio.Event()
    engine = world.engine()
    running = asyncio.create_task(engine.run(stop))
    try:
        # Waits on state: the invoice syncs, or the busy business gets a tenth of its backlog
        # through while the invoice still waits (that is starving it), or the engine stops.
        while True:
            status = await store.fetch_value(
                "SELECT status FROM sync_jobs WHERE connection_id = ? AND entity = 'invoice'",
                (world.connections["xero"],))
            if status == "synced":
                break
            busy_done = await store.fetch_value(
                "SELECT COALESCE(SUM(n), 0) FROM job_counts WHERE connection_id = ? AND "
                "status = 'synced'", (busy,))
            assert busy_done < BACKLOG // 10, (
                f"starved: {busy_done} of the backlog synced, the invoice is still {status}")
            assert not running.done(), running
            await asyncio.sleep(0.01)
        waiting = await store.fetch_value(
            "SELECT COUNT(*) FROM sync_jobs WHERE connection_id = ? AND status = 'pending'",
            (busy,))
        assert waiting > BACKLOG * 0.9, "the backlog drained first: this proves nothing"
    finally:
        stop.set()
        await running
    # Both businesses' platforms were in use at the same time: it was not luck of order.
    assert await store.fetch_value("SELECT COUNT(*) FROM sync_jobs WHERE connection_id = ? "
                                   "AND status = 'synced'", (busy,)) > 0


def test_the_cli_names_a_business_or_refuses_to_guess(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--db", str(tmp_path / "s.db")])
        out, err = capsys.readouterr()
        return code, out, err

    assert run("seed", "--size", "12")[0] == 0  # one business: no need to name it
    assert run("business", "add", "Harbour Plumbing")[0] == 0
    code, _, err = run("status")
    assert code == 2 and "several businesses" in err and "Harbour Plumbing" in err
    assert run("seed", "--size", "10", "--business", "Harbour Plumbing")[0] == 0
    counts = {}
    for name in ("default", "Harbour Plumbing"):
        code, out, _ = run("status", "--json", "--business", name)
        counts[name] = json.loads(out)["ledger"]["customers"]
    assert counts == {"default": 12, "Harbour Plumbing": 10}
    assert run("business", "rename", "default", "Lopez Tiling")[0] == 0
    code, out, _ = run("business", "list", "--json")
    assert [b["name"] for b in json.loads(out)] == ["Lopez Tiling", "Harbour Plumbing"]
    code, _, err = run("business", "remove", "Harbour Plumbing")
    assert code == 2 and "still holds 10 customers" in err
    code, out, _ = run("api-key", "create", "shop", "--business", "Lopez Tiling", "--json")
    assert code == 0 and json.loads(out)["key"].startswith("sdk_")
    code, out, _ = run("api-key", "list", "--business", "Harbour Plumbing", "--json")
    assert json.loads(out) == []
