"""The way back as its users meet it: what a support person walking it found, each the
smallest case that shows it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from console._http import build_api
from console._wiring import connect_sandbox, platforms
from console.cli import main
from engine import (
    Entity,
    HookInbox,
    Ledger,
    NewConnection,
    Payment,
    Sealer,
    Store,
    TokenSet,
    WebhookKeys,
    WebhookReply,
    add_connection,
    feed_states,
    payment_id,
    read_feed,
)
from tests._feedfake import FakeReceiver, engine_for, sign, synced, until


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


async def test_a_part_paid_to_an_invoice_syncdesk_does_not_know_is_told_as_it_stands(
        store: Store, sealer: Sealer) -> None:
    # The ledger payment keeps its whole amount, that part unapplied (the audit then shows
    # it as the payment's balance): the notice says so, not that the part is left out.
    platform, ids = await synced(store, sealer, "A")
    platform.providers["A"].paid("P-7", "12", ("R-INV-1", "2"), ("R-STRANGER", "10"))
    provider = platform.providers["A"]
    await read_feed(store, ids["A"], provider, platform="fake", title="Fake",
                    entities=set(Entity))
    payment = await Ledger(store).get(Entity.PAYMENT, payment_id("fake", ids["A"], "P-7"))
    assert isinstance(payment, Payment)
    assert (payment.amount, payment.unapplied) == (Decimal("12"), Decimal("10"))
    told = await store.fetch_all("SELECT message FROM notifications "
                                 "WHERE kind = 'feed_unmatched'")
    assert len(told) == 1
    message = told[0]["message"]
    assert "R-STRANGER (10)" in message and "not in the ledger" not in message, message
    assert "unapplied" in message, message


async def test_each_registered_callbacks_verifier_keeps_verifying(
        store: Store, sealer: Sealer) -> None:
    # FreshBooks signs each callback's events with that callback's own verifier, and a
    # connection needs one callback per kind of object (clients, invoices, payments, …):
    # confirming the second must not leave the first one's events refused.
    platform, ids = await synced(store, sealer, "A")
    inbox = HookInbox(store, {"fake": platform}, sealer)  # type: ignore[dict-item]
    for code in ("code-invoices", "code-payments"):
        assert await inbox.confirm("fake", {"callback_id": code, "verifier": code}) == ids["A"]
    for code in ("code-invoices", "code-payments"):
        body = json.dumps({"events": [{"tenant": "A", "entity": "invoice",
                                       "id": "R-INV-1"}]}).encode()
        reply = await inbox.receive("fake", {"x-fake-signature": sign(code, body)}, body)
        assert reply.status == 200, code
    # The key the user sets replaces them all.
    await WebhookKeys(store, sealer).set(ids["A"], "set-by-hand", "test")
    assert [key for _, _, key in await inbox.keys.of_platform("fake")] == ["set-by-hand"]


async def test_verifications_answered_at_once_keep_every_verifier(
        store: Store, sealer: Sealer) -> None:
    # `syncdesk hooks register` registers five callbacks; FreshBooks verifies them side by
    # side, so `syncdesk serve` confirms them concurrently: none may overwrite another.
    platform, _ = await synced(store, sealer, "A")
    inbox = HookInbox(store, {"fake": platform}, sealer)  # type: ignore[dict-item]
    codes = [f"code-{n}" for n in range(5)]
    await asyncio.gather(*(inbox.confirm("fake", {"callback_id": c, "verifier": c})
                           for c in codes))
    assert sorted(key for _, _, key in await inbox.keys.of_platform("fake")) == codes


def test_hooks_register_says_where_a_platforms_webhooks_are_set_up_instead(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Only FreshBooks registers callbacks through its API; QuickBooks' webhooks are set up
    # in Intuit's developer portal, and the command says so rather than doing nothing.
    db = tmp_path / "cli.db"

    async def connected() -> None:
        async with await Store.open(db) as store:
            await add_connection(store, NewConnection(
                platform="quickbooks", tenant_id="realm-1", tenant_name="Realm",
                tokens=TokenSet("a", "r", datetime.now(UTC) + timedelta(days=1))),
                Sealer.load())

    asyncio.run(connected())
    assert main(["hooks", "register", "quickbooks", "http://127.0.0.1:1/v1/hooks/quickbooks",
                 "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "developer portal" in err and "/v1/hooks/quickbooks" in err, err


def test_feed_read_says_nothing_new_when_nothing_changed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Every cycle reads pages; a count of pages is not news, and a support person reading
    # "pages 5" cannot tell it from changes taken in.
    from console._fleet import SandboxFleet

    db = tmp_path / "cli.db"
    with SandboxFleet(["quickbooks"], first_port=20340, limits_enabled=False) as fleet:
        async def prepare() -> None:
            async with await Store.open(db) as store:
                await connect_sandbox(store, platforms()["quickbooks"],
                                      fleet.urls["quickbooks"], Sealer.load())

        asyncio.run(prepare())
        # The first read may meet the sandbox company's own objects, stamped as it started.
        assert main(["feed", "read", "--db", str(db)]) == 0
        capsys.readouterr()
        assert main(["feed", "read", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "1 quickbooks: nothing new (5 pages read)", out


async def test_a_contact_gone_from_the_platform_is_not_told_as_surely_deleted(
        store: Store, sealer: Sealer) -> None:
    # Xero archives contacts, QuickBooks makes customers inactive: the feed says "deleted"
    # for all, and a person told "deleted" would not look in the platform's archive.
    platform, ids = await synced(store, sealer, "A")
    platform.providers["A"].gone(Entity.CUSTOMER, "R-C-1")
    await read_feed(store, ids["A"], platform.providers["A"], platform="fake", title="Fake",
                    entities=set(Entity))
    [job] = await store.fetch_all("SELECT status, error_message FROM sync_jobs "
                                  "WHERE entity = 'customer' AND record_id = 'C-1'")
    assert job["status"] == "broken_link"
    assert "was deleted, archived or made inactive on Fake" in job["error_message"], job


class _Silent(FakeReceiver):
    """Refuses as Xero must, with an empty body (its intent-to-receive check wants one)."""

    def receive(self, headers: Mapping[str, str], body: bytes, secret: str) -> WebhookReply:
        reply = super().receive(headers, body, secret)
        return reply if reply.verified else WebhookReply(401)


async def test_a_refusal_with_no_words_of_its_own_is_logged_as_a_signature_problem(
        store: Store, sealer: Sealer, caplog: pytest.LogCaptureFixture) -> None:
    # `syncdesk serve`'s log said "refused a xero webhook: HTTP 401", naming nothing.
    platform, ids = await synced(store, sealer, "A")
    platform.receiver = _Silent()
    await WebhookKeys(store, sealer).set(ids["A"], "key-of-a", "test")
    inbox = HookInbox(store, {"fake": platform}, sealer)  # type: ignore[dict-item]
    reply = await inbox.receive("fake", {"x-fake-signature": "forged"}, b"{}")
    assert reply.status == 401
    assert "refused a fake webhook: signature missing or wrong (HTTP 401)" in caplog.text
