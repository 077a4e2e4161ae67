"""The sync engine against in-process sandboxes: dependencies, failures, crash safety, repair."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from engine import Customer, Invoice, Item, Payment, SyncService
from tests._world import World

MakeWorld = Callable[..., Any]
BOTH = ("quickbooks", "xero")

MARIA = Customer(id="C-1", display_name="Maria Lopez", email="maria@example.com")
TILE = Item(id="TILE", sku="TILE", name="Tile", unit_price=Decimal("12.50"),
            income_accounts={"quickbooks": "79", "xero": "200"})
LABOR = Item(id="LABOR", sku="LABOR", name="Labor", unit_price=Decimal("80"))


def invoice(number: str, item: str = "TILE", customer: str = "C-1", status: str = "sent",
            quantity: str = "4", price: str = "12.50") -> Invoice:
    return Invoice.model_validate({
        "id": number, "number": number, "customer_id": customer, "issue_date": "2026-09-01",
        "status": status, "lines": [{"item_id": item, "quantity": quantity, "unit_price": price}],
    })


def payment(record_id: str, amount: str, *allocations: tuple[str, str]) -> Payment:
    return Payment.model_validate({
        "id": record_id, "customer_id": "C-1", "date": "2026-09-05", "amount": amount,
        "reference": record_id,
        "allocations": [{"invoice_id": i, "amount": a} for i, a in allocations]})


async def statuses(world: World, platform: str) -> dict[tuple[str, str], str]:
    rows = await world.store.fetch_all(
        "SELECT entity, record_id, status FROM sync_jobs WHERE connection_id = ?",
        (world.connections[platform],))
    return {(r["entity"], r["record_id"]): r["status"] for r in rows}


async def test_ledger_reaches_both_platforms_once(make_world: MakeWorld) -> None:
    world: World = await make_world(BOTH)
    await world.ledger.upsert([MARIA, TILE, invoice("INV-1001"), invoice("INV-1002"),
                               payment("PAY-1", "50.00", ("INV-1001", "50.00"))])
    await world.sync()
    for platform in BOTH:
        assert set((await statuses(world, platform)).values()) == {"synced"}
        counts = await world.remote_counts(platform)
        assert counts["invoice"] == 2 + 1  # ours plus the demo company's INV-1042
        assert counts["payment"] == 1


async def test_unmapped_item_is_skipped_and_its_invoice_resumes_once_mapped(
        make_world: MakeWorld) -> None:
    world: World = await make_world(BOTH)
    await world.ledger.upsert([MARIA, LABOR, invoice("INV-1", item="LABOR", price="80")])
    await world.sync()
    job = await world.job("quickbooks", "item", "LABOR")
    assert job["status"] == "skipped"
    assert job["error_message"] == "item 'Labor' has no income account for QuickBooks — map one"
    blocked = await world.job("quickbooks", "invoice", "INV-1")
    assert (blocked["status"], blocked["error_message"]) == ("blocked", "blocked by item Labor")

    service = SyncService(world.store, actor="ana")
    await service.set_income_account("LABOR", "quickbooks", "80")
    await service.set_income_account("LABOR", "xero", "200")
    await world.sync()
    assert set((await statuses(world, "quickbooks")).values()) == {"synced"}
    assert set((await statuses(world, "xero")).values()) == {"synced"}


async def test_a_failed_parent_blocks_by_name_and_its_children_resume(
        make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    taken = Customer(id="C-9", display_name="Riverside Property Group LLC")
    await world.ledger.upsert([taken, TILE, invoice("INV-7", customer="C-9")])
    await world.sync()
    customer = await world.job("quickbooks", "customer", "C-9")
    assert (customer["status"], customer["error_class"], customer["error_code"]) == (
        "failed", "duplicate", "6240")
    assert "already exists" in customer["error_message"]
    child = await world.job("quickbooks", "invoice", "INV-7")
    assert child["error_message"] == "blocked by customer Riverside Property Group LLC"

    await world.ledger.upsert([taken.model_copy(update={"display_name": "Riverside Homes"})])
    await world.sync()
    assert (await world.job("quickbooks", "invoice", "INV-7"))["status"] == "synced"


async def test_duplicate_document_number_fails_with_the_platforms_words(
        make_world: MakeWorld) -> None:
    world: World = await make_world(BOTH)
    await world.ledger.upsert([MARIA, TILE, invoice("INV-1042")])
    await world.sync()
    qbo = await world.job("quickbooks", "invoice", "INV-1042")
    assert (qbo["status"], qbo["error_code"]) == ("failed", "6140")
    assert "Duplicate Document Number Error" in qbo["error_message"]
    xero = await world.job("xero", "invoice", "INV-1042")
    assert xero["status"] == "failed"
    assert "Invoice # must be unique." in xero["error_message"]


async def test_a_lost_response_is_reconciled_without_a_duplicate(make_world: MakeWorld) -> None:
    world: World = await make_world(BOTH)
    await world.ledger.upsert([MARIA, TILE])
    await world.sync()
    for platform in BOTH:
        world.apps[platform].state.sandbox.faults.hang_seconds = 5
        await world.sandbox(platform, "POST", "/_sandbox/faults",
                            json={"kind": "drop", "count": 1, "path_contains": "nvoice"})
    await world.ledger.upsert([invoice("INV-2001")])
    await world.sync()
    for platform in BOTH:
        job = await world.job(platform, "invoice", "INV-2001")
        assert job["status"] == "synced", job
        assert (await world.remote_counts(platform))["invoice"] == 2  # INV-1042 + ours
        attempts = await world.store.fetch_all(
            "SELECT outcome FROM sync_attempts WHERE job_id = ? ORDER BY id", (job["id"],))
        assert attempts[0]["outcome"] == "retry"


async def test_transient_failures_back_off_then_fail_visibly(make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    world.worker.max_attempts = 3
    await world.sandbox("quickbooks", "POST", "/_sandbox/faults",
                        json={"kind": "error", "count": -1, "status": 503})
    await world.ledger.upsert([MARIA])
    await world.sync()
    job = await world.job("quickbooks", "customer", "C-1")
    assert (job["status"], job["attempts"], job["error_class"]) == ("failed", 3, "transient")
    attempts = await world.store.fetch_value(
        "SELECT COUNT(*) FROM sync_attempts WHERE job_id = ?", (job["id"],))
    assert attempts == 3
    service = SyncService(world.store, actor="ana")
    unread = await service.notifications(unread_only=True)
    assert len([n for n in unread if n.record_id == "C-1"]) == 1


async def test_one_notification_per_problem_until_read(make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    service = SyncService(world.store, actor="ana")
    await world.ledger.upsert([Customer(id="C-9", display_name="Riverside Property Group LLC")])
    await world.sync()
    job = await world.job("quickbooks", "customer", "C-9")
    for _ in range(2):
        await service.retry([job["id"]])
        await world.sync()
    assert len(await service.notifications(unread_only=True)) == 1
    await service.mark_read()
    await service.retry([job["id"]])
    await world.sync()
    assert len(await service.notifications(unread_only=True)) == 1
    assert len(await service.notifications()) == 2


async def test_resync_pushes_the_invoice_and_its_late_payments(make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    await world.ledger.upsert([MARIA, TILE, invoice("INV-5")])
    await world.sync()
    await world.ledger.upsert([payment("PAY-LATE", "20.00", ("INV-5", "20.00"))])
    await world.sandbox("quickbooks", "POST", "/_sandbox/faults",
                        json={"kind": "error", "count": -1, "path_contains": "payment"})
    world.worker.max_attempts = 1
    await world.sync()
    assert (await world.job("quickbooks", "payment", "PAY-LATE"))["status"] == "failed"
    await world.sandbox("quickbooks", "DELETE", "/_sandbox/faults")
    invoice_job = await world.job("quickbooks", "invoice", "INV-5")
    assert await SyncService(world.store, actor="ana").resync(invoice_job["id"]) == 2
    await world.sync()
    assert (await world.job("quickbooks", "payment", "PAY-LATE"))["status"] == "synced"
    assert (await world.remote_counts("quickbooks"))["payment"] == 1


async def test_voiding_voids_remotely(make_world: MakeWorld) -> None:
    world: World = await make_world(BOTH)
    await world.ledger.upsert([MARIA, TILE, invoice("INV-8")])
    await world.sync()
    await world.ledger.upsert([invoice("INV-8", status="void")])
    await world.sync()
    for platform in BOTH:
        job = await world.job(platform, "invoice", "INV-8")
        assert (job["status"], job["operation"]) == ("synced", "void")


async def test_deleted_remote_object_is_a_broken_link_until_relinked(
        make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    await world.ledger.upsert([MARIA, TILE, invoice("INV-3")])
    await world.sync()
    job = await world.job("quickbooks", "invoice", "INV-3")
    link = await world.store.fetch_value(
        "SELECT remote_id FROM sync_links WHERE entity = 'invoice' AND record_id = 'INV-3'")
    await world.sandbox("quickbooks", "POST", "/_sandbox/delete",
                        json={"entity": "invoice", "id": link})
    await world.ledger.upsert([invoice("INV-3", quantity="5")])
    await world.sync()
    broken = await world.job("quickbooks", "invoice", "INV-3")
    assert broken["status"] == "broken_link", broken
    service = SyncService(world.store, actor="ana")
    assert [n.kind for n in await service.notifications()] == ["broken_link"]
    await service.relink(job["id"])
    await world.sync()
    assert (await world.job("quickbooks", "invoice", "INV-3"))["status"] == "synced"
    new_link = await world.store.fetch_value(
        "SELECT remote_id FROM sync_links WHERE entity = 'invoice' AND record_id = 'INV-3'")
    assert new_link != link


async def test_revoked_grant_pauses_the_connection_with_one_notice(make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    await world.sandbox("quickbooks", "POST", "/_sandbox/revoke")
    await world.sandbox("quickbooks", "POST", "/_sandbox/expire-tokens")
    await world.ledger.upsert([MARIA])
    await world.sync()
    state = await world.store.fetch_one("SELECT state, state_reason FROM connections")
    assert state is not None and state["state"] == "needs_reconnect"
    notices = await SyncService(world.store, actor="ana").notifications()
    assert [n.kind for n in notices] == ["auth"]
    assert (await world.job("quickbooks", "customer", "C-1"))["attempts"] == 0


async def test_rate_limits_are_waited_out_not_counted(make_world: MakeWorld) -> None:
    world: World = await make_world(("xero",))
    await world.sandbox("xero", "POST", "/_sandbox/faults",
                        json={"kind": "rate_limit", "count": 2, "retry_after": 1})
    app = world.apps["xero"]
    await world.ledger.upsert([MARIA])
    engine = world.engine()
    await engine.run(until_idle=True)
    job = await world.job("xero", "customer", "C-1")
    assert (job["status"], job["attempts"]) == ("synced", 0)
    assert engine.report.rate_limited == 2
    assert app.state.sandbox.faults.injected == {"rate_limit": 2}


@pytest.mark.parametrize("platform", BOTH)
async def test_revoke_and_purge_forgets_links_but_not_the_ledger(
        make_world: MakeWorld, platform: str) -> None:
    world: World = await make_world((platform,))
    await world.ledger.upsert([MARIA, TILE])
    await world.sync()
    service = SyncService(world.store, actor="ana")
    purged = await service.purge(world.connections[platform])
    assert purged == 2
    assert await world.store.fetch_value("SELECT COUNT(*) FROM sync_links") == 0
    assert await world.store.fetch_value("SELECT COUNT(*) FROM customers") == 1
    audit = await world.store.fetch_one("SELECT actor, command, affected FROM audit")
    assert audit is not None and tuple(audit) == ("ana", "purge", 2)


async def test_a_provider_bug_on_one_record_is_shown_not_fatal(
        make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from providers.quickbooks import QuickBooksProvider

    original = QuickBooksProvider.push

    async def push(self: QuickBooksProvider, request: Any) -> Any:
        if request.record.id == "C-BAD":
            raise KeyError("Id")
        return await original(self, request)

    async def push_batch(self: QuickBooksProvider, requests: Any) -> Any:
        return [await push(self, request) for request in requests]

    monkeypatch.setattr(QuickBooksProvider, "push", push)
    monkeypatch.setattr(QuickBooksProvider, "push_batch", push_batch)
    world: World = await make_world(("quickbooks",))
    world.worker.max_attempts = 2
    await world.ledger.upsert([MARIA, Customer(id="C-BAD", display_name="Odd Record")])
    await world.sync()
    assert (await world.job("quickbooks", "customer", "C-1"))["status"] == "synced"
    bad = await world.job("quickbooks", "customer", "C-BAD")
    assert bad["status"] == "failed"
    assert bad["error_message"] == "syncdesk could not handle this record: KeyError: 'Id'"
