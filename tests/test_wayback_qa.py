"""The way back as its users meet it: what a support person walking it found, each the
smallest case that shows it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import httpx

from console._http import build_api
from engine import Entity, HookInbox, Sealer, Store, feed_states
from tests._feedfake import engine_for, sign, synced, until


async def test_a_webhook_refused_for_want_of_any_key_is_told_on_the_platforms_connections(
        store: Store, sealer: Sealer) -> None:
    # Webhooks set up on the platform before `syncdesk hooks set-key`: every call is refused,
    # and the person who set them up has to hear it, with what to do.
    platform, ids = await synced(store, sealer, "A")
    inbox = HookInbox(store, {"fake": platform}, sealer)  # type: ignore[dict-item]
    body = json.dumps({"events": [{"tenant": "A", "entity": "invoice", "id": "R-1"}]}).encode()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_api(
            store, hooks=inbox)), base_url="http://syncdesk") as client:
        answer = await client.post("/v1/hooks/fake", content=body,
                                   headers={"x-fake-signature": sign("theirs", body)})
    assert answer.status_code == 401
    told = await store.fetch_all("SELECT connection_id, message FROM notifications "
                                 "WHERE kind = 'webhook_refused'")
    assert [r["connection_id"] for r in told] == [ids["A"]]
    assert "no webhook key is set" in told[0]["message"], told[0]["message"]
    assert "syncdesk hooks set-key" in told[0]["message"]


async def test_an_entity_the_connection_does_not_sync_is_shown_as_not_fed(
        store: Store, sealer: Sealer) -> None:
    # Wave's connections sync no payments: while the engine runs, `feed status` says the
    # feed leaves them out instead of listing nothing, and nothing is asked of the platform.
    platform, ids = await synced(store, sealer, "A")
    platform.capabilities = replace(platform.capabilities, operations={
        e: ops for e, ops in platform.capabilities.operations.items()
        if e not in (Entity.PAYMENT, Entity.CREDIT_NOTE)})
    engine = engine_for(store, platform, sealer)
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    try:
        await until(lambda: _read_all(store), "every feed read or noted")
    finally:
        stop.set()
        await running
    assert {entity for entity, _, _ in platform.providers["A"].reads} == {
        Entity.CUSTOMER, Entity.ITEM, Entity.INVOICE}
    states = {s.entity: s for s in await feed_states(store) if s.connection_id == ids["A"]}
    for entity in (Entity.PAYMENT, Entity.CREDIT_NOTE):
        assert states[entity].error == (f"not fed: this Fake connection does not sync "
                                        f"{entity.label}s")


async def _read_all(store: Store) -> bool:
    return len(await feed_states(store)) == len(Entity)
