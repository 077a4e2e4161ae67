"""`GET /_sandbox/marks` on Xero: live objects carrying syncdesk's mark, per local record.

A local payment over two invoices is two Xero Payments (two objects, one part per invoice);
a voided invoice still exists and counts; a deleted payment does not.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from engine import (
    Allocation,
    CreditNote,
    Customer,
    Entity,
    Invoice,
    InvoiceStatus,
    Item,
    Line,
    Operation,
    Payment,
    PushRequest,
    Record,
    RemoteRef,
)
from providers.xero import XeroProvider

ALICE = Customer(id="c-alice", display_name="Alice Homeowner")
LABOR = Item(id="it-labor", sku="LAB-1", name="Labor", unit_price=Decimal("85.5"),
             income_account="200")


class Books:
    """What a test pushed, so later records can reference it."""

    def __init__(self, provider: XeroProvider) -> None:
        self.provider = provider
        self.refs: dict[tuple[Entity, str], RemoteRef] = {}

    async def push(self, entity: Entity, record: Record, key: str, *,
                   op: Operation = Operation.CREATE, link: RemoteRef | None = None) -> RemoteRef:
        ref = await self.provider.push(PushRequest(
            entity=entity, operation=op, record=record, idempotency_key=key, link=link,
            refs=dict(self.refs), items={LABOR.id: LABOR}))
        self.refs[(entity, record.id)] = ref
        return ref


def invoice(record_id: str, number: str) -> Invoice:
    return Invoice(id=record_id, number=number, customer_id=ALICE.id,
                   issue_date=date(2026, 3, 1), status=InvoiceStatus.SENT,
                   lines=[Line(item_id=LABOR.id, quantity=Decimal(2),
                               unit_price=Decimal("100.00"), )])


async def marks(control: httpx.AsyncClient) -> dict[str, Any]:
    response = await control.get("/_sandbox/marks")
    assert response.status_code == 200
    return dict(response.json())


async def test_every_entity_once_and_a_split_payment_by_its_parts(
        provider: XeroProvider, control: httpx.AsyncClient) -> None:
    books = Books(provider)
    await books.push(Entity.CUSTOMER, ALICE, "k1")
    await books.push(Entity.ITEM, LABOR, "k2")
    await books.push(Entity.INVOICE, invoice("inv-1", "SD-1"), "k3")
    await books.push(Entity.INVOICE, invoice("inv-2", "SD-2"), "k4")
    note = CreditNote(id="cn-1", number="CN-1", customer_id=ALICE.id, date=date(2026, 3, 2),
                      lines=[Line(item_id=LABOR.id, unit_price=Decimal("20"), )],
                      allocations=[Allocation(invoice_id="inv-1", amount=Decimal("20"))])
    await books.push(Entity.CREDIT_NOTE, note, "k5")
    payment = Payment(id="pay-1", customer_id=ALICE.id, date=date(2026, 3, 5),
                      amount=Decimal("100"), reference="CHK-77",
                      allocations=[Allocation(invoice_id="inv-1", amount=Decimal("50")),
                                   Allocation(invoice_id="inv-2", amount=Decimal("50"))])
    paid = await books.push(Entity.PAYMENT, payment, "k6")

    report = await marks(control)
    assert report["marks"] == {
        "customer": {"c-alice": 1}, "item": {"it-labor": 1},
        "invoice": {"inv-1": 1, "inv-2": 1}, "payment": {"pay-1": 2}, "credit_note": {"cn-1": 1}}
    assert report["parts"] == {"payment": {"pay-1": {"inv-1": 1, "inv-2": 1}}}

    first_part = paid.remote_id.split(",")[0]
    await control.post("/_sandbox/delete", json={"entity": "payment", "id": first_part})
    report = await marks(control)
    assert report["parts"] == {"payment": {"pay-1": {"inv-2": 1}}}


async def test_a_voided_invoice_still_counts_and_a_long_id_shows_its_digest(
        provider: XeroProvider, control: httpx.AsyncClient) -> None:
    books = Books(provider)
    await books.push(Entity.CUSTOMER, ALICE, "k1")
    await books.push(Entity.CUSTOMER, Customer(id="c" * 64, display_name="Long Id Ltd"), "k2")
    await books.push(Entity.ITEM, LABOR, "k3")
    ref = await books.push(Entity.INVOICE, invoice("inv-1", "SD-1"), "k4")
    await books.push(Entity.INVOICE, invoice("inv-1", "SD-1"), "k5", op=Operation.VOID,
                     link=ref)
    report = await marks(control)
    assert report["marks"]["invoice"] == {"inv-1": 1}
    [digest] = set(report["marks"]["customer"]) - {"c-alice"}
    assert digest.startswith("#") and len("syncdesk:" + digest) == 50
