"""`GET /_sandbox/marks` on FreshBooks: live objects carrying `[syncdesk:<id>]`, per record.

A payment over two invoices is two FreshBooks payments (one part per invoice); a credit note
is applied by a payment of type Credit carrying the note's marker (`credit_note_payment`);
a deleted (`vis_state` 1) object no longer counts.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from engine import Allocation, CreditNote, Entity, Line, Payment
from providers.freshbooks import FreshBooksProvider

from .conftest import Ledger, invoice


async def marks(control: httpx.AsyncClient) -> dict[str, Any]:
    response = await control.get("/_sandbox/marks")
    assert response.status_code == 200
    return dict(response.json())


async def test_every_entity_once_split_payments_and_credit_applications(
        provider: FreshBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        app: Any) -> None:
    await ledger.basics(provider)
    await ledger.push(provider, Entity.INVOICE, invoice())
    await ledger.push(provider, Entity.INVOICE, invoice("inv2", "SD-1002"))
    payment = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal(200),
                      reference="CHK-9",
                      allocations=[Allocation(invoice_id="inv1", amount=Decimal(100)),
                                   Allocation(invoice_id="inv2", amount=Decimal(100))])
    await ledger.push(provider, Entity.PAYMENT, payment)
    note = CreditNote(id="cn1", number="CN-0001", customer_id="c1", date=date(2026, 2, 3),
                      lines=[Line(description="Goodwill discount", unit_price=Decimal(50))],
                      allocations=[Allocation(invoice_id="inv1", amount=Decimal(50))])
    await ledger.push(provider, Entity.CREDIT_NOTE, note)
    # A client of someone else's, its note naming nothing of ours, is not listed.
    app.state.books.create_client({"organization": "Their client", "note": "VIP"})

    report = await marks(control)
    assert report["marks"] == {
        "customer": {"c1": 1}, "item": {"i1": 1}, "invoice": {"inv1": 1, "inv2": 1},
        "payment": {"p1": 2}, "credit_note": {"cn1": 1}, "credit_note_payment": {"cn1": 1}}
    assert report["parts"] == {"payment": {"p1": {"inv1": 1, "inv2": 1}},
                               "credit_note_payment": {"cn1": {"inv1": 1}}}

    [first, _] = [p for p in app.state.books.payments.values() if p["type"] != "Credit"]
    await control.post("/_sandbox/delete", json={"entity": "payment", "id": str(first["id"])})
    assert (await marks(control))["parts"]["payment"] == {"p1": {"inv2": 1}}
