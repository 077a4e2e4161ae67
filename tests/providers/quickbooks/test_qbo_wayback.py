"""The way back on QuickBooks, end to end: invoices synced by the engine, then a person's own
changes in QuickBooks (a payment across two invoices, a contact edit, a deletion, the payment
moved) reach the ledger in one feed cycle, and at once when the sandbox's webhook reaches the
service's `POST /v1/hooks/quickbooks`.

The person works through the v3 API with an app of their own (its own OAuth grant), as
QuickBooks' screens or another integration would; nothing is written into the sandbox behind
the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx

from console._http import build_api
from console._wiring import platforms
from engine import (
    ConnectionSettings,
    Customer,
    Entity,
    EntryStatus,
    FeedReport,
    FeedSettings,
    HookInbox,
    Payment,
    WebhookKeys,
    live_connections,
    open_provider,
    payment_id,
    read_feed,
)
from providers.quickbooks import PLATFORM
from tests._world import World
from tests.providers._support import connect, tiling_business

from .conftest import BASE, REALM, Api

MakeWorld = Callable[..., Awaitable[World]]
VERIFIER = "qbo-verifier-0c1d"


def _records() -> list[Any]:
    return tiling_business({"quickbooks": "79"})


async def _synced_world(make_world: MakeWorld) -> tuple[World, int, dict[str, str]]:
    world = await make_world(("quickbooks",))
    await world.ledger.upsert(_records())
    await world.sync()
    connection = world.connections["quickbooks"]
    remote = {row["record_id"]: row["remote_id"] for row in await world.store.fetch_all(
        "SELECT record_id, remote_id FROM sync_links WHERE connection_id = ?", (connection,))}
    # What the person does next happens later than the ledger's own writes, by QuickBooks'
    # clock (it stamps changes to the second).
    await world.sandbox("quickbooks", "POST", "/_sandbox/clock", json={"advance": 5})
    return world, connection, remote


async def _persons_app(world: World) -> Api:
    """Someone's own app on the same QuickBooks company, with its own grant."""
    settings = ConnectionSettings(platform="quickbooks", tenant_id=REALM,
                                  client_id="bookkeepers-app", client_secret="theirs",
                                  base_url=BASE, transport=world.transport("quickbooks"))
    tokens, _ = await connect(PLATFORM, settings)
    client = httpx.AsyncClient(transport=world.transport("quickbooks"), base_url=BASE)
    return Api(client, tokens.current)


async def _cycle(world: World, connection: int, **settings: Any) -> FeedReport:
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    provider = await open_provider(
        world.store, row, platforms()["quickbooks"], world.sealer,
        adjust=lambda r, s: replace(s, transport=world.transport("quickbooks")))
    try:
        return await read_feed(world.store, connection, provider, platform="quickbooks",
                               title="QuickBooks Online", entities=set(Entity),
                               settings=FeedSettings(**settings))
    finally:
        await provider.aclose()


async def _version(api: Api, resource: str, remote_id: str) -> str:
    answer = (await api.get(f"{resource}/{remote_id}")).json()
    return str(next(iter(v for k, v in answer.items() if k != "time"))["SyncToken"])


async def _allocations(world: World, record_id: str) -> dict[str, Decimal]:
    payment = await world.ledger.get(Entity.PAYMENT, record_id)
    assert isinstance(payment, Payment), f"no ledger payment {record_id}"
    return {a.invoice_id: a.amount for a in payment.allocations}


async def test_a_persons_changes_reach_the_ledger_in_one_feed_cycle(
        make_world: MakeWorld) -> None:
    world, connection, remote = await _synced_world(make_world)
    api = await _persons_app(world)
    try:
        paid = (await api.post("payment", {
            "CustomerRef": {"value": remote["C-1"]}, "TotalAmt": 150,
            "PaymentRefNum": "CHK-2207", "Line": [
                {"Amount": 100, "LinkedTxn": [{"TxnId": remote["INV-1"], "TxnType": "Invoice"}]},
                {"Amount": 50, "LinkedTxn": [{"TxnId": remote["INV-2"],
                                              "TxnType": "Invoice"}]}]})).json()["Payment"]
        await api.post("customer", {
            "Id": remote["C-1"], "SyncToken": await _version(api, "customer", remote["C-1"]),
            "sparse": True, "PrimaryEmailAddr": {"Address": "accounts@marlow.example"},
            "PrimaryPhone": {"FreeFormNumber": "555-0199"}})
        deleted = await api.post("invoice", {
            "Id": remote["INV-3"], "SyncToken": await _version(api, "invoice", remote["INV-3"])},
            operation="delete")
        assert deleted.status_code == 200, deleted.text

        report = await _cycle(world, connection)
        assert report.failures == [], report.failures
        imported = payment_id("quickbooks", connection, paid["Id"])
        assert await _allocations(world, imported) == {"INV-1": Decimal(100),
                                                       "INV-2": Decimal(50)}
        customer = await world.ledger.get(Entity.CUSTOMER, "C-1")
        assert isinstance(customer, Customer)
        assert (customer.email, customer.phone) == ("accounts@marlow.example", "555-0199")
        assert (await world.job("quickbooks", "invoice", "INV-3"))["status"] == "broken_link"

        # The person moves the 50 from INV-2 to INV-4: one more cycle moves it in the ledger.
        await api.post("payment", {
            "Id": paid["Id"], "SyncToken": await _version(api, "payment", paid["Id"]),
            "sparse": True, "Line": [
                {"Amount": 100, "LinkedTxn": [{"TxnId": remote["INV-1"], "TxnType": "Invoice"}]},
                {"Amount": 50, "LinkedTxn": [{"TxnId": remote["INV-4"],
                                              "TxnType": "Invoice"}]}]})
        await _cycle(world, connection)
        assert await _allocations(world, imported) == {"INV-1": Decimal(100),
                                                       "INV-4": Decimal(50)}
        # A cycle with nothing new changes nothing (the cursor holds).
        assert (await _cycle(world, connection)).changes == 0
        # The person voids the payment (QBO keeps it, zeroed, noted "Voided"): so does the
        # ledger.
        await api.post("payment", {"Id": paid["Id"], "SyncToken": await _version(
            api, "payment", paid["Id"]), "sparse": True}, operation="update", include="void")
        assert (await _cycle(world, connection)).applied.payments_ended == 1
        voided = await world.ledger.get(Entity.PAYMENT, imported)
        assert isinstance(voided, Payment) and voided.status is EntryStatus.VOID
    finally:
        await api.client.aclose()


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait on the store's state (each look is a read), never on a fixed time."""
    for _ in range(2000):
        if await check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")


async def test_the_webhook_has_the_engine_read_the_change_at_once(
        make_world: MakeWorld) -> None:
    world, connection, remote = await _synced_world(make_world)
    inbox = HookInbox(world.store, platforms(), world.sealer)
    await WebhookKeys(world.store, world.sealer).set(connection, VERIFIER, "test")
    emitter = world.apps["quickbooks"].state.webhooks
    emitter.transport = httpx.ASGITransport(app=build_api(world.store, hooks=inbox))
    await world.sandbox("quickbooks", "POST", "/_sandbox/webhooks", json={
        "url": "http://syncdesk.local/v1/hooks/quickbooks", "key": VERIFIER,
        "faults": {"duplicate": 1}})
    # An hour between scheduled reads: only the webhook can bring the change in sooner.
    engine = world.engine(feed=FeedSettings(interval=3600))
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    api = await _persons_app(world)
    try:
        await _until(lambda: _read_once(world, connection), "the engine's first feed cycle")
        paid = (await api.post("payment", {
            "CustomerRef": {"value": remote["C-1"]}, "TotalAmt": 80, "Line": [
                {"Amount": 30, "LinkedTxn": [{"TxnId": remote["INV-1"], "TxnType": "Invoice"}]},
                {"Amount": 50, "LinkedTxn": [{"TxnId": remote["INV-2"],
                                              "TxnType": "Invoice"}]}]})).json()["Payment"]
        await emitter.drain()
        # Sent twice (the duplicate fault), verified twice, one payment in the ledger.
        assert [d.status for d in emitter.deliveries] == [200, 200]
        imported = payment_id("quickbooks", connection, paid["Id"])
        await _until(lambda: _has(world, imported), "the payment, read at once after the hook")
        assert await _allocations(world, imported) == {"INV-1": Decimal(30),
                                                       "INV-2": Decimal(50)}
        assert await world.store.fetch_value(
            "SELECT COUNT(*) FROM payments WHERE id = ?", (imported,)) == 1
    finally:
        stop.set()
        await running
        await api.client.aclose()


async def _read_once(world: World, connection: int) -> bool:
    return bool(await world.store.fetch_value(
        "SELECT COUNT(*) FROM feed_cursors WHERE connection_id = ? AND entity = 'payment' "
        "AND read_at IS NOT NULL AND due_at IS NULL", (connection,)))


async def _has(world: World, record_id: str) -> bool:
    return bool(await world.store.fetch_value("SELECT 1 FROM payments WHERE id = ?",
                                              (record_id,)))
