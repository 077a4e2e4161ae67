"""The way back on Wave, end to end, as far as Wave's public API lets it go: invoices synced
by the engine, then a person's changes in Wave (a payment across two invoices, a contact
edit, a deletion, the payment moved) and what one feed cycle brings into the ledger.

Wave's public API has no payment reads, sends no webhooks, and its lists never show what was
deleted (PLATFORMS.md §3.1, §3.7): the contact edit comes back in one cycle; the payments
come back only as their invoices' amounts due (the drift audit's to compare, no ledger
payment); the deleted invoice is found by the weekly link check, not the feed. The test pins
each of those, so a change in what Wave offers shows up here.

The person's contact edit and deletion go through Wave's GraphQL API with a grant of their
own; payments have no public mutation, so those are the sandbox's `/_sandbox/record-payment`
(Wave's app).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
from wave_support import BASE_URL

from console._http import build_api
from console._wiring import platforms
from engine import (
    ConnectionSettings,
    Customer,
    Entity,
    FeedReport,
    FeedSettings,
    HookInbox,
    live_connections,
    open_provider,
    read_feed,
)
from engine._directory import check_links
from providers.wave import PLATFORM
from tests._world import World
from tests.providers._support import connect, tiling_business

MakeWorld = Callable[..., Awaitable[World]]


def _records() -> list[Any]:
    return tiling_business()


def _adjust(world: World) -> Callable[[Any, ConnectionSettings], ConnectionSettings]:
    return lambda row, settings: replace(settings, transport=world.transport("wave"))


async def _provider(world: World, connection: int) -> Any:
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    return await open_provider(world.store, row, platforms()["wave"], world.sealer,
                               adjust=_adjust(world))


async def _cycle(world: World, connection: int) -> FeedReport:
    provider = await _provider(world, connection)
    try:
        return await read_feed(world.store, connection, provider, platform="wave",
                               title="Wave", entities=set(Entity), settings=FeedSettings())
    finally:
        await provider.aclose()


async def _gql(client: httpx.AsyncClient, token: str, query: str,
               variables: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/graphql/public", json={"query": query,
                                                          "variables": variables},
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


async def test_what_one_feed_cycle_brings_back_from_wave(make_world: MakeWorld) -> None:
    world = await make_world(("wave",))
    await world.ledger.upsert(_records())
    await world.sync()
    connection = world.connections["wave"]
    remote = {row["record_id"]: row["remote_id"] for row in await world.store.fetch_all(
        "SELECT record_id, remote_id FROM sync_links WHERE connection_id = ?", (connection,))}
    await world.sandbox("wave", "POST", "/_sandbox/clock", json={"advance": 5})

    settings = ConnectionSettings(platform="wave", client_id="bookkeepers-app",
                                  client_secret="theirs", base_url=BASE_URL,
                                  transport=world.transport("wave"))
    tokens, _ = await connect(PLATFORM, settings)
    async with httpx.AsyncClient(transport=world.transport("wave"), base_url=BASE_URL) as api:
        for invoice, amount in (("INV-1", "100.00"), ("INV-2", "50.00")):
            await world.sandbox("wave", "POST", "/_sandbox/record-payment",
                                json={"invoiceId": remote[invoice], "amount": amount})
        await _gql(api, tokens.current, """
            mutation ($input: CustomerPatchInput!) { customerPatch(input: $input) {
                didSucceed } }""", {"input": {"id": remote["C-1"],
                                               "email": "accounts@marlow.example",
                                               "phone": "555-0199"}})
        await _gql(api, tokens.current, """
            mutation ($input: InvoiceDeleteInput!) { invoiceDelete(input: $input) {
                didSucceed } }""", {"input": {"invoiceId": remote["INV-3"]}})

    report = await _cycle(world, connection)
    assert report.failures == [], report.failures
    # Payments and credit notes have no feed on Wave, and the cycle says why.
    assert any("payment" in why.lower() for why in report.unsupported), report.unsupported
    customer = await world.ledger.get(Entity.CUSTOMER, "C-1")
    assert isinstance(customer, Customer)
    assert (customer.email, customer.phone) == ("accounts@marlow.example", "555-0199")
    # The payments came back only as the invoices' states; no ledger payment.
    assert await world.store.fetch_value("SELECT COUNT(*) FROM payments") == 0
    # The deleted invoice is not in any Wave list: the feed cannot see it go ...
    assert (await world.job("wave", "invoice", "INV-3"))["status"] != "broken_link"
    # ... and the weekly link check does.
    provider = await _provider(world, connection)
    try:
        assert await check_links(world.store, connection, provider, "Wave") == 1
    finally:
        await provider.aclose()
    assert (await world.job("wave", "invoice", "INV-3"))["status"] == "broken_link"

    # The payment moved from INV-2 to INV-4 in Wave's app: again only invoice states.
    await world.sandbox("wave", "POST", "/_sandbox/record-payment",
                        json={"invoiceId": remote["INV-2"], "amount": "-50.00"})
    await world.sandbox("wave", "POST", "/_sandbox/record-payment",
                        json={"invoiceId": remote["INV-4"], "amount": "50.00"})
    moved = await _cycle(world, connection)
    assert moved.failures == [] and moved.changes == 2  # INV-2 and INV-4, as states
    assert await world.store.fetch_value("SELECT COUNT(*) FROM payments") == 0
    assert (await _cycle(world, connection)).changes == 0  # the cursors hold


async def test_wave_sends_no_webhooks_so_the_service_takes_none(make_world: MakeWorld) -> None:
    world = await make_world(("wave",))
    assert PLATFORM.webhooks() is None
    inbox = HookInbox(world.store, platforms(), world.sealer)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_api(
            world.store, hooks=inbox)), base_url="http://syncdesk.local") as service:
        answer = await service.post("/v1/hooks/wave", content=b"{}")
    assert answer.status_code == 404
