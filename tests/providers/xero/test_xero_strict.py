"""Xero's `Idempotency-Key` is remembered for a window on the sandbox clock, then forgotten:
the same request after it is a second write — the duplicate only the mark lookup prevents."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from engine import (
    Allocation,
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
    Transient,
)
from providers.xero import XeroProvider

API = "/api.xro/2.0"
ALICE = Customer(id="c-alice", display_name="Alice Homeowner")
LABOR = Item(id="it-labor", sku="LAB-1", name="Labor", unit_price=Decimal("85.5"),
             income_account="200")
INVOICE = Invoice(id="inv-1", number="SD-1", customer_id=ALICE.id, issue_date=date(2026, 3, 1),
                  status=InvoiceStatus.SENT,
                  lines=[Line(item_id=LABOR.id, quantity=Decimal(2),
                              unit_price=Decimal("100.00"), )])
PAYMENT = Payment(id="pay-1", customer_id=ALICE.id, date=date(2026, 3, 5), amount=Decimal(50),
                  allocations=[Allocation(invoice_id=INVOICE.id, amount=Decimal(50))])


def push(entity: Entity, record: Record,
         refs: dict[tuple[Entity, str], RemoteRef]) -> PushRequest:
    return PushRequest(entity=entity, operation=Operation.CREATE, record=record,
                       idempotency_key=f"k-{record.id}", refs=dict(refs),
                       items={LABOR.id: LABOR})


async def test_a_key_is_forgotten_after_its_window(api: httpx.AsyncClient,
                                                   control: httpx.AsyncClient) -> None:
    contact = (await api.put(f"{API}/Contacts", json={"Contacts": [{"Name": "Cedar Works"}]}))
    contact_id = contact.json()["Contacts"][0]["ContactID"]
    draft = {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id},
                           "Status": "DRAFT", "Reference": "syncdesk:inv-1"}]}
    key = {"Idempotency-Key": "k-window"}

    first = await api.put(f"{API}/Invoices", json=draft, headers=key)
    assert (await api.put(f"{API}/Invoices", json=draft, headers=key)).content == first.content
    window = await control.post("/_sandbox/idempotency", json={"window_seconds": 60})
    assert window.json() == {"window_seconds": 60.0, "live_keys": 1}
    await control.post("/_sandbox/clock", json={"advance": 61})
    late = await api.put(f"{API}/Invoices", json=draft, headers=key)
    assert late.json()["Invoices"][0]["InvoiceID"] != first.json()["Invoices"][0]["InvoiceID"]
    assert (await control.get("/_sandbox/marks")).json()["marks"]["invoice"] == {"inv-1": 2}


async def test_after_the_window_only_the_mark_lookup_prevents_a_second_payment(
        provider: XeroProvider, control: httpx.AsyncClient, context: Any) -> None:
    """The `xero-after-window` case: an answer lost at night, the retry in the morning."""
    refs: dict[tuple[Entity, str], RemoteRef] = {}
    for entity, record in ((Entity.CUSTOMER, ALICE), (Entity.ITEM, LABOR),
                           (Entity.INVOICE, INVOICE)):
        refs[(entity, record.id)] = await provider.push(push(entity, record, refs))
    request = push(Entity.PAYMENT, PAYMENT, refs)
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "PUT",
                                                 "path_contains": "/Payments"})
    with pytest.raises(Transient):
        await provider.push(request)
    await control.post("/_sandbox/clock", json={"advance": 8 * 3600})

    found = await provider.find(Entity.PAYMENT, PAYMENT)  # the guarantee: ours is there
    assert found is not None
    await provider.push(request)  # what a resend without the lookup would do
    audit = (await control.get("/_sandbox/marks")).json()
    assert audit["parts"]["payment"] == {"pay-1": {"inv-1": 2}}
