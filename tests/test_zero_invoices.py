"""A $0 invoice (a warranty visit, a free estimate) is kept: it reaches every platform with a
total of 0.00, as the ledger has it, never dropped as nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.test_engine import MARIA, TILE, invoice, statuses

MakeWorld = Callable[..., Any]


async def test_a_zero_invoice_reaches_every_platform(make_world: MakeWorld) -> None:
    world = await make_world()
    await world.ledger.upsert([MARIA, TILE, invoice("INV-0", price="0")])
    await world.sync()
    for platform in world.connections:
        assert (await statuses(world, platform))[("invoice", "INV-0")] == "synced", platform
        marks = await world.sandbox(platform, "GET", "/_sandbox/marks")
        assert marks["marks"]["invoice"]["INV-0"] == 1, platform
