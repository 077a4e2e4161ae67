"""Import at setup and the weekly full sync: pull, match, link, import, detect deletions."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.fernet import Fernet

from console._wiring import connect_sandbox, platforms
from console.cli import main
from engine import (
    Classification,
    Customer,
    Entity,
    Invoice,
    InvoiceStatus,
    Item,
    Ledger,
    Line,
    NewConnection,
    Provider,
    PushRequest,
    RemoteCustomer,
    RemoteItem,
    RemoteRef,
    Sealer,
    Store,
    SyncService,
    TokenSet,
    add_connection,
    live_connections,
    open_provider,
)
from engine._directory import check_links, pull_directory
from engine._scheduler import WeeklySync, next_run
from tests._world import World
from tests.test_budget import ledger

MakeWorld = Callable[..., Any]


async def provider_of(world: World, platform: str) -> Any:
    row = next(c for c in await live_connections(world.store) if c.platform == platform)
    return await open_provider(
        world.store, row, platforms()[platform], world.sealer,
        adjust=lambda r, s: replace(s, transport=world.transport(r.platform)))


async def test_pull_links_matches_and_imports_the_rest(make_world: MakeWorld) -> None:
    world: World = await make_world(("xero",))
    # The demo company on Xero already has "Riverside Property Group LLC" and its sales items.
    await world.ledger.upsert([Customer(id="C-1", display_name="Maria Lopez")])
    provider = await provider_of(world, "xero")
    report = await pull_directory(world.store, world.connections["xero"], "xero", provider)
    await provider.aclose()
    assert report.customers_imported >= 1
    imported = await world.store.fetch_one(
        "SELECT id, classification FROM customers WHERE display_name = ?",
        ("Riverside Property Group LLC",))
    assert imported is not None
    assert imported["classification"] == Classification.BUSINESS.value
    job = await world.job("xero", "customer", imported["id"])
    assert job["status"] == "synced"  # it came from Xero: nothing to push back

    # Pulling again changes nothing: linked objects are left alone.
    provider = await provider_of(world, "xero")
    again = await pull_directory(world.store, world.connections["xero"], "xero", provider)
    await provider.aclose()
    assert (again.customers_imported, again.customers_linked) == (0, 0)


async def test_a_matching_local_customer_is_linked_not_duplicated(make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    local = Customer(id="C-7", display_name="Riverside Property Group, LLC")
    await world.ledger.upsert([local])
    connection = world.connections["quickbooks"]
    provider = await provider_of(world, "quickbooks")
    report = await pull_directory(world.store, connection, "quickbooks", provider)
    # The same name, but nothing (no email, no phone) says it is the same customer: held.
    [doubt] = [d for d in report.doubts if d.candidates == ("C-7",)]
    assert report.customers_linked == 0
    held = await world.store.fetch_one("SELECT * FROM directory_doubts WHERE remote_id = ?",
                                       (doubt.remote_id,))
    assert held is not None and json.loads(held["candidates"]) == ["C-7"]
    await provider.aclose()
    # The operator says it is: linked, and the first sync creates no twin.
    provider = await provider_of(world, "quickbooks")
    report = await pull_directory(world.store, connection, "quickbooks", provider,
                                  confirm={doubt.remote_id: "C-7"})
    await provider.aclose()
    assert report.customers_linked == 1 and doubt not in report.doubts
    assert await world.store.fetch_value("SELECT COUNT(*) FROM directory_doubts WHERE "
                                         "remote_id = ?", (doubt.remote_id,)) == 0
    await world.sync()
    assert (await world.remote_counts("quickbooks"))["customer"] == 1


async def test_weekly_check_finds_objects_deleted_on_the_platform(make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    await world.ledger.upsert([Customer(id="C-1", display_name="Maria Lopez"),
                               Item(id="TILE", sku="TILE", name="Tile",
                                    income_accounts={"quickbooks": "79"})])
    await world.sync()
    remote_id = await world.store.fetch_value(
        "SELECT remote_id FROM sync_links WHERE entity = 'item'")
    await world.sandbox("quickbooks", "POST", "/_sandbox/delete",
                        json={"entity": "item", "id": remote_id})
    provider = await provider_of(world, "quickbooks")
    broken = await check_links(world.store, world.connections["quickbooks"], provider,
                               "QuickBooks Online")
    await provider.aclose()
    assert broken == 1
    assert (await world.job("quickbooks", "item", "TILE"))["status"] == "broken_link"
    kinds = [n.kind for n in await SyncService(world.store, actor="t").notifications()]
    assert kinds == ["broken_link"]


def test_schedule_defaults_to_sunday_six_utc() -> None:
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert next_run("0 6 * * 0", saturday) == datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


async def test_weekly_sync_runs_once_per_due_time(store: Any) -> None:
    now = [datetime(2026, 11, 21, 12, 0, tzinfo=UTC)]
    weekly = WeeklySync(store, "0 6 * * 0", lambda: now[0])
    assert not await weekly.run_if_due()          # a new store owes no past runs
    now[0] += timedelta(hours=18, minutes=1)       # Sunday 06:01
    assert await weekly.run_if_due()
    assert not await weekly.run_if_due()           # not twice for the same Sunday
    now[0] += timedelta(days=7)
    assert await weekly.run_if_due()


async def test_weekly_sync_makes_waiting_jobs_due(make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    await world.ledger.upsert([Customer(id="C-1", display_name="Maria Lopez")])
    async with world.store.write() as db:
        await db.execute("UPDATE sync_jobs SET next_attempt_at = '2099-01-01T00:00:00.000000Z'")
    now = [datetime(2026, 11, 22, 7, 0, tzinfo=UTC)]
    async with world.store.write() as db:
        await db.execute("INSERT INTO settings VALUES ('weekly_sync_last_run', "
                         "'2026-11-15T06:00:00.000000Z')")
    assert await WeeklySync(world.store, "0 6 * * 0", lambda: now[0]).run_if_due()
    assert (await world.job("quickbooks", "customer", "C-1"))["next_attempt_at"] is None


LIST_PAGE = {"xero": 100, "quickbooks": 1000, "freshbooks": 100, "wave": 50}
"""Objects per list page as each provider asks for them (Wave's is syncdesk's choice)."""


@pytest.mark.parametrize("platform", sorted(LIST_PAGE))
async def test_weekly_check_reads_pages_not_one_object_per_link(make_world: MakeWorld,
                                                                platform: str) -> None:
    world: World = await make_world((platform,))
    customers = [Customer(id=f"C-{n}", display_name=f"Customer {n:03}") for n in range(150)]
    await world.ledger.upsert(customers)
    await world.sync()
    remote = (await world.remote_counts(platform))["customer"]
    pages = math.ceil(remote / LIST_PAGE[platform]) + 1  # + the empty page some lists end on
    connection = world.connections[platform]

    async def check() -> tuple[int, int]:
        return await counted(lambda provider: check_links(world.store, connection, provider,
                                                          platform))

    async def counted(step: Callable[[Any], Any]) -> tuple[Any, int]:
        before = (await world.sandbox(platform, "GET", "/_sandbox/state"))["requests"]
        provider = await provider_of(world, platform)
        try:
            result = await step(provider)
        finally:
            await provider.aclose()
        after = (await world.sandbox(platform, "GET", "/_sandbox/state"))["requests"]
        return result, after - before

    # The pull reads customers and items in the same pages (Xero's items come in one answer).
    report, requests = await counted(lambda provider: pull_directory(
        world.store, connection, platform, provider))
    assert report.customers_linked == 0
    assert requests <= pages + 2, f"the pull sent {requests} requests"

    broken, requests = await check()
    assert broken == 0
    assert 1 <= requests <= pages, f"{requests} requests for {len(customers)} links"

    gone = await world.store.fetch_value(
        "SELECT remote_id FROM sync_links WHERE connection_id = ? AND record_id = 'C-77'",
        (connection,))
    await world.sandbox(platform, "POST", "/_sandbox/delete",
                        json={"entity": "customer", "id": gone})
    broken, requests = await check()
    assert broken == 1
    assert requests <= pages + 1  # the pages, and one read by id to confirm the deletion
    assert (await world.job(platform, "customer", "C-77"))["status"] == "broken_link"
    assert (await world.job(platform, "customer", "C-78"))["status"] == "synced"


def _deactivate_qbo(app: Any, remote_id: str) -> None:
    app.state.company.objects["Customer"][remote_id]["Active"] = False


def _archive_xero(app: Any, remote_id: str) -> None:
    app.state.company.contacts[remote_id]["ContactStatus"] = "ARCHIVED"


@pytest.mark.parametrize(("platform", "put_away"), [("quickbooks", _deactivate_qbo),
                                                    ("xero", _archive_xero)])
async def test_a_customer_put_away_on_the_platform_is_still_linked(
        make_world: MakeWorld, platform: str, put_away: Callable[[Any, str], None]) -> None:
    """Inactive (QuickBooks) or archived (Xero) customers still exist, and read by id they
    are found: the check's list asks for them too, so it needs no read by id to know."""
    world: World = await make_world((platform,))
    await world.ledger.upsert([Customer(id=f"C-{n}", display_name=f"Customer {n}")
                               for n in range(3)])
    await world.sync()
    connection = world.connections[platform]
    remote_id = await world.store.fetch_value(
        "SELECT remote_id FROM sync_links WHERE connection_id = ? AND record_id = 'C-1'",
        (connection,))
    put_away(world.apps[platform], remote_id)
    before = (await world.sandbox(platform, "GET", "/_sandbox/state"))["requests"]
    provider = await provider_of(world, platform)
    try:
        assert await check_links(world.store, connection, provider, platform) == 0
    finally:
        await provider.aclose()
    after = (await world.sandbox(platform, "GET", "/_sandbox/state"))["requests"]
    assert after - before == 1  # one page of customers


@pytest.mark.parametrize("platform", sorted(LIST_PAGE))
async def test_the_check_finds_deleted_documents_and_part_of_a_split_payment(
        make_world: MakeWorld, platform: str) -> None:
    world: World = await make_world((platform,))
    await world.ledger.upsert(ledger())
    await world.sync()
    connection = world.connections[platform]
    links = {(r["entity"], r["record_id"]): r["remote_id"] for r in await world.store.fetch_all(
        "SELECT entity, record_id, remote_id FROM sync_links WHERE connection_id = ?",
        (connection,))}
    # INV-2 has nothing applied; PAY-2 is split over two invoices (one Xero or FreshBooks
    # payment each, the link joins their ids): deleting its last part breaks it whole.
    planted = [("invoice", "INV-2"), ("payment", "PAY-2"), ("credit_note", "CN-1")]
    planted = [key for key in planted if key in links]
    for entity, record_id in planted:
        await world.sandbox(platform, "POST", "/_sandbox/delete",
                            json={"entity": entity, "id": links[entity, record_id].split(",")[-1]})
    provider = await provider_of(world, platform)
    try:
        assert await check_links(world.store, connection, provider, platform) == len(planted)
    finally:
        await provider.aclose()
    broken = {(r["entity"], r["record_id"]) for r in await world.store.fetch_all(
        "SELECT entity, record_id FROM sync_jobs WHERE connection_id = ? "
        "AND status = 'broken_link'", (connection,))}
    assert broken == set(planted)


# -- setup import that never corrupts --------------------------------------------------------


@dataclass
class Listed:
    """A provider that lists these customers and items (all a pull reads)."""

    customers: list[RemoteCustomer] = field(default_factory=list)
    items: list[RemoteItem] = field(default_factory=list)

    async def list_customers(self) -> AsyncIterator[RemoteCustomer]:
        for customer in self.customers:
            yield customer

    async def list_items(self) -> AsyncIterator[RemoteItem]:
        for item in self.items:
            yield item


WAVE_PREFIX = "QnVzaW5lc3M6ZTc5YjQyNDQtMjQ3Ni00OWQ1LWE0ZGQtYjJkYjE5YjY0Y2MwO0N1c3RvbWVy"
"""Wave ids are base64 of the business and the object: longer than 64 with the platform
name, and alike for their first 70 characters."""


async def connection_to(store: Store, platform: str) -> int:
    await add_connection(store, NewConnection(
        platform=platform, tenant_id=f"t-{platform}", tenant_name=platform,
        tokens=TokenSet("a", "r", datetime(2030, 1, 1, tzinfo=UTC))),
        Sealer(Fernet.generate_key()))
    return int(await store.fetch_value("SELECT id FROM connections WHERE platform = ?",
                                       (platform,)))


async def test_long_ids_that_share_a_prefix_stay_apart_and_counts_are_rows(
        store: Store) -> None:
    wave = await connection_to(store, "wave")
    listed = Listed(
        [RemoteCustomer(f"{WAVE_PREFIX}OjEwMDA{n}==", f"Customer {n}") for n in range(5)]
        + [RemoteCustomer(f"{WAVE_PREFIX}OjIwMDA=", "Broken", email="not an email")],
        [RemoteItem(f"{WAVE_PREFIX}UHJvZHVjdDo{n}=", f"Product {n}") for n in range(4)]
        + [RemoteItem("P-9", "Same code", sku="DUP"), RemoteItem("P-10", "Again", sku="DUP")])
    report = await pull_directory(store, wave, "wave", cast(Provider, listed))
    customers = await store.fetch_all("SELECT id FROM customers")
    items = await store.fetch_all("SELECT id, sku FROM items")
    assert (report.customers_imported, report.items_imported) == (5, 6)
    assert (len(customers), len(items)) == (5, 6)
    assert len({row["sku"] for row in items}) == 6
    assert all(len(row["id"]) <= 64 for row in [*customers, *items])
    assert report.rejected == [f"customer 'Broken' ({WAVE_PREFIX}OjIwMDA=): email: "
                               "Value error, 'not an email' is not an email address"]
    assert await store.fetch_value("SELECT COUNT(*) FROM sync_links WHERE connection_id = ?",
                                   (wave,)) == 11
    # Stable: the same remote id always gives the same local id.
    again = await pull_directory(store, wave, "wave", cast(Provider, Listed(
        [RemoteCustomer(f"{WAVE_PREFIX}OjEwMDA0==", "Customer 4")])))
    assert (again.customers_imported, again.customers_linked) == (0, 0)
    assert await store.fetch_value("SELECT COUNT(*) FROM customers") == 5


async def test_the_real_wave_sandbox_imports_every_customer_and_product(
        make_world: MakeWorld) -> None:
    world: World = await make_world(("wave",))
    provider = await provider_of(world, "wave")
    try:
        remote_customers = [c async for c in provider.list_customers()]
        remote_items = [i async for i in provider.list_items()]
        report = await pull_directory(world.store, world.connections["wave"], "wave",
                                      provider)
    finally:
        await provider.aclose()
    assert report.rejected == [] and report.doubts == []
    assert report.customers_imported == len(remote_customers) >= 1
    assert report.items_imported == len(remote_items) >= 1
    assert await world.store.fetch_value("SELECT COUNT(*) FROM customers") == len(
        remote_customers)
    assert await world.store.fetch_value("SELECT COUNT(*) FROM items") == len(remote_items)


async def test_one_customer_on_two_platforms_is_one_local_customer(store: Store) -> None:
    xero, qbo = await connection_to(store, "xero"), await connection_to(store, "quickbooks")
    await pull_directory(store, xero, "xero", cast(Provider, Listed([
        RemoteCustomer("x-1", "Maria Lopez", email="maria@example.com"),
        RemoteCustomer("x-2", "Tom Reed", phone="(503) 555-0101")])))
    report = await pull_directory(store, qbo, "quickbooks", cast(Provider, Listed([
        RemoteCustomer("q-1", "Lopez, Maria", email=" MARIA@example.com "),
        RemoteCustomer("q-2", "tom reed", phone="+1 503 555 0101"),
        RemoteCustomer("q-3", "Tom Reed", phone="503-555-0199", email="other@example.com"),
    ])))
    assert (report.customers_linked, report.customers_imported, report.doubts) == (2, 1, [])
    links = await store.fetch_all("SELECT connection_id, record_id, remote_id FROM sync_links "
                                  "ORDER BY remote_id")
    assert [(r["record_id"], r["remote_id"]) for r in links] == [
        ("xero:x-1", "q-1"), ("xero:x-2", "q-2"), ("quickbooks:q-3", "q-3"),
        ("xero:x-1", "x-1"), ("xero:x-2", "x-2")]
    assert await store.fetch_value("SELECT COUNT(*) FROM customers") == 3


async def test_an_uncertain_match_is_held_for_the_operator(store: Store) -> None:
    xero = await connection_to(store, "xero")
    await Ledger(store).upsert([Customer(id="C-1", display_name="Maria Lopez"),
                                Customer(id="C-2", display_name="Ann Park", email="a@x.com"),
                                Customer(id="C-3", display_name="Ann Park", email="b@x.com")])
    listed = Listed([RemoteCustomer("x-1", "Maria Lopez", email="maria@example.com"),
                     RemoteCustomer("x-2", "Ann Park"),
                     RemoteCustomer("x-3", "Ann Park", email="c@x.com")])
    report = await pull_directory(store, xero, "xero", cast(Provider, listed))
    assert {(d.remote_id, d.candidates) for d in report.doubts} == {
        ("x-1", ("C-1",)), ("x-2", ("C-2", "C-3"))}
    assert "no email or phone to tell" in str(report.doubts[0])
    assert (report.customers_linked, report.customers_imported) == (0, 1)  # x-3: a namesake
    assert await store.fetch_value("SELECT COUNT(*) FROM directory_doubts") == 2

    report = await pull_directory(store, xero, "xero", cast(Provider, listed),
                                  confirm={"x-1": None, "x-2": "C-3"})
    assert (report.customers_imported, report.customers_linked, report.doubts) == (1, 1, [])
    assert await store.fetch_value("SELECT COUNT(*) FROM directory_doubts") == 0
    assert await store.fetch_value("SELECT record_id FROM sync_links WHERE remote_id = 'x-2'"
                                   ) == "C-3"
    report = await pull_directory(store, xero, "xero", cast(Provider, Listed(
        [RemoteCustomer("x-9", "Zed")])), confirm={"x-9": "C-404"})
    assert report.rejected == ["customer 'Zed' (x-9): no local customer 'C-404' to link it to"]


async def test_an_item_linked_by_name_is_pushed_as_the_linked_object(
        make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    world: World = await make_world(("xero",))
    # The organisation sells "Tile, per sq ft" under its own Code; the ledger's SKU differs.
    world.apps["xero"].state.company.save_item(
        {"Code": "TILE-SQFT", "Name": "Tile, per sq ft",
         "SalesDetails": {"UnitPrice": "5.00", "AccountCode": "200"}}, None)
    provider = await provider_of(world, "xero")
    [remote] = [i async for i in provider.list_items()]
    assert remote.sku == "TILE-SQFT"
    local = Item(id="TILE", sku="TILE", name="Tile, per sq ft", unit_price=Decimal(5),
                 income_accounts={"xero": "200"})
    await world.ledger.upsert([local, Customer(id="C-1", display_name="Ana Ruiz",
                                               email="ana@example.com")])
    report = await pull_directory(world.store, world.connections["xero"], "xero", provider)
    await provider.aclose()
    assert report.items_linked == 1
    seen: list[PushRequest] = []
    provider_class = type(provider)
    original = provider_class.push

    async def push(self: Any, request: PushRequest) -> Any:
        seen.append(request)
        return await original(self, request)

    monkeypatch.setattr(provider_class, "push", push)
    await world.ledger.upsert([Invoice(
        id="INV-1", number="INV-1", customer_id="C-1", issue_date=date(2026, 3, 1),
        status=InvoiceStatus.SENT, lines=[Line(item_id="TILE", unit_price=Decimal(5))])])
    await world.sync()
    [invoice] = [r for r in seen if r.entity is Entity.INVOICE]
    assert invoice.refs[(Entity.ITEM, "TILE")] == RemoteRef(remote.remote_id,
                                                           number=remote.sku)
    assert (await world.job("xero", "invoice", "INV-1"))["status"] == "synced"


def test_pull_from_the_command_line_holds_and_then_links(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from console._fleet import SandboxFleet

    db = tmp_path / "pull.db"
    with SandboxFleet(["quickbooks"], first_port=20102, limits_enabled=False) as fleet:
        async def prepare() -> None:
            store = await Store.open(db)
            await Ledger(store).upsert([Customer(id="C-7",
                                                 display_name="Riverside Property Group")])
            await connect_sandbox(store, platforms()["quickbooks"], fleet.urls["quickbooks"],
                                  Sealer.load())
            await store.close()

        asyncio.run(prepare())
        assert main(["pull", "quickbooks", "--db", str(db)]) == 1
        out, err = capsys.readouterr()
        assert "0 customers matched and linked, 0 imported" in out
        assert "uncertain, neither linked nor imported: 'Riverside Property Group LLC' (1) " \
               "may be local customer C-7" in err
        assert main(["pull", "quickbooks", "--db", str(db), "--link", "1=C-7"]) == 0
        assert "1 customers matched and linked" in capsys.readouterr().out
