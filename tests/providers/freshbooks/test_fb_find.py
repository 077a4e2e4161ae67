"""`find` returns only what syncdesk created: objects carrying `[syncdesk:<id>]`.

The demo account holds someone else's "Riverside Property Group LLC" and invoice INV-1042;
local records with the same name, or the same number, date and total, are not linked to
them. An object the provider created is found again after its answer was lost.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from engine import (
    Allocation,
    CreditNote,
    Duplicate,
    Entity,
    Invoice,
    InvoiceStatus,
    Line,
    Payment,
    Record,
    Transient,
)
from providers.freshbooks import FreshBooksProvider
from providers.freshbooks.sandbox import DEMO_CUSTOMER, DEMO_INVOICE_NUMBER

from .conftest import Ledger, customer, invoice, item


def demo_twin() -> Invoice:
    """A local invoice with the demo's number, date and total: all a stranger's could share."""
    return Invoice(id="inv-twin", number=DEMO_INVOICE_NUMBER, customer_id="c1",
                   issue_date=date(2026, 1, 12), status=InvoiceStatus.SENT,
                   lines=[Line(description="Quarterly grounds maintenance",
                               unit_price=Decimal("1250.00"))])


async def test_the_demo_client_and_invoice_are_not_ours(provider: FreshBooksProvider,
                                                        ledger: Ledger) -> None:
    riverside = customer("C-0007", DEMO_CUSTOMER, email="ap@riversidepg.example")
    assert await provider.find(Entity.CUSTOMER, riverside) is None
    await ledger.basics(provider)
    assert await provider.find(Entity.INVOICE, demo_twin()) is None
    with pytest.raises(Duplicate, match=r"Invoice number already exists\."):
        await provider.push(ledger.request(Entity.INVOICE, demo_twin()))
    assert await provider.find(Entity.INVOICE, demo_twin()) is None


async def test_a_strangers_item_of_the_same_name_and_sku_is_not_ours(
        provider: FreshBooksProvider, app: Any) -> None:
    app.state.books.create_item({"name": "Gutter cleaning", "sku": "SKU-i1",
                                 "unit_cost": {"amount": "99.00", "code": "USD"}})
    assert await provider.find(Entity.ITEM, item()) is None


@pytest.mark.parametrize(("entity", "path"), [(Entity.ITEM, "items/items"),
                                              (Entity.INVOICE, "invoices/invoices")])
async def test_a_lost_create_is_found_by_its_marker(provider: FreshBooksProvider,
                                                    ledger: Ledger, control: httpx.AsyncClient,
                                                    entity: Entity, path: str) -> None:
    await ledger.basics(provider)
    record: Record = item("i-lost", "Hedge trimming") if entity is Entity.ITEM \
        else invoice(status=InvoiceStatus.DRAFT)
    await control.post("/_sandbox/faults", json={"kind": "drop", "count": 1, "method": "POST",
                                                 "path_contains": path})
    with pytest.raises(Transient):
        await provider.push(ledger.request(entity, record))
    found = await provider.find(entity, record)
    assert found is not None
    assert await provider.fetch(entity, found.remote_id) == found
    other = record.model_copy(update={"id": "someone-else"})
    assert await provider.find(entity, other) is None


async def test_markers_are_written(provider: FreshBooksProvider, ledger: Ledger,
                                   app: Any) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    books = app.state.books
    assert books.invoices[int(ref.remote_id)]["po_number"] == "[syncdesk:inv1]"
    product = books.items[int(ledger.refs[(Entity.ITEM, "i1")].remote_id)]
    assert product["description"] == "[syncdesk:i1]"


LOST: dict[Entity, Record] = {
    Entity.CUSTOMER: customer("c-lost", "Lost Customer Co"),
    Entity.PAYMENT: Payment(id="p-lost", customer_id="c1", date=date(2026, 2, 1),
                            amount=Decimal(100),
                            allocations=[Allocation(invoice_id="inv1", amount=Decimal(100))]),
    Entity.CREDIT_NOTE: CreditNote(id="cn-lost", number="CN-0009", customer_id="c1",
                                   date=date(2026, 2, 3),
                                   lines=[Line(description="Goodwill", unit_price=Decimal(5))]),
}
PATHS = {Entity.CUSTOMER: "users/clients", Entity.PAYMENT: "payments/payments",
         Entity.CREDIT_NOTE: "credit_notes/credit_notes"}


@pytest.mark.parametrize("entity", list(LOST))
async def test_lost_customers_payments_and_credit_notes_are_found(
        provider: FreshBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        entity: Entity) -> None:
    await ledger.basics(provider)
    await ledger.push(provider, Entity.INVOICE, invoice())
    await control.post("/_sandbox/faults", json={"kind": "drop", "count": 1, "method": "POST",
                                                 "path_contains": PATHS[entity]})
    with pytest.raises(Transient):
        await provider.push(ledger.request(entity, LOST[entity]))
    found = await provider.find(entity, LOST[entity])
    assert found is not None
    assert await provider.fetch(entity, found.remote_id) == found
    audit = (await control.get("/_sandbox/marks")).json()["marks"]
    assert audit[entity.value][LOST[entity].id] == 1


@pytest.mark.parametrize("kind", ["error", "garbage", "timeout"])
@pytest.mark.parametrize("entity", [Entity.CUSTOMER, Entity.ITEM, Entity.INVOICE,
                                    Entity.PAYMENT, Entity.CREDIT_NOTE])
async def test_a_failed_lookup_raises_instead_of_answering_not_there(
        provider: FreshBooksProvider, control: httpx.AsyncClient, entity: Entity,
        kind: str) -> None:
    record: Record = {Entity.ITEM: item(), Entity.INVOICE: invoice(), **LOST}[entity]
    await control.post("/_sandbox/faults", json={"kind": kind, "method": "GET"})
    with pytest.raises(Transient):
        await provider.find(entity, record)
    assert await provider.find(entity, record) is None
