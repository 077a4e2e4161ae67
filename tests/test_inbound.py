"""The way back applied: platform payments, moved payments, contact edits and deletions in
the ledger and sync state, read through a fake platform's feed."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from engine import (
    ChangeKind,
    Entity,
    FeedSettings,
    Ledger,
    Payment,
    Sealer,
    Store,
    SyncService,
    payment_id,
    read_feed,
)
from tests._feedfake import MARIA, T0, FakePlatform, FakeProvider, engine_for, synced


async def feed(store: Store, platform: FakePlatform, connection: int, tenant: str = "A",
               **settings: object) -> None:
    await read_feed(store, connection, platform.providers[tenant], platform="fake",
                    title="Fake", entities=set(Entity),
                    settings=FeedSettings(**settings))  # type: ignore[arg-type]


async def ledger_payment(store: Store, record_id: str) -> Payment:
    found = await Ledger(store).get(Entity.PAYMENT, record_id)
    assert isinstance(found, Payment), record_id
    return found


async def job(store: Store, connection: int, entity: str, record_id: str) -> dict[str, object]:
    row = await store.fetch_one("SELECT * FROM sync_jobs WHERE connection_id = ? AND "
                                "entity = ? AND record_id = ?", (connection, entity, record_id))
    assert row is not None
    return dict(row)


async def notices(store: Store, kind: str) -> list[dict[str, object]]:
    return [dict(r) for r in await store.fetch_all(
        "SELECT * FROM notifications WHERE kind = ? ORDER BY id", (kind,))]


async def test_a_payment_across_two_invoices_is_one_payment_never_pushed_back(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer, "A", "B")
    a = platform.providers["A"]
    a.paid("P-77", "150", ("R-INV-1", "100"), ("R-INV-2", "50"))
    await feed(store, platform, ids["A"])

    record_id = payment_id("fake", ids["A"], "P-77")
    payment = await ledger_payment(store, record_id)
    assert (payment.customer_id, payment.amount) == ("C-1", Decimal("150"))
    assert [(x.invoice_id, x.amount) for x in payment.allocations] == [
        ("INV-1", Decimal("100")), ("INV-2", Decimal("50"))]
    assert (await Ledger(store).balance("INV-1")).due == 0  # type: ignore[union-attr]
    # Synced where it came from, linked to its own object; skipped on the other platform.
    origin = await job(store, ids["A"], "payment", record_id)
    assert origin["status"] == "synced"
    link = await store.fetch_value("SELECT remote_id FROM sync_links WHERE connection_id = ? "
                                   "AND record_id = ?", (ids["A"], record_id))
    assert link == "P-77"
    other = await job(store, ids["B"], "payment", record_id)
    assert other["status"] == "skipped"
    assert "recorded on Fake" in str(other["error_message"])
    await engine_push(store, platform, sealer)
    assert not [p for p in a.pushed + platform.providers["B"].pushed
                if p.entity is Entity.PAYMENT]


async def engine_push(store: Store, platform: FakePlatform, sealer: Sealer,
                      **settings: object) -> None:
    await engine_for(store, platform, sealer, **settings).run(until_idle=True)


async def test_reading_the_same_page_twice_changes_nothing(store: Store,
                                                           sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    a.paid("P-1", "40", ("R-INV-1", "40"))
    a.gone(Entity.INVOICE, "R-INV-3")
    await feed(store, platform, ids["A"])
    before = await snapshot(store)
    # The cursor forgotten: the platform hands the same changes again.
    await store_cursor_reset(store)
    await feed(store, platform, ids["A"])
    assert await snapshot(store) == before
    assert len(await notices(store, "broken_link")) == 1


async def store_cursor_reset(store: Store) -> None:
    async with store.write() as db:
        await db.execute("UPDATE feed_cursors SET cursor = NULL")


async def snapshot(store: Store) -> tuple[object, ...]:
    tables = []
    for sql in ("SELECT id, version, doc FROM payments ORDER BY id",
                "SELECT connection_id, entity, record_id, status, record_version "
                "FROM sync_jobs ORDER BY 1, 2, 3",
                "SELECT * FROM allocations ORDER BY 1, 2, 3",
                "SELECT id FROM notifications", "SELECT * FROM origins"):
        tables.append([tuple(row) for row in await store.fetch_all(sql)])
    return tuple(tables)


async def test_a_payment_moved_on_the_platform_moves_its_allocations(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    a.paid("P-5", "60", ("R-INV-1", "60"))
    await feed(store, platform, ids["A"])
    a.paid("P-5", "60", ("R-INV-2", "40"), ("R-STRANGER", "20"))
    await feed(store, platform, ids["A"])

    payment = await ledger_payment(store, payment_id("fake", ids["A"], "P-5"))
    assert [(x.invoice_id, x.amount) for x in payment.allocations] == [
        ("INV-2", Decimal("40"))]
    assert (await Ledger(store).balance("INV-1")).due == Decimal("100")  # type: ignore[union-attr]
    told = await notices(store, "feed_unmatched")
    assert len(told) == 1
    assert "R-STRANGER (20)" in str(told[0]["message"])

    a.paid("P-5", "60", ("R-STRANGER", "60"))  # moved off every invoice syncdesk knows
    await feed(store, platform, ids["A"])
    payment = await ledger_payment(store, payment_id("fake", ids["A"], "P-5"))
    assert (payment.allocations, payment.unapplied, payment.customer_id) == (
        [], Decimal("60"), "C-1")


async def test_our_own_payment_is_not_imported(store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    a.paid("P-ours", "10", ("R-INV-1", "10"), mark="INV-1")  # a mark, no such payment
    await Ledger(store).upsert([Payment.model_validate({
        "id": "PAY-9", "customer_id": "C-1", "date": "2026-09-02", "amount": "10",
        "allocations": [{"invoice_id": "INV-2", "amount": "10"}]})])
    a.paid("P-mine", "10", ("R-INV-2", "10"), mark="PAY-9")
    await feed(store, platform, ids["A"])
    payments = await store.fetch_all("SELECT id FROM payments ORDER BY id")
    assert [r["id"] for r in payments] == ["PAY-9", payment_id("fake", ids["A"], "P-ours")]


async def test_a_later_contact_edit_wins_and_the_ledgers_values_are_kept(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer, "A", "B")
    edited = await store.fetch_value("SELECT updated_at FROM customers WHERE id = 'C-1'")
    later = T0.replace(year=2030)
    platform.providers["A"].contact("R-C-1", later, display_name="Maria Lopez-Ruiz",
                                    email="maria@lopez.example", phone="(555) 0100",
                                    address_lines=("1 Main St",), city="Austin")
    await feed(store, platform, ids["A"])

    customer = await Ledger(store).get(Entity.CUSTOMER, "C-1")
    assert customer is not None and customer.display_name == "Maria Lopez-Ruiz"
    assert customer.email == "maria@lopez.example"  # type: ignore[union-attr]
    assert customer.phone == "555-0100"  # type: ignore[union-attr]  # same digits: kept
    assert customer.billing_address.city == "Austin"  # type: ignore[union-attr]
    # Synced where it was edited, sent to the other platform.
    assert (await job(store, ids["A"], "customer", "C-1"))["status"] == "synced"
    assert (await job(store, ids["B"], "customer", "C-1"))["status"] == "pending"
    history = await SyncService(store, "ana").record_history(Entity.CUSTOMER, "C-1")
    assert len(history) == 1 and history[0].winner == "platform"
    assert history[0].changes["display_name"] == {"platform": "Maria Lopez-Ruiz",
                                                  "ledger": "Maria Lopez"}
    assert history[0].ledger_at.isoformat() .startswith(str(edited)[:10])


async def test_an_older_contact_edit_loses_and_the_ledger_is_pushed_again(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    older = T0 - timedelta(days=30)
    platform.providers["A"].contact("R-C-1", older, display_name="M. Lopez")
    await feed(store, platform, ids["A"])

    customer = await Ledger(store).get(Entity.CUSTOMER, "C-1")
    assert customer == MARIA.model_copy(update={"classification": customer.classification})  # type: ignore[union-attr]
    assert (await job(store, ids["A"], "customer", "C-1"))["status"] == "pending"
    history = await SyncService(store, "ana").record_history(Entity.CUSTOMER, "C-1")
    assert [(h.winner, h.changes["display_name"]["platform"]) for h in history] == [
        ("ledger", "M. Lopez")]


async def test_a_deletion_on_the_platform_is_a_broken_link_told_once(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    a.gone(Entity.INVOICE, "R-INV-3")
    a.gone(Entity.INVOICE, "R-INV-3", ChangeKind.VOIDED)
    a.gone(Entity.CUSTOMER, "R-SOMEONE-ELSE")
    await feed(store, platform, ids["A"])
    broken = await job(store, ids["A"], "invoice", "INV-3")
    assert (broken["status"], broken["error_message"]) == (
        "broken_link", "invoice INV-3 (R-INV-3) was deleted on Fake")
    told = await notices(store, "broken_link")
    assert [n["title"] for n in told] == ["invoice INV-3 broken link"]
    # Read, then the same page again (a crash before its cursor): not told a second time.
    await SyncService(store, "ana").mark_read()
    await store_cursor_reset(store)
    await feed(store, platform, ids["A"])
    assert len(await notices(store, "broken_link")) == 1


async def test_a_platform_payment_deleted_there_is_deleted_in_the_ledger(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    a.paid("P-8", "30", ("R-INV-1", "30"))
    await feed(store, platform, ids["A"])
    a.gone(Entity.PAYMENT, "P-8")
    await feed(store, platform, ids["A"])
    payment = await ledger_payment(store, payment_id("fake", ids["A"], "P-8"))
    assert payment.status.value == "deleted"
    assert (await Ledger(store).balance("INV-1")).due == Decimal("100")  # type: ignore[union-attr]
    assert (await job(store, ids["A"], "payment", payment.id))["status"] == "synced"


async def test_payments_go_to_the_other_platforms_when_configured(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer, "A", "B")
    platform.providers["A"].paid("P-2", "25", ("R-INV-1", "25"))
    await feed(store, platform, ids["A"], push_payments_to_other_platforms=True)
    record_id = payment_id("fake", ids["A"], "P-2")
    assert (await job(store, ids["B"], "payment", record_id))["status"] == "pending"
    await engine_push(store, platform, sealer,
                      feed=FeedSettings(push_payments_to_other_platforms=True))
    assert [p.record.id for p in platform.providers["B"].pushed
            if p.entity is Entity.PAYMENT] == [record_id]
    assert not [p for p in platform.providers["A"].pushed if p.entity is Entity.PAYMENT]


async def test_a_payment_the_ledger_refuses_is_told_and_the_feed_goes_on(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    a.paid("P-big", "500", ("R-INV-1", "500"))  # more than the invoice's 100
    a.paid("P-ok", "10", ("R-INV-2", "10"))
    await feed(store, platform, ids["A"])
    told = await notices(store, "feed_rejected")
    assert len(told) == 1 and "past its total" in str(told[0]["message"])
    assert await Ledger(store).get(Entity.PAYMENT, payment_id("fake", ids["A"], "P-ok"))
    history = json.dumps([dict(r) for r in await store.fetch_all("SELECT * FROM payments")])
    assert "P-big" not in history
    assert isinstance(a, FakeProvider)


async def test_two_platforms_writing_a_value_their_own_way_do_not_trade_it_for_ever(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer, "A", "B")
    a, b = platform.providers["A"], platform.providers["B"]
    address = {"display_name": "Maria Lopez", "address_lines": ("1 Main St",)}
    later = T0.replace(year=2030)
    a.contact("R-C-1", later, country="US", **address)  # a person's edit on A
    await feed(store, platform, ids["A"])
    b.contact("R-C-1", later + timedelta(minutes=1), country="United States", **address)
    await feed(store, platform, ids["B"], "B")  # B's echo of our push, in B's words
    a.contact("R-C-1", later + timedelta(minutes=2), country="US", **address)
    await feed(store, platform, ids["A"])  # A's echo of that, back in A's words

    customer = await Ledger(store).get(Entity.CUSTOMER, "C-1")
    assert customer.billing_address.country == "United States"  # type: ignore[union-attr]
    history = await SyncService(store, "ana").record_history(Entity.CUSTOMER, "C-1")
    assert [h.platform for h in history] == ["fake", "fake"]
    assert [h.connection_id for h in history] == [ids["A"], ids["B"]]


async def test_a_connection_added_later_is_not_sent_the_platform_payments_either(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    platform.providers["A"].paid("P-3", "20", ("R-INV-1", "20"))
    await feed(store, platform, ids["A"])
    later = await platform.connect(store, sealer, "C")  # queues every record for it
    await engine_push(store, platform, sealer)
    record_id = payment_id("fake", ids["A"], "P-3")
    skipped = await job(store, later, "payment", record_id)
    assert (skipped["status"], skipped["error_message"]) == (
        "skipped", "recorded on another platform: payments made on one platform are not "
        "sent to the others unless [feed] push_payments_to_other_platforms = true (a retry "
        "sends it)")
    assert (await job(store, later, "invoice", "INV-1"))["status"] == "synced"
    assert not [p for p in platform.providers["C"].pushed if p.entity is Entity.PAYMENT]


async def test_the_echo_of_a_void_syncdesk_sent_is_no_broken_link(store: Store,
                                                                   sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    await Ledger(store).void(Entity.INVOICE, "INV-3")
    await engine_push(store, platform, sealer)
    platform.providers["A"].gone(Entity.INVOICE, "R-INV-3", ChangeKind.VOIDED)
    await feed(store, platform, ids["A"])
    assert (await job(store, ids["A"], "invoice", "INV-3"))["status"] == "synced"
    assert await notices(store, "broken_link") == []


async def test_one_of_the_platform_payments_a_split_payment_became_is_ours(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    await Ledger(store).upsert([Payment.model_validate({
        "id": "PAY-2", "customer_id": "C-1", "date": "2026-09-02", "amount": "30",
        "allocations": [{"invoice_id": "INV-1", "amount": "10"},
                        {"invoice_id": "INV-2", "amount": "20"}]})])
    await engine_push(store, platform, sealer)
    async with store.write() as db:  # as FreshBooks links it: one platform payment each
        await db.execute("UPDATE sync_links SET remote_id = 'FB-1,FB-2' "
                         "WHERE record_id = 'PAY-2'")
    platform.providers["A"].paid("FB-2", "20", ("R-INV-2", "20"))  # no mark on it
    platform.providers["A"].paid("FB-22", "5", ("R-INV-3", "5"))  # a stranger's, alike
    await feed(store, platform, ids["A"])
    payments = await store.fetch_all("SELECT id FROM payments ORDER BY id")
    assert [r["id"] for r in payments] == ["PAY-2", payment_id("fake", ids["A"], "FB-22")]
