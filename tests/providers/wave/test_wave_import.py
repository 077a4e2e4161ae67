"""Setup import from Wave keeps every customer and product apart (issue #12).

Wave's ids are long base64 global ids that share their first 60-odd characters (they all
begin with the business's id): `QnVzaW5lc3M6…O0N1c3RvbWVyOjE=` and `…OjI=`. Cut to 64
characters as `wave:<id>` they were one local id, and Wave products (which have no SKU) all
got the same SKU from the id's start, so every customer and product of a business but one
was lost while the report counted them all. Local ids and SKUs are derived in
`engine._directory`; this test pins, from Wave's side, that they stay apart and that the
report counts what was written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from console._wiring import platforms
from engine import live_connections, open_provider
from engine._directory import pull_directory
from tests._world import World

MakeWorld = Callable[..., Any]


async def test_every_wave_customer_and_product_is_imported_apart(make_world: MakeWorld) -> None:
    world: World = await make_world(("wave",))
    books = world.apps["wave"].state.books
    for n in range(3):
        books.create_customer({"name": f"Tanaka Electric {n}", "email": f"t{n}@x.example"})
        books.create_product({"name": f"Panel upgrade {n}", "unitPrice": Decimal("90.00")})
    customers_before = len(await world.store.fetch_all("SELECT id FROM customers"))
    items_before = len(await world.store.fetch_all("SELECT id FROM items"))
    row = next(c for c in await live_connections(world.store) if c.platform == "wave")
    provider = await open_provider(world.store, row, platforms()["wave"], world.sealer,
                                   adjust=lambda r, s: replace(s, transport=world.transport(
                                       r.platform)))
    report = await pull_directory(world.store, world.connections["wave"], "wave", provider)
    await provider.aclose()
    customers = await world.store.fetch_all("SELECT id FROM customers")
    items = await world.store.fetch_all("SELECT id FROM items")
    # Riverside (the demo's) and the three above; the demo's product and the three above.
    assert len(customers) - customers_before == report.customers_imported == 4
    assert len(items) - items_before == report.items_imported == 4
