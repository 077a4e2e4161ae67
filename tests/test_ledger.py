"""The ledger and its outbox: upserts, references, all-or-nothing, coalescing, derived paid."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from engine import (
    Customer,
    InputError,
    Invoice,
    Item,
    Ledger,
    NewConnection,
    Payment,
    Sealer,
    Store,
    TokenSet,
    add_connection,
)
from engine._models import CreditNote, Entity
from engine._time import utcnow

CUSTOMER = Customer(id="C-1", display_name="Maria Lopez", email="maria@example.com")
ITEM = Item(id="TILE", sku="TILE", name="Tile", unit_price=Decimal("12.50"))


def invoice(status: str = "sent", number: str = "INV-1", total: str = "100.00",
            record_id: str = "INV-1") -> Invoice:
    return Invoice.model_validate({
        "id": record_id, "number": number, "customer_id": "C-1", "issue_date": "2026-09-01",
        "status": status, "lines": [{"item_id": "TILE", "quantity": "1", "unit_price": total}],
    })


def payment(amount: str, allocations: list[tuple[str, str]], record_id: str = "P-1") -> Payment:
    return Payment.model_validate({
        "id": record_id, "customer_id": "C-1", "date": "2026-09-02", "amount": amount,
        "allocations": [{"invoice_id": i, "amount": a} for i, a in allocations],
    })


async def connect(store: Store, platform: str = "quickbooks",
                  unsupported: dict[Entity, str] | None = None) -> int:
    tokens = TokenSet("access", "refresh", utcnow())
    return await add_connection(store, NewConnection(platform, f"{platform}-tenant", "Tenant",
                                                     tokens, unsupported=unsupported),
                                Sealer(Fernet.generate_key()))


async def jobs(store: Store) -> list[tuple[str, str, str, int]]:
    rows = await store.fetch_all(
        "SELECT entity, record_id, status, record_version FROM sync_jobs ORDER BY id")
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def test_every_change_queues_one_job_per_connection_in_the_same_transaction(
        store: Store) -> None:
    await connect(store, "quickbooks")
    await connect(store, "xero")
    result = await Ledger(store).upsert([CUSTOMER, ITEM, invoice()])
    assert (result.created, result.jobs_queued) == (3, 6)
    assert await store.fetch_value("SELECT COUNT(*) FROM sync_jobs") == 6


async def test_a_pending_job_is_coalesced_not_duplicated(store: Store) -> None:
    await connect(store)
    ledger = Ledger(store)
    await ledger.upsert([CUSTOMER])
    for name in ("Maria L.", "Maria Lopez-Diaz", "Maria"):
        await ledger.upsert([CUSTOMER.model_copy(update={"display_name": name})])
    assert await jobs(store) == [("customer", "C-1", "pending", 4)]


async def test_an_unchanged_record_queues_nothing(store: Store) -> None:
    await connect(store)
    ledger = Ledger(store)
    await ledger.upsert([CUSTOMER, ITEM])
    await store.fetch_value("SELECT 1")
    again = await ledger.upsert([CUSTOMER, ITEM])
    assert (again.unchanged, again.jobs_queued) == (2, 0)


async def test_drafts_queue_nothing_and_sending_queues_the_invoice(store: Store) -> None:
    await connect(store)
    ledger = Ledger(store)
    await ledger.upsert([CUSTOMER, ITEM, invoice(status="draft")])
    assert ("invoice", "INV-1") not in [(e, r) for e, r, *_ in await jobs(store)]
    await ledger.upsert([invoice(status="sent")])
    assert ("invoice", "INV-1", "pending", 2) in await jobs(store)


async def test_a_draft_voided_before_sending_queues_nothing(store: Store) -> None:
    await connect(store)
    ledger = Ledger(store)
    await ledger.upsert([CUSTOMER, ITEM, invoice(status="draft")])
    await ledger.upsert([invoice(status="void")])
    assert all(entity != "invoice" for entity, *_ in await jobs(store))


async def test_unsupported_entities_are_queued_as_visibly_skipped(store: Store) -> None:
    await connect(store, "wave", {Entity.PAYMENT: "Wave's public API cannot apply payments"})
    await Ledger(store).upsert([CUSTOMER, ITEM, invoice(), payment("100.00", [("INV-1", "100")])])
    row = await store.fetch_one("SELECT status, error_class, error_message FROM sync_jobs "
                                "WHERE entity = 'payment'")
    assert row is not None
    assert tuple(row) == ("skipped", "unsupported", "Wave's public API cannot apply payments")


async def test_paid_and_balance_are_sums_of_payments(store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert([CUSTOMER, ITEM, invoice(total="100.00"),
                         payment("30.00", [("INV-1", "30.00")], "P-1"),
                         payment("45.50", [("INV-1", "45.50")], "P-2")])
    balance = await ledger.balance("INV-1")
    assert balance is not None
    assert (balance.paid, balance.due) == (Decimal("75.50"), Decimal("24.50"))
    await ledger.upsert([payment("20.00", [("INV-1", "20.00")], "P-2")])  # P-2 corrected
    balance = await ledger.balance("INV-1")
    assert balance is not None and balance.paid == Decimal("50.00")


async def test_split_and_overpayment_and_credit_notes(store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert([CUSTOMER, ITEM, invoice(number="INV-1", record_id="INV-1"),
                         invoice(number="INV-2", record_id="INV-2"),
                         payment("250.00", [("INV-1", "100.00"), ("INV-2", "60.00")])])
    credit = CreditNote.model_validate({
        "id": "CN-1", "number": "CN-1", "customer_id": "C-1", "date": "2026-09-03",
        "lines": [{"description": "refund", "unit_price": "40"}],
        "allocations": [{"invoice_id": "INV-2", "amount": "40"}]})
    await ledger.upsert([credit])
    first, second = await ledger.balance("INV-1"), await ledger.balance("INV-2")
    assert first is not None and first.due == 0
    assert second is not None and (second.paid, second.credited, second.due) == (
        Decimal("60.00"), Decimal("40.00"), Decimal("0.00"))


async def test_overpaying_an_invoice_is_rejected_with_the_numbers(store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert([CUSTOMER, ITEM, invoice(total="100.00"),
                         payment("80.00", [("INV-1", "80.00")], "P-1")])
    with pytest.raises(InputError, match=r"past its total \(100.00, already paid or credited "
                                         r"80.00\)"):
        await ledger.upsert([payment("30.00", [("INV-1", "30.00")], "P-2")])


async def test_a_bad_record_rolls_back_the_whole_batch(store: Store) -> None:
    orphan = invoice(record_id="INV-9", number="INV-9").model_copy(
        update={"customer_id": "C-404"})
    with pytest.raises(InputError, match="invoice INV-9: customer_id: no customer 'C-404'"):
        await Ledger(store).upsert([CUSTOMER, ITEM, invoice(), orphan])
    assert await store.fetch_value("SELECT COUNT(*) FROM customers") == 0


async def test_partial_keeps_the_good_records_and_reports_the_bad(store: Store) -> None:
    orphan = invoice(record_id="INV-9", number="INV-9").model_copy(
        update={"customer_id": "C-404"})
    result = await Ledger(store).upsert([CUSTOMER, ITEM, invoice(), orphan], partial=True)
    assert result.created == 3
    assert [str(r) for r in result.rejected] == [
        "invoice INV-9: customer_id: no customer 'C-404' in the file or store"]


async def test_a_duplicate_number_names_the_field(store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert([CUSTOMER, ITEM, invoice()])
    with pytest.raises(InputError, match="number: 'INV-1' is already used by another invoice"):
        await ledger.upsert([invoice(record_id="INV-OTHER", number="INV-1")])


async def test_a_new_connection_queues_every_record_for_its_first_sync(store: Store) -> None:
    await Ledger(store).upsert([CUSTOMER, ITEM, invoice(), invoice("draft", "D-1", "5", "D-1")])
    await connect(store)
    assert sorted(r for _, r, *_ in await jobs(store)) == ["C-1", "INV-1", "TILE"]
