"""Batches and the batch window: what goes in a batch, and what the window's room counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import httpx

from console._wiring import platforms
from engine import ConnectionSettings, Customer, Invoice, Item
from engine._connections import ConnectionRow
from engine._engine import EngineSettings, SyncEngine
from tests._world import World

MakeWorld = Callable[..., Any]


@dataclass
class Paths(httpx.AsyncBaseTransport):
    inner: httpx.AsyncBaseTransport
    seen: Counter[str] = field(default_factory=Counter)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen[request.url.path.rsplit("/", 1)[-1]] += 1
        return await self.inner.handle_async_request(request)


async def test_a_lone_create_takes_no_room_of_the_batch_window(make_world: MakeWorld) -> None:
    """One customer and one item are two plain pushes; had they counted as batches, a
    window of two would be spent and the four invoices after them would go one by one."""
    world: World = await make_world(("quickbooks",), limits_enabled=True)
    sandbox = Paths(world.transport("quickbooks"))
    qbo = platforms()["quickbooks"]
    limits = replace(qbo.capabilities.limits, batch_per_minute=2)  # two batches a minute
    chosen = {"quickbooks": replace(qbo, capabilities=replace(qbo.capabilities,
                                                                limits=limits))}

    def hook(row: ConnectionRow, settings: ConnectionSettings) -> ConnectionSettings:
        return replace(settings, transport=sandbox, timeout=10.0)

    await world.ledger.upsert([
        Customer(id="C-1", display_name="Lone Customer"),
        Item(id="I-1", sku="TILE", name="Tile", unit_price=Decimal("2"),
             income_accounts={"quickbooks": "79"}),
        *(Invoice.model_validate({
            "id": f"V-{n}", "number": f"V-{n}", "customer_id": "C-1",
            "issue_date": "2026-09-01", "status": "sent",
            "lines": [{"item_id": "I-1", "quantity": "1", "unit_price": "2"}]})
          for n in range(4))])
    engine = SyncEngine(world.store, chosen, world.sealer, settings_hook=hook,
                        settings=EngineSettings(worker=replace(world.worker, throttle=True),
                                                poll_interval=0.01))
    await engine.run(until_idle=True)
    assert {r["status"] for r in await world.store.fetch_all(
        "SELECT status FROM sync_jobs")} == {"synced"}
    assert (sandbox.seen["customer"], sandbox.seen["item"], sandbox.seen["batch"],
            sandbox.seen["invoice"]) == (1, 1, 1, 0), sandbox.seen


async def test_a_few_creates_go_alone_when_full_batches_want_the_window(
        make_world: MakeWorld) -> None:
    """Two batches a minute and sixty customers to fill them: five items in a batch of their
    own would leave thirty customers to go one request each, where the items alone are five."""
    world: World = await make_world(("quickbooks",), limits_enabled=True)
    sandbox = Paths(world.transport("quickbooks"))
    qbo = platforms()["quickbooks"]
    limits = replace(qbo.capabilities.limits, batch_per_minute=2)
    chosen = {"quickbooks": replace(qbo, capabilities=replace(qbo.capabilities,
                                                                limits=limits))}

    def hook(row: ConnectionRow, settings: ConnectionSettings) -> ConnectionSettings:
        return replace(settings, transport=sandbox, timeout=10.0)

    await world.ledger.upsert([
        *(Customer(id=f"C-{n}", display_name=f"Customer {n}") for n in range(60)),
        *(Item(id=f"I-{n}", sku=f"TILE-{n}", name=f"Tile {n}", unit_price=Decimal("2"),
               income_accounts={"quickbooks": "79"}) for n in range(5))])
    engine = SyncEngine(world.store, chosen, world.sealer, settings_hook=hook,
                        settings=EngineSettings(worker=replace(world.worker, throttle=True),
                                                poll_interval=0.01))
    await engine.run(until_idle=True)
    assert {r["status"] for r in await world.store.fetch_all(
        "SELECT status FROM sync_jobs")} == {"synced"}
    assert (sandbox.seen["batch"], sandbox.seen["item"], sandbox.seen["customer"]) \
        == (2, 5, 0), sandbox.seen
