"""The drift audit on Wave, through `list_states` on the sandbox: a clean run after a sync
finds nothing, though the ledger's payments and credit notes never reach Wave (its public API
takes none, so a paid invoice there still owes its total). What a person does in Wave
afterwards is found with both values: a payment recorded in Wave's app, an invoice moved to
another customer through the API, an invoice deleted; putting it back clears the drift."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx

from console._wiring import platforms
from engine import (
    AuditReport,
    ConnectionSettings,
    DriftField,
    live_connections,
    open_provider,
    run_audit,
)
from providers.wave import PLATFORM
from tests._world import World
from tests.providers._support import connect
from tests.test_budget import ledger

MakeWorld = Callable[..., Awaitable[World]]
BASE = "http://wave.sandbox"
PATCH = ("mutation ($input: InvoicePatchInput!) { invoicePatch(input: $input) "
         "{ didSucceed inputErrors { message } } }")


async def _audit(world: World) -> tuple[AuditReport, int]:
    """The audit of the world's Wave connection, and the requests it cost."""
    connection = world.connections["wave"]
    before = (await world.sandbox("wave", "GET", "/_sandbox/state"))["requests"]
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    provider = await open_provider(
        world.store, row, platforms()["wave"], world.sealer,
        adjust=lambda r, s: replace(s, transport=world.transport("wave")))
    try:
        report = await run_audit(world.store, connection, provider, "Wave")
    finally:
        await provider.aclose()
    after = (await world.sandbox("wave", "GET", "/_sandbox/state"))["requests"]
    return report, after - before


async def _patch(world: World, invoice: dict[str, Any]) -> None:
    """An invoice edited through Wave's public API by a bookkeeper's own app."""
    tokens, _ = await connect(PLATFORM, ConnectionSettings(
        platform="wave", client_id="bookkeepers-app", client_secret="theirs", base_url=BASE,
        transport=world.transport("wave")))
    async with httpx.AsyncClient(transport=world.transport("wave"), base_url=BASE) as client:
        answer = await client.post("/graphql/public", json={
            "query": PATCH, "variables": {"input": invoice}},
            headers={"Authorization": f"Bearer {tokens.current}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["invoicePatch"]["didSucceed"], answer.text


async def test_a_clean_run_finds_nothing_and_a_persons_changes_are_found(
        make_world: MakeWorld) -> None:
    world = await make_world(("wave",))
    await world.ledger.upsert(ledger())
    await world.sync()
    connection = world.connections["wave"]
    remote = {r["record_id"]: r["remote_id"] for r in await world.store.fetch_all(
        "SELECT record_id, remote_id FROM sync_links WHERE connection_id = ?", (connection,))}

    clean, requests = await _audit(world)
    assert (clean.differences, clean.compared, clean.unlisted) == ([], 4, 0)
    assert requests == 1, f"{requests} requests: one page of invoices, no read by id"

    # In Wave's app: 40.00 recorded against INV-2 (58.00, nothing applied in the ledger).
    await world.sandbox("wave", "POST", "/_sandbox/record-payment",
                        json={"invoiceId": remote["INV-2"], "amount": "40.00"})
    # Through the API: INV-4 (C-2's) moved to C-3.
    await _patch(world, {"id": remote["INV-4"], "customerId": remote["C-3"]})
    found, _ = await _audit(world)
    assert sorted((d.record_id, d.field, d.ledger, d.platform)
                  for d in found.differences) == [
        ("INV-2", DriftField.BALANCE, "58.00", "18.00"),
        ("INV-4", DriftField.CUSTOMER, f"C-2 ({remote['C-2']})", remote["C-3"])]

    await world.sandbox("wave", "POST", "/_sandbox/record-payment",
                        json={"invoiceId": remote["INV-2"], "amount": "-40.00"})
    await _patch(world, {"id": remote["INV-4"], "customerId": remote["C-2"]})
    again, _ = await _audit(world)
    assert again.clean and again.compared == 4
    assert await world.store.fetch_value("SELECT COUNT(*) FROM drift") == 0

    await world.sandbox("wave", "POST", "/_sandbox/delete",
                        json={"entity": "invoice", "id": remote["INV-1"]})
    gone, requests = await _audit(world)
    assert [(d.record_id, d.field) for d in gone.differences] == [
        ("INV-1", DriftField.MISSING)]
    assert requests == 2  # the page, and one read by id to confirm it is gone
