"""The drift audit on Xero through `list_states`: a clean run after a sync compares every
synced document and payment (a payment split over two invoices, an overpayment, a credit note)
and finds nothing; a person's edit on Xero is found, on that record alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
from xero_support import persons_app

from console._wiring import platforms
from engine import (
    CreditNote,
    Customer,
    DriftField,
    Invoice,
    Item,
    Payment,
    live_connections,
    open_provider,
    run_audit,
)
from engine._audit import AuditReport
from tests._world import World

MakeWorld = Callable[..., Awaitable[World]]
API = "/api.xro/2.0"


def _records() -> list[Any]:
    invoices = [Invoice.model_validate({
        "id": f"INV-{n}", "number": f"INV-{n}", "customer_id": "C-1",
        "issue_date": "2026-09-01", "status": "sent",
        "lines": [{"item_id": "TILE", "quantity": "4", "unit_price": "25.00"}]})
        for n in range(1, 4)]
    split = Payment.model_validate({
        "id": "PAY-1", "customer_id": "C-1", "date": "2026-09-05", "amount": "70",
        "allocations": [{"invoice_id": "INV-1", "amount": "30"},
                        {"invoice_id": "INV-2", "amount": "40"}]})
    over = Payment.model_validate({
        "id": "PAY-2", "customer_id": "C-1", "date": "2026-09-06", "amount": "50",
        "allocations": [{"invoice_id": "INV-3", "amount": "20"}]})
    note = CreditNote.model_validate({
        "id": "CN-1", "number": "CN-1", "customer_id": "C-1", "date": "2026-09-07",
        "lines": [{"item_id": "TILE", "quantity": "1", "unit_price": "10.00"}],
        "allocations": [{"invoice_id": "INV-3", "amount": "10.00"}]})
    return [Customer(id="C-1", display_name="Audit Tiling"),
            Item(id="TILE", sku="TILE", name="Tile", unit_price=Decimal("25.00"),
                 income_accounts={"xero": "200"}),
            *invoices, split, over, note]


async def _audit(world: World, connection: int) -> AuditReport:
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    provider = await open_provider(
        world.store, row, platforms()["xero"], world.sealer,
        adjust=lambda r, s: replace(s, transport=world.transport("xero")))
    try:
        return await run_audit(world.store, connection, provider, "Xero")
    finally:
        await provider.aclose()


async def test_a_clean_run_then_a_planted_difference(make_world: MakeWorld) -> None:
    world = await make_world(("xero",))
    await world.ledger.upsert(_records())
    await world.sync()
    connection = world.connections["xero"]
    statuses = {r["record_id"]: r["status"] for r in await world.store.fetch_all(
        "SELECT record_id, status FROM sync_jobs WHERE connection_id = ?", (connection,))}
    assert set(statuses.values()) == {"synced"}, statuses

    clean = await _audit(world, connection)
    assert (clean.compared, clean.unlisted, clean.differences) == (6, 0, [])

    remote = {row["record_id"]: row["remote_id"] for row in await world.store.fetch_all(
        "SELECT record_id, remote_id FROM sync_links WHERE connection_id = ?", (connection,))}
    api: httpx.AsyncClient = await persons_app(world.transport("xero"))
    try:
        [invoice] = (await api.get(f"{API}/Invoices/{remote['INV-2']}")).json()["Invoices"]
        line = invoice["LineItems"][0]
        edited = await api.post(f"{API}/Invoices/{remote['INV-2']}", json={"Invoices": [{
            "LineItems": [{**{k: line[k] for k in ("LineItemID", "Description", "ItemCode",
                                                   "AccountCode", "TaxType")},
                           "Quantity": 5, "UnitAmount": 25}]}]})
        assert edited.status_code == 200, edited.text
    finally:
        await api.aclose()

    planted = await _audit(world, connection)
    assert planted.compared == 6
    assert {(d.record_id, d.field) for d in planted.differences} == {
        ("INV-2", DriftField.TOTAL), ("INV-2", DriftField.BALANCE)}
    total = next(d for d in planted.differences if d.field is DriftField.TOTAL)
    assert (total.ledger, total.platform) == ("100.00", "125.00")
