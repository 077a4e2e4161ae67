"""`GET /_sandbox/marks`: per local record, how many QuickBooks objects carry syncdesk's mark.

The duplicate audit of the chaos harness reads it: 1 is one copy, absent is missing, 2+ is a
duplicate. The demo company's own customer and invoice carry no mark and are never listed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from engine import Allocation, CreditNote, Entity, Line, Operation, Payment
from providers.quickbooks import QuickBooksProvider
from tests.providers._support import Ledger

from .conftest import customer, invoice, item

PAYMENT = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal(200),
                  allocations=[Allocation(invoice_id="inv1", amount=Decimal(100)),
                               Allocation(invoice_id="inv2", amount=Decimal(100))])
NOTE = CreditNote(id="cn1", number="CN-1", customer_id="c1", date=date(2026, 2, 2),
                  lines=[Line(description="Goodwill", unit_price=Decimal(50))],
                  allocations=[Allocation(invoice_id="inv1", amount=Decimal(30))])


async def marks(control: httpx.AsyncClient) -> dict[str, Any]:
    response = await control.get("/_sandbox/marks")
    assert response.status_code == 200
    return dict(response.json())


async def test_each_record_pushed_once_counts_once(provider: QuickBooksProvider,
                                                   ledger: Ledger,
                                                   control: httpx.AsyncClient) -> None:
    assert (await marks(control))["marks"] == {
        "customer": {}, "item": {}, "invoice": {}, "payment": {}, "credit_note": {}}
    await ledger.push(provider, Entity.CUSTOMER, customer())
    await ledger.push(provider, Entity.ITEM, item())
    await ledger.push(provider, Entity.INVOICE, invoice())
    await ledger.push(provider, Entity.INVOICE, invoice("inv2", "SD-1002"))
    await ledger.push(provider, Entity.PAYMENT, PAYMENT)
    await ledger.push(provider, Entity.CREDIT_NOTE, NOTE)

    report = await marks(control)
    assert report["marks"] == {
        "customer": {"c1": 1}, "item": {"i1": 1}, "invoice": {"inv1": 1, "inv2": 1},
        "payment": {"p1": 1}, "credit_note": {"cn1": 1}, "credit_note_payment": {"cn1": 1}}
    assert report["parts"] == {"payment": {"p1": {"inv1": 1, "inv2": 1}},
                               "credit_note_payment": {"cn1": {"inv1": 1}}}


async def test_a_second_copy_counts_two_and_a_void_still_counts(
        provider: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient) -> None:
    await ledger.push(provider, Entity.CUSTOMER, customer())
    await ledger.push(provider, Entity.ITEM, item())
    first = await ledger.push(provider, Entity.INVOICE, invoice())
    # A fresh key is what a replay after the key window amounts to: a second invoice.
    # (The first copy's number must be freed for QuickBooks to take the second.)
    await provider.push(ledger.request(Entity.INVOICE, invoice(number="SD-1001-B"), key="k-2"))
    assert (await marks(control))["marks"]["invoice"] == {"inv1": 2}

    await provider.push(ledger.request(Entity.INVOICE, invoice(), operation=Operation.VOID,
                                       link=first, key="k-void"))
    assert (await marks(control))["marks"]["invoice"] == {"inv1": 2}
    deleted = await control.post("/_sandbox/delete", json={"entity": "invoice",
                                                           "id": first.remote_id})
    assert deleted.status_code == 200
    assert (await marks(control))["marks"]["invoice"] == {"inv1": 1}


async def test_an_invoice_syncdesk_did_not_mark_is_named_by_its_remote_id(
        provider: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        app: Any) -> None:
    await ledger.push(provider, Entity.CUSTOMER, customer())
    await ledger.push(provider, Entity.ITEM, item())
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    app.state.company.objects["Invoice"][ref.remote_id]["PrivateNote"] = "typed by a person"
    await ledger.push(provider, Entity.PAYMENT, PAYMENT.model_copy(update={
        "amount": Decimal(100), "allocations": PAYMENT.allocations[:1]}))
    report = await marks(control)
    assert report["marks"]["invoice"] == {}
    assert report["parts"]["payment"] == {"p1": {f"remote:{ref.remote_id}": 1}}
