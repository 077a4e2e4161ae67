"""Refunds of credit notes in the ledger: within the unapplied credit, kept as history once
the credit note is void, imported from CSV `refund_` columns."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine import Customer, Item, Ledger, Store, parse_file
from engine._models import CreditNote, EntryStatus, Invoice
from tests._world import World
from tests.test_ledger import connect, jobs

CUSTOMER = Customer(id="C-1", display_name="Maria Lopez")


def credit_note(*, refunds: list[str], allocated: str | None = None,
                status: str = "active") -> CreditNote:
    return CreditNote.model_validate({
        "id": "CN-1", "number": "CN-1", "customer_id": "C-1", "date": "2026-09-03",
        "status": status, "lines": [{"description": "Returned tiles", "unit_price": "50.00"}],
        "allocations": [{"invoice_id": "INV-1", "amount": allocated}] if allocated else [],
        "refunds": [{"amount": a, "date": "2026-09-04", "method": "check"} for a in refunds],
    })


def test_refunds_and_allocations_stay_within_the_credit() -> None:
    note = credit_note(refunds=["20.00", "10.00"], allocated="20.00")
    assert (note.refunded, note.allocated) == (Decimal("30.00"), Decimal("20.00"))
    with pytest.raises(ValueError, match=r"allocations \(20.00\) and refunds \(30.01\) add up "
                                         r"to 50.01, more than the credit note's 50.00"):
        credit_note(refunds=["20.00", "10.01"], allocated="20.00")
    with pytest.raises(ValueError, match="greater than zero"):
        credit_note(refunds=["0"])
    with pytest.raises(ValueError, match="refund amount"):
        credit_note(refunds=["1.005"])


def test_a_void_credit_note_refunds_nothing_but_keeps_them() -> None:
    note = credit_note(refunds=["20.00"], status="void")
    assert note.status is EntryStatus.VOID
    assert (note.live_refunds, note.refunded) == ([], Decimal("20.00"))
    assert credit_note(refunds=["20.00"]).live_refunds == note.refunds


async def test_the_ledger_refuses_a_refund_beyond_the_credit_and_queues_an_added_one(
        store: Store) -> None:
    await connect(store, "xero")
    ledger = Ledger(store)
    invoice = Invoice.model_validate({
        "id": "INV-1", "number": "INV-1", "customer_id": "C-1", "issue_date": "2026-09-01",
        "status": "sent", "lines": [{"description": "Tiles", "unit_price": "100.00"}]})
    await ledger.upsert([CUSTOMER, invoice, credit_note(refunds=[], allocated="30.00")])
    # A refund beyond the credit never reaches the ledger: the record itself is refused.
    with pytest.raises(ValueError, match=r"and refunds \(25.00\) add up to 55.00"):
        credit_note(refunds=["25.00"], allocated="30.00")
    await ledger.upsert([credit_note(refunds=["20.00"], allocated="30.00")])
    assert ("credit_note", "CN-1", "pending", 2) in await jobs(store)


def test_csv_refund_columns_fill_refunds(tmp_path: Path) -> None:
    path = tmp_path / "credit_notes.csv"
    path.write_text(
        "id,number,customer_id,date,line_description,line_unit_price,refund_amount,"
        "refund_date,refund_method\n"
        "CN-1,CN-1,C-1,2026-09-03,Returned tiles,50.00,20.00,2026-09-04,check\n"
        "CN-1,CN-1,C-1,2026-09-03,,,5.00,2026-09-05,cash\n")
    parsed = parse_file(path)
    assert parsed.problems == []
    [note] = parsed.records
    assert isinstance(note, CreditNote)
    assert [(r.amount, r.method) for r in note.refunds] == [
        (Decimal("20.00"), "check"), (Decimal("5.00"), "cash")]
    assert len(note.lines) == 1


async def test_through_the_engine_a_refund_lands_once_on_xero_and_is_skipped_elsewhere(
        make_world: Callable[..., Any]) -> None:
    world: World = await make_world(("quickbooks", "xero", "wave", "freshbooks"))
    returned = Item(id="TILE", sku="TILE", name="Tile", unit_price=Decimal(50),
                    income_accounts={"xero": "200", "quickbooks": "79"})
    note = CreditNote.model_validate({
        "id": "CN-9", "number": "CN-9", "customer_id": "C-1", "date": "2026-09-03",
        "lines": [{"item_id": "TILE", "unit_price": "50.00"}],
        "refunds": [{"amount": "20.00", "date": "2026-09-04", "method": "check",
                     "reference": "CHK 88"}]})
    await world.ledger.upsert([CUSTOMER, returned, note])
    # Xero's answer to the refund is lost after it was made: the retry finds it by its mark.
    await world.sandbox("xero", "POST", "/_sandbox/faults",
                        json={"kind": "drop", "method": "PUT", "path_contains": "/Payments"})
    await world.sync()
    job = await world.job("xero", "credit_note", "CN-9")
    assert job["status"] == "synced", job
    attempts = await world.store.fetch_all(
        "SELECT outcome, message FROM sync_attempts WHERE job_id = ? ORDER BY id", (job["id"],))
    assert [a["outcome"] for a in attempts] == ["retry", "reconciled"]
    assert "PUT /Payments" in attempts[0]["message"]
    company = world.apps["xero"].state.company
    refunds = [p for p in company.payments.values() if "CreditNote" in p]
    assert [(p["Amount"], p["Reference"]) for p in refunds] == [
        (Decimal(20), "CHK 88 syncdesk:CN-9/refund/1")]
    [stored] = company.credit_notes.values()
    assert stored["RemainingCredit"] == Decimal(30)
    for platform, reason in (("quickbooks", "cannot be tied to a credit memo"),
                             ("freshbooks", "no refund of a credit note")):
        job = await world.job(platform, "credit_note", "CN-9")
        assert job["status"] == "skipped", (platform, job)
        assert "refund 1: 20.00 on 2026-09-04 by check (CHK 88)" in job["error_message"]
        assert reason in job["error_message"], (platform, job["error_message"])
    # Wave takes no credit note at all: the engine skips it with Wave's reason, unsent.
    job = await world.job("wave", "credit_note", "CN-9")
    assert (job["status"], job["error_message"]) == (
        "skipped", "Wave's public API has no credit notes — record the credit in Wave")
    assert (await world.remote_counts("quickbooks")).get("credit_note", 0) == 0
