"""The drift audit on QuickBooks through `list_states`: a clean run after a sync finds nothing,
and a change a person makes in QuickBooks is found with both values."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from console._wiring import platforms
from engine import (
    AuditReport,
    CreditNote,
    DriftField,
    Entity,
    Payment,
    live_connections,
    open_provider,
    run_audit,
)
from tests._world import World

from .test_qbo_wayback import _persons_app, _records, _version

MakeWorld = Callable[..., Awaitable[World]]


def _money_records() -> list[Any]:
    return [*_records(),
            Payment.model_validate({
                "id": "PAY-1", "customer_id": "C-1", "date": "2026-09-05", "amount": "150.00",
                "reference": "PAY-1", "allocations": [
                    {"invoice_id": "INV-1", "amount": "100.00"},
                    {"invoice_id": "INV-2", "amount": "50.00"}]}),
            CreditNote.model_validate({
                "id": "CN-1", "number": "CN-1", "customer_id": "C-1", "date": "2026-09-07",
                "lines": [{"item_id": "TILE", "quantity": "1", "unit_price": "20.00"}],
                "allocations": [{"invoice_id": "INV-3", "amount": "20.00"}]})]


async def _audit(world: World, connection: int) -> AuditReport:
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    provider = await open_provider(
        world.store, row, platforms()["quickbooks"], world.sealer,
        adjust=lambda r, s: replace(s, transport=world.transport("quickbooks")))
    try:
        return await run_audit(world.store, connection, provider, "QuickBooks Online")
    finally:
        await provider.aclose()


async def test_a_clean_run_finds_nothing_and_a_persons_edit_is_found(
        make_world: MakeWorld) -> None:
    world = await make_world(("quickbooks",))
    await world.ledger.upsert(_money_records())
    await world.sync()
    connection = world.connections["quickbooks"]
    clean = await _audit(world, connection)
    # Four invoices, the payment and the credit note (its applying payment is not listed).
    assert (clean.differences, clean.compared, clean.unlisted, clean.unsupported) == (
        [], 6, 0, [])

    remote = await world.store.fetch_value(
        "SELECT remote_id FROM sync_links WHERE connection_id = ? AND record_id = 'INV-4'",
        (connection,))
    api = await _persons_app(world)
    try:
        # The person bills one tile more on INV-4, in QuickBooks.
        line = (await api.get(f"invoice/{remote}")).json()["Invoice"]["Line"][0]
        line["SalesItemLineDetail"]["Qty"], line["Amount"] = 11, 220
        edited = await api.post("invoice", {
            "Id": remote, "SyncToken": await _version(api, "invoice", remote), "sparse": True,
            "Line": [line]})
        assert edited.status_code == 200, edited.text
    finally:
        await api.client.aclose()
    found = await _audit(world, connection)
    assert [(d.record_id, d.field, d.ledger, d.platform) for d in found.differences] == [
        ("INV-4", DriftField.TOTAL, "200.00", "220.00"),
        ("INV-4", DriftField.BALANCE, "200.00", "220.00")]
    assert found.compared == 6
    assert found.differences[0].entity is Entity.INVOICE
