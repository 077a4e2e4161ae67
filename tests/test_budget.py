"""Throttling on, sandboxes at their real limits: a small ledger and the weekly check, no 429.

Every other test world runs unthrottled against unlimited sandboxes, so nothing there shows
whether the rate budget counts what the platform counts. Here each platform gets the kinds
of pushes that cost more than one request (two-step sent invoices on FreshBooks and Wave,
credit notes with allocations, payments split over invoices), then the weekly pull and link
check through the same connection budget the engine used. The sandbox must not have refused
a single request, and the budget must have counted every request the sandbox answered.

A ledger this small stays inside one minute's quota (Wave's 60 would take a minute to cross),
so what catches a request sent around the budget is that count; QuickBooks' 10 a second is
crossed here, and unthrottled its test fails on a 429.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import httpx
import pytest

from console._wiring import platforms
from engine import (
    ConnectionSettings,
    CreditNote,
    Customer,
    Entity,
    Invoice,
    Item,
    Payment,
    Record,
    RequestBudget,
    live_connections,
    open_provider,
)
from engine._connections import ConnectionRow
from engine._directory import check_links, pull_directory
from engine._engine import EngineSettings, SyncEngine
from engine._limiter import RateGate
from tests._world import World

MakeWorld = Callable[..., Any]

@dataclass
class Counting(httpx.AsyncBaseTransport):
    """The in-process sandbox, with every 429 it answers counted on the client's side too
    (QuickBooks' batch limiter refuses with a 429 the sandbox's `rate_limited` leaves out)."""

    inner: httpx.AsyncBaseTransport
    throttled: int = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if response.status_code == 429:
            self.throttled += 1
        return response


def ledger() -> list[Record]:
    customers = [Customer(id=f"C-{n}", display_name=f"Budget Customer {n}",
                          email=f"c{n}@example.com") for n in range(1, 4)]
    items = [Item(id=sku, sku=sku, name=sku.title(), unit_price=Decimal(price),
                  income_accounts={"quickbooks": "79", "xero": "200"})
             for sku, price in (("TILE", "12.50"), ("GROUT", "8"))]
    invoices = [Invoice.model_validate({
        "id": f"INV-{n}", "number": f"INV-{n}", "customer_id": f"C-{1 + n % 3}",
        "issue_date": "2026-09-01", "status": "sent",
        "lines": [{"item_id": "TILE", "quantity": "4", "unit_price": "12.50"},
                  {"item_id": "GROUT", "quantity": "1", "unit_price": "8"}]})
        for n in range(1, 5)]
    payments = [payment("PAY-1", "C-1", ("INV-3", "20.00")),  # INV-n: C-(1 + n % 3)
                payment("PAY-2", "C-2", ("INV-1", "38.00"), ("INV-4", "58.00"))]
    notes = [CreditNote.model_validate({
        "id": "CN-1", "number": "CN-1", "customer_id": "C-1", "date": "2026-09-07",
        "lines": [{"item_id": "TILE", "quantity": "1", "unit_price": "10.00"}],
        "allocations": [{"invoice_id": "INV-3", "amount": "10.00"}]})]
    return [*customers, *items, *invoices, *payments, *notes]


def payment(record_id: str, customer: str, *allocations: tuple[str, str]) -> Payment:
    return Payment.model_validate({
        "id": record_id, "customer_id": customer, "date": "2026-09-05",
        "amount": str(sum(Decimal(amount) for _, amount in allocations)), "reference": record_id,
        "allocations": [{"invoice_id": i, "amount": a} for i, a in allocations]})


@pytest.mark.parametrize("platform", ["freshbooks", "quickbooks", "wave", "xero"])
async def test_a_throttled_sync_and_weekly_check_draw_no_429(make_world: MakeWorld,
                                                             platform: str) -> None:
    world: World = await make_world((platform,), limits_enabled=True)
    sandbox = Counting(world.transport(platform))
    budgets: dict[int, RequestBudget | None] = {}

    def hook(row: ConnectionRow, settings: ConnectionSettings) -> ConnectionSettings:
        budgets[row.id] = settings.budget
        return replace(settings, transport=sandbox, timeout=10.0)

    engine = SyncEngine(world.store, platforms(), world.sealer, settings_hook=hook,
                        settings=EngineSettings(worker=replace(world.worker, throttle=True),
                                                poll_interval=0.01))
    await world.ledger.upsert(ledger())
    connected = (await world.sandbox(platform, "GET", "/_sandbox/state"))["requests"]
    await engine.run(until_idle=True)
    connection = world.connections[platform]
    supported = platforms()[platform].capabilities.operations
    outcomes = {(r["entity"], r["status"]) for r in await world.store.fetch_all(
        "SELECT DISTINCT entity, status FROM sync_jobs WHERE connection_id = ?", (connection,))}
    # What the platform cannot hold (Wave: payments, credit notes) is skipped, never sent.
    assert outcomes == {(entity.value, "synced" if entity in supported else "skipped")
                        for entity in Entity}, outcomes

    # The weekly full sync's platform side, through the budget the engine's worker spent.
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    provider = await open_provider(
        world.store, row, platforms()[platform], world.sealer,
        adjust=lambda r, s: replace(s, transport=sandbox, budget=budgets[connection]))
    try:
        await pull_directory(world.store, connection, platform, provider)
        assert await check_links(world.store, connection, provider, platform) == 0
    finally:
        await provider.aclose()

    state = await world.sandbox(platform, "GET", "/_sandbox/state")
    assert state["rate_limited"] == 0
    assert sandbox.throttled == 0
    # Every request the sandbox answered, the sync's and the check's, took a slot of the
    # one budget: nothing reached the platform around it.
    budget = budgets[connection]
    assert isinstance(budget, RateGate)
    assert budget.requests == state["requests"] - connected
