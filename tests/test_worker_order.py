"""The order a round's creates go in: a document waits for all of its parents, so the small
group every line names (items) goes before the many customers' batches."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import httpx

from console._wiring import platforms
from engine import ConnectionSettings, Customer, Item
from engine._connections import ConnectionRow
from engine._engine import EngineSettings, SyncEngine
from tests._world import World

MakeWorld = Callable[..., Any]


@dataclass
class Batches(httpx.AsyncBaseTransport):
    """The entity of each batch request, in the order they were sent."""

    inner: httpx.AsyncBaseTransport
    sent: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/batch"):
            items = json.loads(await request.aread())["BatchItemRequest"]
            self.sent.append(next(key for key in items[0] if key not in ("bId", "operation")))
        return await self.inner.handle_async_request(request)


async def test_the_smaller_group_of_creates_goes_first(make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    sandbox = Batches(world.transport("quickbooks"))

    def hook(row: ConnectionRow, settings: ConnectionSettings) -> ConnectionSettings:
        return replace(settings, transport=sandbox, timeout=10.0)

    await world.ledger.upsert([
        *(Customer(id=f"C-{n}", display_name=f"Customer {n}") for n in range(90)),
        *(Item(id=f"I-{n}", sku=f"S-{n}", name=f"Item {n}", unit_price=Decimal("2"),
               income_accounts={"quickbooks": "79"}) for n in range(2))])
    engine = SyncEngine(world.store, {"quickbooks": platforms()["quickbooks"]}, world.sealer,
                        settings_hook=hook, settings=EngineSettings(worker=world.worker,
                                                                    poll_interval=0.01))
    await engine.run(until_idle=True)
    assert sandbox.sent == ["Item", "Customer", "Customer", "Customer"]
