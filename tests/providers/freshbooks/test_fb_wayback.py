"""The way back on FreshBooks, end to end: invoices synced by the engine, then a person's own
changes in FreshBooks (a payment across two invoices, a contact edit, a deletion, the payment
moved) reach the ledger in one feed cycle, and at once when the sandbox's webhook reaches the
service's `POST /v1/hooks/freshbooks` — after FreshBooks' verification step, confirmed
through the connection's own provider.

The person works through FreshBooks' accounting API with an app of their own (its own grant),
as FreshBooks' screens would; moving a payment to another invoice is a thing of FreshBooks'
app its API refuses, so that one step is the sandbox's `/_sandbox/move-payment`.
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
    FeedReport,
    FeedSettings,
    HookInbox,
    Payment,
    live_connections,
    open_provider,
    payment_id,
    read_feed,
)
from providers.freshbooks import PLATFORM, FreshBooksProvider
from tests._world import World
from tests.providers._support import connect, tiling_business

from .conftest import ACCOUNT, API, BASE

MakeWorld = Callable[..., Awaitable[World]]
HOOK = "http://syncdesk.local/v1/hooks/freshbooks"


def _records() -> list[Any]:
    return tiling_business()


async def _synced_world(make_world: MakeWorld) -> tuple[World, int, dict[str, str]]:
    world = await make_world(("freshbooks",))
    await world.ledger.upsert(_records())
    await world.sync()
    connection = world.connections["freshbooks"]
    remote = {row["record_id"]: row["remote_id"] for row in await world.store.fetch_all(
        "SELECT record_id, remote_id FROM sync_links WHERE connection_id = ?", (connection,))}
    # The person's changes come later than the ledger's writes by FreshBooks' clock, which
    # stamps `updated` to the second.
    await world.sandbox("freshbooks", "POST", "/_sandbox/clock", json={"advance": 5})
    return world, connection, remote


class Person:
    """Someone's own app on the same FreshBooks account, with its own grant."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client, self.token = client, token

    @classmethod
    async def of(cls, world: World) -> Person:
        settings = ConnectionSettings(platform="freshbooks", tenant_id=ACCOUNT,
                                      client_id="bookkeepers-app", client_secret="theirs",
                                      base_url=BASE, transport=world.transport("freshbooks"))
        tokens, _ = await connect(PLATFORM, settings)
        return cls(httpx.AsyncClient(transport=world.transport("freshbooks"), base_url=BASE),
                   tokens.current)

    async def send(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = await self.client.request(method, f"{API}/{path}", json=body, headers={
            "Authorization": f"Bearer {self.token}"})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["response"]["result"]
        return result

    async def pay(self, invoice_id: str, amount: str) -> str:
        paid = await self.send("POST", "payments/payments", {"payment": {
            "invoiceid": int(invoice_id), "amount": {"amount": amount}, "date": "2026-09-10",
            "type": "Check", "note": "CHK-2207"}})
        return str(paid["payment"]["id"])


def _adjust(world: World) -> Callable[[Any, ConnectionSettings], ConnectionSettings]:
    return lambda row, settings: replace(settings, transport=world.transport("freshbooks"))


async def _cycle(world: World, connection: int) -> FeedReport:
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    provider = await open_provider(world.store, row, platforms()["freshbooks"], world.sealer,
                                   adjust=_adjust(world))
    try:
        return await read_feed(world.store, connection, provider, platform="freshbooks",
                               title="FreshBooks", entities=set(Entity),
                               settings=FeedSettings())
    finally:
        await provider.aclose()


async def _allocations(world: World, record_id: str) -> dict[str, Decimal]:
    payment = await world.ledger.get(Entity.PAYMENT, record_id)
    assert isinstance(payment, Payment), f"no ledger payment {record_id}"
    return {a.invoice_id: a.amount for a in payment.allocations}


async def test_a_persons_changes_reach_the_ledger_in_one_feed_cycle(
        make_world: MakeWorld) -> None:
    world, connection, remote = await _synced_world(make_world)
    person = await Person.of(world)
    try:
        # Across two invoices: on FreshBooks that is two payments, one invoice each.
        first = await person.pay(remote["INV-1"], "100.00")
        second = await person.pay(remote["INV-2"], "50.00")
        await person.send("PUT", f"users/clients/{remote['C-1']}", {"client": {
            "email": "accounts@marlow.example", "bus_phone": "555-0199"}})
        await person.send("DELETE", f"invoices/invoices/{remote['INV-3']}")

        report = await _cycle(world, connection)
        assert report.failures == [], report.failures
        assert await _allocations(world, payment_id("freshbooks", connection, first)) == {
            "INV-1": Decimal(100)}
        moved = payment_id("freshbooks", connection, second)
        assert await _allocations(world, moved) == {"INV-2": Decimal(50)}
        customer = await world.ledger.get(Entity.CUSTOMER, "C-1")
        assert isinstance(customer, Customer)
        assert (customer.email, customer.phone) == ("accounts@marlow.example", "555-0199")
        assert (await world.job("freshbooks", "invoice", "INV-3"))["status"] == "broken_link"

        # The person moves the 50 from INV-2 to INV-4 in FreshBooks' app.
        await world.sandbox("freshbooks", "POST", "/_sandbox/move-payment", json={
            "id": int(second), "invoiceid": int(remote["INV-4"])})
        await _cycle(world, connection)
        assert await _allocations(world, moved) == {"INV-4": Decimal(50)}
        assert (await _cycle(world, connection)).changes == 0  # the cursors hold
    finally:
        await person.client.aclose()


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait on the store's state (each look is a read), never on a fixed time."""
    for _ in range(2000):
        if await check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")


async def test_the_webhook_is_verified_then_has_the_engine_read_the_change_at_once(
        make_world: MakeWorld) -> None:
    world, connection, remote = await _synced_world(make_world)
    inbox = HookInbox(world.store, platforms(), world.sealer, adjust=_adjust(world))
    webhooks = world.apps["freshbooks"].state.webhooks
    webhooks.transport = httpx.ASGITransport(app=build_api(world.store, hooks=inbox))

    # Registration through the connection's provider: FreshBooks posts its code to the
    # service, which confirms it through the same connection and keeps it as the key.
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    provider = await open_provider(world.store, row, PLATFORM, world.sealer,
                                   adjust=_adjust(world))
    try:
        assert isinstance(provider, FreshBooksProvider)
        await provider.register_webhook("payment", HOOK)
    finally:
        await provider.aclose()
    await webhooks.idle()
    assert [d.status for d in webhooks.delivered] == [200]
    await _until(lambda: _keyed(inbox, connection), "the verifier kept as the key")
    [callback] = webhooks.callbacks.values()
    assert callback.verified
    await world.sandbox("freshbooks", "POST", "/_sandbox/webhooks", json={"duplicates": 1})

    engine = world.engine(feed=FeedSettings(interval=3600))  # only the hook reads sooner
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    person = await Person.of(world)
    try:
        await _until(lambda: _read_once(world, connection), "the engine's first feed cycle")
        paid = await person.pay(remote["INV-1"], "30.00")
        await webhooks.idle()
        # Sent twice (the duplicate fault), verified twice, one payment in the ledger.
        assert [d.status for d in webhooks.delivered[1:]] == [200, 200]
        imported = payment_id("freshbooks", connection, paid)
        await _until(lambda: _has(world, imported), "the payment, read at once after the hook")
        assert await _allocations(world, imported) == {"INV-1": Decimal(30)}
        assert await world.store.fetch_value(
            "SELECT COUNT(*) FROM payments WHERE id = ?", (imported,)) == 1
    finally:
        stop.set()
        await running
        await person.client.aclose()


async def _keyed(inbox: HookInbox, connection: int) -> bool:
    return any(own == connection for own, _, _ in await inbox.keys.of_platform("freshbooks"))


async def _read_once(world: World, connection: int) -> bool:
    return bool(await world.store.fetch_value(
        "SELECT COUNT(*) FROM feed_cursors WHERE connection_id = ? AND entity = 'payment' "
        "AND read_at IS NOT NULL AND due_at IS NULL", (connection,)))


async def _has(world: World, record_id: str) -> bool:
    return bool(await world.store.fetch_value("SELECT 1 FROM payments WHERE id = ?",
                                              (record_id,)))
