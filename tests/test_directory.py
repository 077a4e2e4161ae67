"""Import at setup and the weekly full sync: pull, match, link, import, detect deletions."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from console._wiring import platforms
from engine import (
    Classification,
    Customer,
    Item,
    SyncService,
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
    provider = await provider_of(world, "quickbooks")
    report = await pull_directory(world.store, world.connections["quickbooks"], "quickbooks",
                                  provider)
    await provider.aclose()
    assert report.customers_linked == 1
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
