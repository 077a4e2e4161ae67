"""Refunds of credit notes on Xero: each a Payment of the credit note (ARCREDITPAYMENT) from
the deposit account, made once — also after a lost answer — and compared with the ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from test_xero_lifecycle import ALICE, DAY, Books, books, invoice, sent

from engine import (
    Allocation,
    ConnectionSettings,
    CreditNote,
    Entity,
    Line,
    Operation,
    Refund,
    RemoteRef,
    TotalMismatch,
    Transient,
    Validation,
)
from providers.xero import PLATFORM
from tests.providers._support import Recording, SandboxTokens

__all__ = ["books"]  # the fixture, shared with the lifecycle tests


def note(*refunds: tuple[str, str | None], allocated: str | None = None) -> CreditNote:
    return CreditNote(
        id="cn-r1", number="CN-R1", customer_id=ALICE.id, date=DAY,
        lines=[Line(description="Returned tiles", unit_price=Decimal(50))],
        allocations=[Allocation(invoice_id="inv-R-1", amount=Decimal(allocated))]
        if allocated else [],
        refunds=[Refund(amount=Decimal(a), date=DAY, method="check", reference=r)
                 for a, r in refunds])


def refunds_of(app: Starlette, ref: RemoteRef) -> list[dict[str, Any]]:
    return [p for p in app.state.company.payments.values()
            if (p.get("CreditNote") or {}).get("CreditNoteID") == ref.remote_id
            and p["Status"] != "DELETED"]


def remaining(app: Starlette, ref: RemoteRef) -> Decimal:
    return Decimal(app.state.company.credit_notes[ref.remote_id]["RemainingCredit"])


async def test_a_refund_lands_once_as_a_payment_of_the_credit_note(
        books: Books, app: Starlette, recording: Recording) -> None:
    await books.push(Entity.INVOICE, invoice("R-1"))
    ref = await books.push(Entity.CREDIT_NOTE, note(("20", "chq 12"), allocated="20"))
    [refund] = refunds_of(app, ref)
    assert (refund["Amount"], refund["Account"]["Code"], refund["PaymentType"]) == (
        Decimal(20), "090", "ARCREDITPAYMENT")
    assert refund["Reference"] == "chq 12 syncdesk:cn-r1/refund/1"
    assert remaining(app, ref) == Decimal(10)
    [body] = sent(recording, "PUT", "/Payments")
    assert body["Payments"][0]["CreditNote"] == {"CreditNoteID": ref.remote_id}
    # Pushed again (a retry, an update): the refund is there by its mark, nothing is sent.
    await books.push(Entity.CREDIT_NOTE, note(("20", "chq 12"), allocated="20"),
                     Operation.UPDATE, key="k-again")
    assert len(sent(recording, "PUT", "/Payments")) == 1
    # A refund appended later is the one sent; the note's credit is then all used.
    await books.push(Entity.CREDIT_NOTE, note(("20", "chq 12"), ("10", None), allocated="20"),
                     Operation.UPDATE, key="k-second")
    assert sorted(p["Amount"] for p in refunds_of(app, ref)) == [Decimal(10), Decimal(20)]
    assert remaining(app, ref) == Decimal(0)
    assert app.state.company.credit_notes[ref.remote_id]["Status"] == "PAID"


async def test_a_lost_refund_answer_is_found_by_its_mark_not_sent_twice(
        books: Books, app: Starlette, control: httpx.AsyncClient) -> None:
    record = note(("30", None))
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "PUT",
                                                 "path_contains": "/Payments"})
    with pytest.raises(Transient):
        await books.push(Entity.CREDIT_NOTE, record)
    found = await books.provider.find(Entity.CREDIT_NOTE, record)
    assert found is not None
    assert [p["Amount"] for p in refunds_of(app, found)] == [Decimal(30)]
    # A refund is part of its credit note, never a payment of its own.
    marks = (await control.get("/_sandbox/marks")).json()
    assert "cn-r1/refund/1" not in str(marks)


async def test_a_credit_note_whose_answer_was_lost_gets_its_refunds_from_the_lookup(
        books: Books, app: Starlette, control: httpx.AsyncClient) -> None:
    record = note(("30", None))
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "PUT",
                                                 "path_contains": "/CreditNotes"})
    with pytest.raises(Transient):
        await books.push(Entity.CREDIT_NOTE, record)
    found = await books.provider.find(Entity.CREDIT_NOTE, record)
    assert found is not None
    assert [p["Amount"] for p in refunds_of(app, found)] == [Decimal(30)]
    assert await books.provider.find(Entity.CREDIT_NOTE, record) == found
    assert len(refunds_of(app, found)) == 1


async def test_what_xero_holds_as_refunded_is_compared_with_the_ledger(
        books: Books, app: Starlette) -> None:
    ref = await books.push(Entity.CREDIT_NOTE, note(("20", None)))
    # The ledger no longer has the refund Xero holds: a visible difference, linked.
    with pytest.raises(TotalMismatch, match=r"Xero's refunds of credit note CN-R1 add up to "
                                            r"20\.00, the ledger's to 0\.00") as caught:
        await books.push(Entity.CREDIT_NOTE, note(), Operation.UPDATE, key="k-fewer")
    assert caught.value.ref == ref
    # A refund Xero refuses (more than the credit left there) is named in the difference.
    other = await books.push(Entity.INVOICE, invoice("R-2"))
    company = app.state.company
    company.allocate(company.credit_notes[ref.remote_id],
                     {"Invoice": {"InvoiceID": other.remote_id}, "Amount": 25})
    with pytest.raises(TotalMismatch, match=r"add up to 20.00, the ledger's to 40.00; refund 2 "
                                            r"refused: Payment amount exceeds"):
        await books.push(Entity.CREDIT_NOTE, note(("20", None), ("20", None)),
                         Operation.UPDATE, key="k-more")


async def test_a_refunded_credit_note_cannot_be_voided_on_xero(books: Books) -> None:
    record = note(("20", "chq 9"))
    await books.push(Entity.CREDIT_NOTE, record)
    with pytest.raises(Validation, match=r"payment 20.00 \(Reference 'chq 9 syncdesk:cn-r1/"):
        await books.push(Entity.CREDIT_NOTE, record, Operation.VOID)


async def test_a_lookup_before_any_push_does_not_guess_the_refunds_account(
        books: Books, app: Starlette, control: httpx.AsyncClient,
        settings: ConnectionSettings, tokens: SandboxTokens) -> None:
    record = note(("30", None))
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "PUT",
                                                 "path_contains": "/CreditNotes"})
    with pytest.raises(Transient):
        await books.push(Entity.CREDIT_NOTE, record)
    fresh = PLATFORM.provider(settings, tokens)  # as after a restart: no mappings seen
    try:
        with pytest.raises(Transient, match="has not read the connection's deposit account"):
            await fresh.find(Entity.CREDIT_NOTE, record)
        await fresh.push(books.request(Entity.CUSTOMER, ALICE, Operation.UPDATE, key="k-c"))
        found = await fresh.find(Entity.CREDIT_NOTE, record)
    finally:
        await fresh.aclose()
    assert found is not None
    assert [p["Amount"] for p in refunds_of(app, found)] == [Decimal(30)]
