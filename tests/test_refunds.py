"""Refunds of credit notes in the ledger: within the unapplied credit, kept as history once
the credit note is void, imported from CSV `refund_` columns."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine import Customer, Ledger, Store, parse_file
from engine._models import CreditNote, EntryStatus, Invoice
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
