"""The way back on Xero, end to end: invoices synced by the engine, then a person's own
changes in Xero (a batch payment across two invoices, a contact edit, a void, a contact
archived, a payment moved by Remove and Redo) reach the ledger in one feed cycle, and at once
when the sandbox's signed webhook reaches the service's `POST /v1/hooks/xero`.

The person works through the Accounting API with an app of their own (its own OAuth grant),
as Xero's screens or another integration would; only Remove and Redo, a screen action with
no API call of its own, goes through the sandbox's `/_sandbox/redo-payment`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
from xero_support import persons_app

from console._http import build_api
from console._wiring import platforms
from engine import (
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
from tests._world import World
from tests.providers._support import tiling_business

MakeWorld = Callable[..., Awaitable[World]]
API = "/api.xro/2.0"
KEY = "xero-webhook-key-7f3e"


def _records() -> list[Any]:
    return tiling_business({"xero": "200"}, Customer(id="C-2", display_name="Closed Account Ltd"))


async def _synced_world(make_world: MakeWorld) -> tuple[World, int, dict[str, str]]:
    world = await make_world(("xero",))
    await world.ledger.upsert(_records())
    await world.sync()
    connection = world.connections["xero"]
    remote = {row["record_id"]: row["remote_id"] for row in await world.store.fetch_all(
        "SELECT record_id, remote_id FROM sync_links WHERE connection_id = ?", (connection,))}
    assert {"C-1", "C-2", "INV-1", "INV-2", "INV-3", "INV-4"} <= set(remote), remote
    # What the person does next happens later than the ledger's own writes, by Xero's clock.
    await world.sandbox("xero", "POST", "/_sandbox/clock", json={"advance": 5})
    return world, connection, remote


async def _batch(api: httpx.AsyncClient, *parts: tuple[str, int]) -> str:
    """A batch payment (one deposit paying several invoices); its remote id as the feed
    names it, the PaymentIDs sorted and joined."""
    made = await api.put(f"{API}/BatchPayments", json={"BatchPayments": [{
        "Account": {"Code": "090"}, "Date": "2026-09-10", "Reference": "Deposit 2207",
        "Payments": [{"Invoice": {"InvoiceID": invoice}, "Amount": amount}
                     for invoice, amount in parts]}]})
    assert made.status_code == 200, made.text
    batch = made.json()["BatchPayments"][0]["BatchPaymentID"]
    listed = await api.get(f"{API}/Payments", params={
        "where": f'BatchPaymentID==Guid("{batch}")'})
    return ",".join(sorted(p["PaymentID"] for p in listed.json()["Payments"]))


async def _cycle(world: World, connection: int) -> FeedReport:
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    provider = await open_provider(
        world.store, row, platforms()["xero"], world.sealer,
        adjust=lambda r, s: replace(s, transport=world.transport("xero")))
    try:
        return await read_feed(world.store, connection, provider, platform="xero",
                               title="Xero", entities=set(Entity), settings=FeedSettings())
    finally:
        await provider.aclose()


async def _payment(world: World, record_id: str) -> Payment:
    payment = await world.ledger.get(Entity.PAYMENT, record_id)
    assert isinstance(payment, Payment), f"no ledger payment {record_id}"
    return payment


async def _allocations(world: World, record_id: str) -> dict[str, Decimal]:
    return {a.invoice_id: a.amount for a in (await _payment(world, record_id)).allocations}


async def test_a_persons_changes_reach_the_ledger_in_one_feed_cycle(
        make_world: MakeWorld) -> None:
    world, connection, remote = await _synced_world(make_world)
    api = await persons_app(world.transport("xero"))
    try:
        paid = await _batch(api, (remote["INV-1"], 100), (remote["INV-2"], 50))
        edited = await api.post(f"{API}/Contacts/{remote['C-1']}", json={"Contacts": [{
            "EmailAddress": "accounts@marlow.example",
            "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "555-0199"}]}]})
        assert edited.status_code == 200, edited.text
        voided = await api.post(f"{API}/Invoices/{remote['INV-3']}",
                                json={"Invoices": [{"Status": "VOIDED"}]})
        assert voided.status_code == 200, voided.text
        # Xero deletes no approved invoice (it voids it) and no contact (it archives it).
        archived = await api.post(f"{API}/Contacts/{remote['C-2']}",
                                  json={"Contacts": [{"ContactStatus": "ARCHIVED"}]})
        assert archived.status_code == 200, archived.text

        report = await _cycle(world, connection)
        assert report.failures == [], report.failures
        imported = payment_id("xero", connection, paid)
        assert await _allocations(world, imported) == {"INV-1": Decimal(100),
                                                       "INV-2": Decimal(50)}
        customer = await world.ledger.get(Entity.CUSTOMER, "C-1")
        assert isinstance(customer, Customer)
        assert (customer.email, customer.phone) == ("accounts@marlow.example", "555-0199")
        assert (await world.job("xero", "invoice", "INV-3"))["status"] == "broken_link"
        assert (await world.job("xero", "customer", "C-2"))["status"] == "broken_link"

        # A cheque on INV-2, then moved to INV-4: Xero cannot edit a payment, so a person
        # removes it and makes it again there (Remove and Redo). The ledger's copy of the
        # first is deleted, the one on INV-4 comes in, its reference kept.
        single = await api.put(f"{API}/Payments", json={"Payments": [{
            "Invoice": {"InvoiceID": remote["INV-2"]}, "Account": {"Code": "090"},
            "Date": "2026-09-11", "Amount": 30, "Reference": "CHK-31"}]})
        first = single.json()["Payments"][0]["PaymentID"]
        await _cycle(world, connection)
        assert await _allocations(world, payment_id("xero", connection, first)) == \
            {"INV-2": Decimal(30)}
        redo = await world.sandbox("xero", "POST", "/_sandbox/redo-payment", json={
            "payment_id": first, "invoice_id": remote["INV-4"]})
        again = redo["Payments"][0]["PaymentID"]
        await _cycle(world, connection)
        gone = await _payment(world, payment_id("xero", connection, first))
        assert gone.status is EntryStatus.DELETED
        moved = await _payment(world, payment_id("xero", connection, again))
        assert ({a.invoice_id: a.amount for a in moved.allocations}, moved.reference) == \
            ({"INV-4": Decimal(30)}, "CHK-31")
        # A cycle with nothing new changes nothing (the cursor holds).
        assert (await _cycle(world, connection)).changes == 0
    finally:
        await api.aclose()


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
    await WebhookKeys(world.store, world.sealer).set(connection, KEY, "test")
    emitter = world.apps["xero"].state.webhooks
    emitter.transport = httpx.ASGITransport(app=build_api(world.store, hooks=inbox))
    await world.sandbox("xero", "POST", "/_sandbox/webhooks", json={
        "url": "http://syncdesk.local/v1/hooks/xero", "key": KEY,
        "faults": {"duplicate": 1}})
    intent = await world.sandbox("xero", "POST", "/_sandbox/webhooks/intent")
    assert intent["passed"], intent  # the service answers Xero's intent-to-receive check
    # An hour between scheduled reads: only the webhook can bring the change in sooner.
    engine = world.engine(feed=FeedSettings(interval=3600))
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    api = await persons_app(world.transport("xero"))
    try:
        await _until(lambda: _read_once(world, connection), "the engine's first feed cycle")
        paid = await _batch(api, (remote["INV-1"], 30), (remote["INV-2"], 50))
        deliveries = (await world.sandbox("xero", "POST", "/_sandbox/webhooks/drain"))[
            "deliveries"]
        # Sent twice (the duplicate fault), verified twice, one payment in the ledger.
        assert [d["status"] for d in deliveries] == [200, 200]
        imported = payment_id("xero", connection, paid)
        await _until(lambda: _has(world, imported), "the payment, read at once after the hook")
        assert await _allocations(world, imported) == {"INV-1": Decimal(30),
                                                       "INV-2": Decimal(50)}
        assert await world.store.fetch_value(
            "SELECT COUNT(*) FROM payments WHERE id = ?", (imported,)) == 1
    finally:
        stop.set()
        await running
        await api.aclose()


async def _read_once(world: World, connection: int) -> bool:
    return bool(await world.store.fetch_value(
        "SELECT COUNT(*) FROM feed_cursors WHERE connection_id = ? AND entity = 'payment' "
        "AND read_at IS NOT NULL AND due_at IS NULL", (connection,)))


async def _has(world: World, record_id: str) -> bool:
    return bool(await world.store.fetch_value("SELECT 1 FROM payments WHERE id = ?",
                                              (record_id,)))
