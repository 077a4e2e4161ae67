"""Platforms' webhooks in, through the HTTP service's route: signatures, refusals, replays,
a registration handshake, and the engine reading what a webhook names at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from console._http import build_api
from console.cli import main
from engine import HookInbox, Sealer, Store, WebhookKeys, payment_id
from tests._feedfake import FakePlatform, engine_for, sign, synced, until


def event_body(tenant: str = "A", entity: str = "invoice", remote_id: str = "R-INV-1"
               ) -> bytes:
    return json.dumps({"events": [{"tenant": tenant, "entity": entity,
                                   "id": remote_id}]}).encode()


@pytest.fixture
async def hooked(store: Store, sealer: Sealer
                 ) -> AsyncIterator[tuple[FakePlatform, dict[str, int], httpx.AsyncClient]]:
    platform, ids = await synced(store, sealer, "A", "B")
    keys = WebhookKeys(store, sealer)
    await keys.set(ids["A"], "key-of-a", "test")
    await keys.set(ids["B"], "key-of-b", "test")
    inbox = HookInbox(store, {"fake": platform}, sealer)  # type: ignore[dict-item]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_api(
            store, hooks=inbox)), base_url="http://syncdesk") as client:
        yield platform, ids, client


async def due(store: Store) -> set[tuple[int, str]]:
    rows = await store.fetch_all("SELECT connection_id, entity FROM feed_cursors "
                                 "WHERE due_at IS NOT NULL")
    return {(r["connection_id"], r["entity"]) for r in rows}


async def post(client: httpx.AsyncClient, body: bytes, signature: str | None,
               platform: str = "fake") -> httpx.Response:
    headers = {"x-fake-signature": signature} if signature is not None else {}
    return await client.post(f"/v1/hooks/{platform}", content=body, headers=headers)


async def test_a_signed_webhook_marks_only_what_it_names_due(
        store: Store, hooked: tuple[FakePlatform, dict[str, int], httpx.AsyncClient]) -> None:
    _, ids, client = hooked
    body = event_body("A", "invoice", "R-INV-1")
    answer = await post(client, body, sign("key-of-a", body))
    assert answer.status_code == 200
    # An invoice's change may be a payment applied to it: both are read.
    assert await due(store) == {(ids["A"], "invoice"), (ids["A"], "payment")}
    # Only names are used: nothing was written to the ledger from the payload.
    assert await store.fetch_value("SELECT COUNT(*) FROM payments") == 0


async def test_a_bad_or_missing_signature_is_refused_and_told(
        store: Store, hooked: tuple[FakePlatform, dict[str, int], httpx.AsyncClient]) -> None:
    _, ids, client = hooked
    body = event_body("A")
    for signature in (sign("not-the-key", body), None, sign("key-of-a", body + b" ")):
        answer = await post(client, body, signature)
        assert answer.status_code == 401
    assert await due(store) == set()
    told = await store.fetch_all("SELECT connection_id, title FROM notifications "
                                 "WHERE kind = 'webhook_refused'")
    assert sorted(r["connection_id"] for r in told) == sorted(ids.values())
    assert told[0]["title"] == "Fake: an incoming webhook was refused"


async def test_a_key_verifies_only_its_own_connections_events(
        store: Store, hooked: tuple[FakePlatform, dict[str, int], httpx.AsyncClient]) -> None:
    _, ids, client = hooked
    body = event_body("B", "customer", "R-C-1")
    answer = await post(client, body, sign("key-of-a", body))  # A's key, B's tenant
    assert answer.status_code == 200
    assert await due(store) == set()
    answer = await post(client, body, sign("key-of-b", body))
    assert await due(store) == {(ids["B"], "customer")}


async def test_a_replayed_webhook_only_reads_the_feed_again(
        store: Store, sealer: Sealer,
        hooked: tuple[FakePlatform, dict[str, int], httpx.AsyncClient]) -> None:
    platform, ids, client = hooked
    platform.providers["A"].paid("P-1", "10", ("R-INV-1", "10"))
    body = event_body("A", "payment", "P-1")
    engine = engine_for(store, platform, sealer)
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    try:
        for _ in range(3):  # the platform's retry, or someone replaying a captured call
            assert (await post(client, body, sign("key-of-a", body))).status_code == 200
            await until(lambda: _nothing_due(store), "the webhook's read")
    finally:
        stop.set()
        await running
    assert [r["id"] for r in await store.fetch_all("SELECT id FROM payments")] == [
        payment_id("fake", ids["A"], "P-1")]


async def _nothing_due(store: Store) -> bool:
    return not await due(store) and bool(await store.fetch_value(
        "SELECT COUNT(*) FROM payments"))


async def test_a_registration_handshake_is_confirmed_and_its_code_kept(
        store: Store, sealer: Sealer,
        hooked: tuple[FakePlatform, dict[str, int], httpx.AsyncClient]) -> None:
    platform, ids, client = hooked
    platform.providers["A"].accepts = "code-7"  # the account that registered the callback
    platform.providers["B"].accepts = "code-of-b"
    answer = await post(client, json.dumps({"verify": "code-7"}).encode(), None)
    assert answer.status_code == 200
    assert platform.providers["A"].confirmed == [{"callback_id": "cb-1",
                                                  "verifier": "code-7"}]
    keys = {connection: key for connection, _, key in
            await WebhookKeys(store, sealer).of_platform("fake")}
    assert keys == {ids["A"]: "code-7", ids["B"]: "key-of-b"}


async def test_a_platform_without_webhooks_is_not_found(
        store: Store, hooked: tuple[FakePlatform, dict[str, int], httpx.AsyncClient]) -> None:
    _, _, client = hooked
    assert (await post(client, b"{}", None, platform="nowhere")).status_code == 404
    document = (await client.get("/v1/openapi.json")).json()
    assert document["paths"]["/v1/hooks/{platform}"]["post"]["security"] == []


def test_hooks_set_key_and_list_through_the_cli(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.db"

    async def connected() -> None:
        async with await Store.open(db) as store:
            await FakePlatform().connect(store, Sealer.load(), "A")

    asyncio.run(connected())
    assert main(["hooks", "set-key", "fake", "verifier-token-123", "--db", str(db)]) == 0
    assert main(["hooks", "list", "--db", str(db), "--json"]) == 0
    out = capsys.readouterr().out
    listed = json.loads(out[out.index("["):])
    assert [(k["platform"], k["hint"]) for k in listed] == [("fake", "veri…")]
    assert "verifier-token-123" not in out

    async def stored() -> list[tuple[int, str, str]]:
        async with await Store.open(db) as store:
            return await WebhookKeys(store, Sealer.load()).of_platform("fake")

    assert [key for _, _, key in asyncio.run(stored())] == ["verifier-token-123"]
    assert main(["history", "customer", "C-1", "--db", str(db)]) == 2
    assert "no customer C-1 in the ledger" in capsys.readouterr().err


def test_history_says_no_edit_for_a_customer_and_refuses_one_the_ledger_lacks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "store.db"
    assert main(["seed", "--size", "10", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["history", "customer", "C-0001", "--db", str(db)]) == 0
    assert "no platform edit" in capsys.readouterr().out
    assert main(["history", "customer", "NOPE", "--db", str(db)]) == 2
    assert "no customer NOPE in the ledger" in capsys.readouterr().err
