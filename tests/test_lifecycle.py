"""The ledger's lifecycle: void and delete for invoices, payments and credit notes; an invoice
with payments applied is voided only when they are taken off it first, and each platform gets
those changes before the void."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from console.cli import main
from engine import (
    CreditNote,
    Entity,
    EntryStatus,
    InputError,
    Invoice,
    InvoiceStatus,
    Ledger,
    Payment,
    Store,
)
from tests.test_engine import MARIA, TILE, invoice, payment, statuses

MakeWorld = Callable[..., Any]


def credit_note(record_id: str, amount: str, invoice_id: str) -> CreditNote:
    return CreditNote.model_validate({
        "id": record_id, "number": record_id, "customer_id": "C-1", "date": "2026-09-06",
        "lines": [{"description": "goodwill", "unit_price": amount}],
        "allocations": [{"invoice_id": invoice_id, "amount": amount}]})


PAID = [MARIA, TILE, invoice("INV-1"), payment("P-1", "30", ("INV-1", "30")),
        credit_note("CN-1", "5", "INV-1")]


async def job_rows(store: Store, entity: Entity, record_id: str) -> list[Any]:
    return await store.fetch_all(
        "SELECT operation, status FROM sync_jobs WHERE entity = ? AND record_id = ?",
        (entity.value, record_id))


async def test_voiding_an_invoice_with_payments_applied_names_them_and_changes_nothing(
        store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert(PAID)
    with pytest.raises(InputError) as refused:
        await ledger.void(Entity.INVOICE, "INV-1")
    message = str(refused.value)
    assert "payment P-1 (30.00 USD)" in message
    assert "credit note CN-1 (5.00 USD)" in message
    assert "nothing was changed" in message and "--unapply" in message
    stored = await ledger.get(Entity.INVOICE, "INV-1")
    assert isinstance(stored, Invoice) and stored.status is InvoiceStatus.SENT
    balance = await ledger.balance("INV-1")
    assert balance is not None and (balance.paid, balance.credited) == (30, 5)


async def test_an_upsert_cannot_void_a_paid_invoice_either(store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert(PAID)
    voided = invoice("INV-1", status="void")
    with pytest.raises(InputError, match=r"cannot void invoice INV-1: payment P-1"):
        await ledger.upsert([voided])


async def test_unapply_takes_them_off_then_voids(store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert(PAID)
    done = await ledger.void(Entity.INVOICE, "INV-1", unapply=True)
    assert [str(entry) for entry in done.unapplied] == ["payment P-1 (30.00 USD)",
                                                        "credit note CN-1 (5.00 USD)"]
    assert done.changed == ["payment P-1", "credit note CN-1", "invoice INV-1"]
    paid = await ledger.get(Entity.PAYMENT, "P-1")
    assert isinstance(paid, Payment) and paid.allocations == [] and paid.unapplied == 30
    balance = await ledger.balance("INV-1")
    assert balance is not None and (balance.paid, balance.credited) == (0, 0)
    stored = await ledger.get(Entity.INVOICE, "INV-1")
    assert isinstance(stored, Invoice) and stored.status is InvoiceStatus.VOID


async def test_a_voided_payment_pays_nothing_and_keeps_its_allocations_as_history(
        store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert(PAID)
    await ledger.void(Entity.PAYMENT, "P-1")
    voided = await ledger.get(Entity.PAYMENT, "P-1")
    assert isinstance(voided, Payment) and voided.status is EntryStatus.VOID
    assert [a.invoice_id for a in voided.allocations] == ["INV-1"]
    balance = await ledger.balance("INV-1")
    assert balance is not None and balance.paid == 0 and balance.due == Decimal("45.00")
    # The money is free again: another payment can take the whole invoice.
    await ledger.upsert([payment("P-2", "45", ("INV-1", "45"))])


async def test_deleting_a_draft_that_never_left_removes_it(store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert([MARIA, TILE, invoice("INV-9", status="draft")])
    done = await ledger.void(Entity.INVOICE, "INV-9", delete=True)
    assert done.removed
    assert await ledger.get(Entity.INVOICE, "INV-9") is None


async def test_deleting_a_sent_invoice_voids_it_and_deleting_a_payment_keeps_a_tombstone(
        store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert([MARIA, TILE, invoice("INV-2"), payment("P-9", "10", ("INV-2", "10"))])
    await ledger.void(Entity.PAYMENT, "P-9", delete=True)
    gone = await ledger.get(Entity.PAYMENT, "P-9")
    assert isinstance(gone, Payment) and gone.status is EntryStatus.DELETED
    done = await ledger.void(Entity.INVOICE, "INV-2", delete=True)
    assert not done.removed and done.changed == ["invoice INV-2"]
    stored = await ledger.get(Entity.INVOICE, "INV-2")
    assert isinstance(stored, Invoice) and stored.status is InvoiceStatus.VOID


async def test_customers_and_items_are_changed_not_voided(store: Store) -> None:
    ledger = Ledger(store)
    await ledger.upsert([MARIA])
    with pytest.raises(InputError, match="customer cannot be voided"):
        await ledger.void(Entity.CUSTOMER, "C-1")
    with pytest.raises(InputError, match="no payment 'P-404'"):
        await ledger.void(Entity.PAYMENT, "P-404")


async def test_ending_what_never_reached_a_platform_sends_nothing_and_says_so(
        make_world: MakeWorld) -> None:
    world = await make_world(("quickbooks",))
    await world.ledger.upsert([MARIA, TILE, invoice("INV-1"),
                               payment("P-1", "10", ("INV-1", "10"))])
    await world.ledger.void(Entity.PAYMENT, "P-1")
    await world.sync()
    assert (await statuses(world, "quickbooks"))[("payment", "P-1")] == "synced"
    assert (await world.remote_counts("quickbooks")).get("Payment", 0) == 0
    history = await world.store.fetch_all(
        "SELECT a.outcome, a.message FROM sync_attempts a JOIN sync_jobs j ON j.id = a.job_id "
        "WHERE j.entity = 'payment' AND j.record_id = 'P-1'")
    assert [(row["outcome"], row["message"]) for row in history] == [
        ("nothing_to_send", "voided before it reached QuickBooks Online: nothing to void there")]


async def test_unapply_reaches_the_platform_before_the_void(make_world: MakeWorld) -> None:
    world = await make_world(("quickbooks",))
    await world.ledger.upsert([MARIA, TILE, invoice("INV-1"),
                               payment("P-1", "30", ("INV-1", "30"))])
    await world.sync()
    await world.ledger.void(Entity.INVOICE, "INV-1", unapply=True)
    await world.sync()
    done = await statuses(world, "quickbooks")
    assert done[("payment", "P-1")] == "synced" and done[("invoice", "INV-1")] == "synced"
    rows = await world.store.fetch_all(
        "SELECT j.entity, a.operation, a.outcome FROM sync_attempts a "
        "JOIN sync_jobs j ON j.id = a.job_id ORDER BY a.id")
    sent = [(row["entity"], row["operation"]) for row in rows if row["outcome"] == "synced"]
    assert sent[-2:] == [("payment", "update"), ("invoice", "void")]


def test_the_command_line_refuses_then_unapplies_and_audits(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ledger.db"

    async def seed() -> None:
        store = await Store.open(db)
        await Ledger(store).upsert(PAID)
        await store.close()

    asyncio.run(seed())
    assert main(["void", "invoice", "INV-1", "--db", str(db)]) == 2
    refused = capsys.readouterr().err
    assert "payment P-1 (30.00 USD)" in refused and "nothing was changed" in refused
    assert main(["void", "invoice", "INV-1", "--unapply", "--json", "--db", str(db)]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["changed"] == ["payment P-1", "credit note CN-1", "invoice INV-1"]
    assert main(["delete", "payment", "P-1", "--db", str(db)]) == 0
    assert "changed payment P-1" in capsys.readouterr().out

    async def audited() -> list[str]:
        store = await Store.open(db)
        rows = await store.fetch_all("SELECT command FROM audit ORDER BY id")
        await store.close()
        return [row["command"] for row in rows]

    assert asyncio.run(audited()) == ["void", "delete"]
