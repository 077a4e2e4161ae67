"""`find` returns only what syncdesk created: objects carrying the record's mark.

The demo company holds someone else's "Riverside Property Group LLC" and INV-1042; a local
record with the same name or number must not be linked to them. An object the provider
created is found again after its answer was lost (requests are spec-checked by the fixture).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from engine import (
    Allocation,
    CreditNote,
    Customer,
    Duplicate,
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
from providers.xero.sandbox import DEMO_CUSTOMER, DEMO_INVOICE_NUMBER

RIVERSIDE = Customer(id="C-0007", display_name=DEMO_CUSTOMER)
ALICE = Customer(id="c-alice", display_name="Alice Homeowner")
LABOR = Item(id="it-labor", sku="LAB-1", name="Labor", unit_price=Decimal("85.5"),
             income_account="200")


def request(entity: Entity, record: Record, key: str, *, op: Operation = Operation.CREATE,
            link: RemoteRef | None = None,
            refs: dict[tuple[Entity, str], RemoteRef] | None = None) -> PushRequest:
    return PushRequest(entity=entity, operation=op, record=record, idempotency_key=key,
                       link=link, refs=refs or {}, items={"it-labor": LABOR})


def invoice(number: str, record_id: str | None = None) -> Invoice:
    return Invoice(id=record_id or f"inv-{number}", number=number, customer_id="c-alice",
                   issue_date=date(2026, 3, 1), status=InvoiceStatus.SENT,
                   lines=[Line(item_id="it-labor", quantity=Decimal(2),
                               unit_price=Decimal("100.00"), )])


async def drop_next_write(control: httpx.AsyncClient) -> None:
    """The next write lands on Xero, and its answer never comes back."""
    await control.post("/_sandbox/faults", json={"kind": "drop", "count": 1, "method": "PUT"})


async def books(provider: XeroProvider) -> dict[tuple[Entity, str], RemoteRef]:
    customer = await provider.push(request(Entity.CUSTOMER, ALICE, "k-alice"))
    item = await provider.push(request(Entity.ITEM, LABOR, "k-labor"))
    return {(Entity.CUSTOMER, "c-alice"): customer, (Entity.ITEM, "it-labor"): item}


async def test_the_demo_riverside_contact_is_not_ours(provider: XeroProvider) -> None:
    assert await provider.find(Entity.CUSTOMER, RIVERSIDE) is None
    # The chaos run's case: Xero says the name is taken, and find still says not ours.
    with pytest.raises(Duplicate, match="already assigned to another contact"):
        await provider.push(request(Entity.CUSTOMER, RIVERSIDE, "k-riverside"))
    assert await provider.find(Entity.CUSTOMER, RIVERSIDE) is None


async def test_the_demo_invoice_number_is_not_ours(provider: XeroProvider) -> None:
    refs = await books(provider)
    twin = invoice(DEMO_INVOICE_NUMBER)
    assert await provider.find(Entity.INVOICE, twin) is None
    with pytest.raises(Duplicate, match="Invoice # must be unique"):
        await provider.push(request(Entity.INVOICE, twin, "k-twin", refs=refs))
    assert await provider.find(Entity.INVOICE, twin) is None


async def test_a_strangers_item_with_our_code_is_not_ours(provider: XeroProvider,
                                                          app) -> None:
    app.state.company.save_item({"Code": "LAB-1", "Name": "Their labour"}, None)
    assert await provider.find(Entity.ITEM, LABOR) is None
    with pytest.raises(Duplicate, match="LAB-1"):
        await provider.push(request(Entity.ITEM, LABOR, "k-labor"))
    assert await provider.find(Entity.ITEM, LABOR) is None


async def test_a_strangers_payment_with_our_reference_text_is_not_ours(
        provider: XeroProvider, app) -> None:
    demo = next(iter(app.state.company.invoices.values()))
    app.state.company.save_payment({"Invoice": {"InvoiceID": demo["InvoiceID"]},
                                    "Account": {"Code": "090"}, "Amount": 10,
                                    "Reference": "CHK-77"})
    payment = Payment(id="pay-1", customer_id="c-alice", date=date(2026, 3, 5),
                      amount=Decimal("10"), reference="CHK-77",
                      allocations=[Allocation(invoice_id="inv-x", amount=Decimal("10"))])
    assert await provider.find(Entity.PAYMENT, payment) is None


@pytest.mark.parametrize("entity", [Entity.CUSTOMER, Entity.ITEM])
async def test_a_lost_create_is_found_by_its_mark(provider: XeroProvider,
                                                  control: httpx.AsyncClient,
                                                  entity: Entity) -> None:
    record: Record = ALICE if entity is Entity.CUSTOMER else LABOR
    await drop_next_write(control)
    with pytest.raises(Transient, match="no answer"):
        await provider.push(request(entity, record, "k-lost"))
    found = await provider.find(entity, record)
    assert found is not None
    assert await provider.fetch(entity, found.remote_id) == found


async def test_lost_documents_and_payment_are_found_by_their_marks(
        provider: XeroProvider, control: httpx.AsyncClient, app) -> None:
    refs = await books(provider)
    record = invoice("SD-1001")
    await drop_next_write(control)
    with pytest.raises(Transient):
        await provider.push(request(Entity.INVOICE, record, "k-inv", refs=refs))
    found = await provider.find(Entity.INVOICE, record)
    assert found is not None and found.number == "SD-1001"
    # Another local record with the same number is not this one.
    assert await provider.find(Entity.INVOICE, invoice("SD-1001", "inv-other")) is None
    refs[(Entity.INVOICE, record.id)] = found

    note = CreditNote(id="cn-1", number="CN-9", customer_id="c-alice", date=date(2026, 3, 2),
                      lines=[Line(item_id="it-labor", unit_price=Decimal("20"),
                                  )])
    await drop_next_write(control)
    with pytest.raises(Transient):
        await provider.push(request(Entity.CREDIT_NOTE, note, "k-cn", refs=refs))
    credit = await provider.find(Entity.CREDIT_NOTE, note)
    assert credit is not None and credit.number == "CN-9"

    payment = Payment(id="pay-1", customer_id="c-alice", date=date(2026, 3, 5),
                      amount=Decimal("50"), reference="CHK-77",
                      allocations=[Allocation(invoice_id=record.id, amount=Decimal("50"))])
    await drop_next_write(control)
    with pytest.raises(Transient):
        await provider.push(request(Entity.PAYMENT, payment, "k-pay", refs=refs))
    paid = await provider.find(Entity.PAYMENT, payment)
    assert paid is not None and await provider.fetch(Entity.PAYMENT, paid.remote_id) == paid
    [stored] = app.state.company.payments.values()
    assert stored["Reference"] == "CHK-77 syncdesk:pay-1"


async def test_marks_survive_an_update(provider: XeroProvider, app) -> None:
    refs = await books(provider)
    dearer = LABOR.model_copy(update={"unit_price": Decimal("90")})
    await provider.push(request(Entity.ITEM, dearer, "k2", op=Operation.UPDATE,
                                link=refs[(Entity.ITEM, "it-labor")]))
    ref = await provider.push(request(Entity.INVOICE, invoice("SD-1"), "k3", refs=refs))
    await provider.push(request(Entity.INVOICE, invoice("SD-1"), "k4", op=Operation.UPDATE,
                                link=ref, refs=refs))
    company = app.state.company
    [item] = company.items.values()
    assert item["PurchaseDescription"] == "syncdesk:it-labor"
    assert company.invoices[ref.remote_id]["Reference"] == "syncdesk:inv-SD-1"
    contact = company.contacts[refs[(Entity.CUSTOMER, "c-alice")].remote_id]
    assert contact["ContactNumber"] == "syncdesk:c-alice"


async def test_a_long_id_still_fits_contact_number(provider: XeroProvider, app) -> None:
    long = Customer(id="c" * 64, display_name="Long Id Ltd")
    ref = await provider.push(request(Entity.CUSTOMER, long, "k-long"))
    number = app.state.company.contacts[ref.remote_id]["ContactNumber"]
    assert len(number) == 50 and number.startswith("syncdesk:#")
    assert await provider.find(Entity.CUSTOMER, long) == ref
    assert await provider.find(Entity.CUSTOMER, Customer(id="d" * 64,
                                                         display_name="Long Id Ltd")) is None


async def test_a_credit_note_found_unallocated_is_allocated_once(
        provider: XeroProvider, control: httpx.AsyncClient, app) -> None:
    refs = await books(provider)
    refs[(Entity.INVOICE, "inv-SD-5")] = await provider.push(
        request(Entity.INVOICE, invoice("SD-5"), "k-inv", refs=refs))
    note = CreditNote(id="cn-5", number="CN-5", customer_id="c-alice", date=date(2026, 3, 2),
                      lines=[Line(item_id="it-labor", unit_price=Decimal("20"),
                                  )],
                      allocations=[Allocation(invoice_id="inv-SD-5", amount=Decimal("20"))])
    await drop_next_write(control)  # the create lands; the allocation is never sent
    with pytest.raises(Transient):
        await provider.push(request(Entity.CREDIT_NOTE, note, "k-cn", refs=refs))
    [stored] = app.state.company.credit_notes.values()
    assert stored["Allocations"] == []

    found = await provider.find(Entity.CREDIT_NOTE, note)
    assert found is not None and await provider.find(Entity.CREDIT_NOTE, note) == found
    assert [a["Amount"] for a in stored["Allocations"]] == [Decimal("20")]
    assert stored["RemainingCredit"] == 0


async def test_a_payment_found_in_part_is_deleted_and_pushed_whole_again(
        provider: XeroProvider, control: httpx.AsyncClient) -> None:
    refs = await books(provider)
    for number in ("SD-6", "SD-7"):
        refs[(Entity.INVOICE, f"inv-{number}")] = await provider.push(
            request(Entity.INVOICE, invoice(number), f"k-{number}", refs=refs))
    payment = Payment(id="pay-2", customer_id="c-alice", date=date(2026, 3, 5),
                      amount=Decimal("100"),
                      allocations=[Allocation(invoice_id="inv-SD-6", amount=Decimal("50")),
                                   Allocation(invoice_id="inv-SD-7", amount=Decimal("50"))])
    paid = await provider.push(request(Entity.PAYMENT, payment, "k-pay", refs=refs))
    await control.post("/_sandbox/delete", json={"entity": "payment",
                                                 "id": paid.remote_id.split(",")[0]})
    assert await provider.find(Entity.PAYMENT, payment) is None
    audit = (await control.get("/_sandbox/marks")).json()
    assert audit["marks"]["payment"] == {}
    again = await provider.push(request(Entity.PAYMENT, payment, "k-pay-2", refs=refs))
    assert await provider.find(Entity.PAYMENT, payment) == again


@pytest.mark.parametrize("kind", ["error", "garbage", "timeout"])
@pytest.mark.parametrize("entity", [Entity.CUSTOMER, Entity.ITEM, Entity.INVOICE,
                                    Entity.PAYMENT, Entity.CREDIT_NOTE])
async def test_a_failed_lookup_raises_instead_of_answering_not_there(
        provider: XeroProvider, control: httpx.AsyncClient, context, entity: Entity,
        kind: str) -> None:
    record: Record = {
        Entity.CUSTOMER: ALICE, Entity.ITEM: LABOR, Entity.INVOICE: invoice("SD-8"),
        Entity.PAYMENT: Payment(id="pay-3", customer_id="c-alice", date=date(2026, 3, 5),
                                amount=Decimal("1"),
                                allocations=[Allocation(invoice_id="inv-x",
                                                        amount=Decimal("1"))]),
        Entity.CREDIT_NOTE: CreditNote(id="cn-8", number="CN-8", customer_id="c-alice",
                                       date=date(2026, 3, 2),
                                       lines=[Line(description="x", unit_price=1)]),
    }[entity]
    await control.post("/_sandbox/faults", json={"kind": kind, "method": "GET"})
    with pytest.raises(Transient):
        await provider.find(entity, record)
    assert await provider.find(entity, record) is None
