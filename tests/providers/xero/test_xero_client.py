"""Every client operation against the sandbox (requests are spec-checked by the fixture)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
from xero_support import api_requests

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
    RemoteRef,
    Unmapped,
    Validation,
)
from providers.xero import XeroProvider
from providers.xero.sandbox import DEMO_CUSTOMER, DEMO_INVOICE_NUMBER
from tests.providers._support import Recording


def push(entity: Entity, record: object, key: str, *, op: Operation = Operation.CREATE,
         link: RemoteRef | None = None, refs: dict | None = None,
         items: dict | None = None) -> PushRequest:
    return PushRequest(entity=entity, operation=op, record=record,  # type: ignore[arg-type]
                       idempotency_key=key, link=link, refs=refs or {}, items=items or {})


LABOR = Item(id="it-labor", sku="LAB-1", name="Labor", unit_price=Decimal("85.5"),
             income_account="200")
ALICE = Customer(id="c-alice", display_name="Alice Homeowner", email="alice@example.com",
                 phone="555-0100")


async def setup_books(provider: XeroProvider) -> tuple[RemoteRef, RemoteRef]:
    customer = await provider.push(push(Entity.CUSTOMER, ALICE, "k-cust"))
    item = await provider.push(push(Entity.ITEM, LABOR, "k-item"))
    return customer, item


def invoice(number: str = "SD-1001", status: InvoiceStatus = InvoiceStatus.SENT,
            price: str = "100.00", item_id: str = "it-labor") -> Invoice:
    return Invoice(id=f"inv-{number}", number=number, customer_id="c-alice",
                   issue_date=date(2026, 3, 1), due_date=date(2026, 3, 31), status=status,
                   lines=[Line(item_id=item_id, quantity=Decimal(2), unit_price=Decimal(price),
                               )])


async def push_invoice(provider: XeroProvider, customer: RemoteRef, item: RemoteRef,
                       record: Invoice, key: str) -> RemoteRef:
    return await provider.push(push(
        Entity.INVOICE, record, key, refs={(Entity.CUSTOMER, "c-alice"): customer,
                                           (Entity.ITEM, "it-labor"): item},
        items={"it-labor": LABOR}))


async def test_customer_create_update_fetch_find(provider: XeroProvider) -> None:
    ref = await provider.push(push(Entity.CUSTOMER, ALICE, "k1"))
    assert ref.number == "Alice Homeowner"
    renamed = ALICE.model_copy(update={"display_name": "Alice H. Owner"})
    updated = await provider.push(push(Entity.CUSTOMER, renamed, "k2", op=Operation.UPDATE,
                                       link=ref))
    assert updated == RemoteRef(ref.remote_id, number="Alice H. Owner")
    assert await provider.fetch(Entity.CUSTOMER, ref.remote_id) == updated
    assert await provider.find(Entity.CUSTOMER, renamed) == updated
    # The mark decides, not the name: the same record under its old name is still ours,
    # another record under the current name is not.
    assert await provider.find(Entity.CUSTOMER, ALICE) == updated
    namesake = Customer(id="c-other", display_name="Alice H. Owner")
    assert await provider.find(Entity.CUSTOMER, namesake) is None
    names = {c.display_name: c async for c in provider.list_customers()}
    assert names["Alice H. Owner"].email == "alice@example.com"
    assert names["Alice H. Owner"].phone == "555-0100"


async def test_item_create_update_find_list(provider: XeroProvider) -> None:
    ref = await provider.push(push(Entity.ITEM, LABOR, "k1"))
    assert ref.number == "LAB-1"
    dearer = LABOR.model_copy(update={"unit_price": Decimal("90.1234")})
    await provider.push(push(Entity.ITEM, dearer, "k2", op=Operation.UPDATE, link=ref))
    assert await provider.find(Entity.ITEM, LABOR) == ref
    [listed] = [i async for i in provider.list_items()]
    assert (listed.sku, listed.unit_price, listed.income_account) == \
        ("LAB-1", Decimal("90.1234"), "200")


async def test_invoice_lifecycle(provider: XeroProvider, app) -> None:
    customer, item = await setup_books(provider)
    ref = await push_invoice(provider, customer, item, invoice(), "k-inv")
    assert ref.number == "SD-1001"
    stored = app.state.company.invoices[ref.remote_id]
    assert (stored["Status"], stored["Total"], stored["AmountDue"]) == \
        ("AUTHORISED", Decimal("200.00"), Decimal("200.00"))
    assert await provider.find(Entity.INVOICE, invoice()) == ref
    assert await provider.fetch(Entity.INVOICE, ref.remote_id) == ref
    cheaper = invoice(price="50.00")
    await provider.push(push(Entity.INVOICE, cheaper, "k-upd", op=Operation.UPDATE, link=ref,
                             refs={(Entity.CUSTOMER, "c-alice"): customer,
                                   (Entity.ITEM, "it-labor"): item},
                             items={"it-labor": LABOR}))
    assert stored["Total"] == Decimal("100.00")
    voided = await provider.push(push(Entity.INVOICE, cheaper, "k-void", op=Operation.VOID,
                                      link=ref))
    assert voided == ref and stored["Status"] == "VOIDED"


async def test_draft_invoice_void_deletes_it(provider: XeroProvider, app) -> None:
    customer, item = await setup_books(provider)
    draft = invoice(status=InvoiceStatus.DRAFT)
    ref = await push_invoice(provider, customer, item, draft, "k-inv")
    await provider.push(push(Entity.INVOICE, draft, "k-void", op=Operation.VOID, link=ref))
    assert app.state.company.invoices[ref.remote_id]["Status"] == "DELETED"
    assert await provider.fetch(Entity.INVOICE, ref.remote_id) is None


async def test_payment_over_two_invoices_is_two_xero_payments(provider: XeroProvider,
                                                               app) -> None:
    customer, item = await setup_books(provider)
    first = await push_invoice(provider, customer, item, invoice("SD-1"), "k1")
    second = await push_invoice(provider, customer, item, invoice("SD-2"), "k2")
    payment = Payment(id="pay-1", customer_id="c-alice", date=date(2026, 3, 5),
                      amount=Decimal("300.00"), reference="CHK-77",
                      allocations=[Allocation(invoice_id="inv-SD-1", amount=Decimal("200.00")),
                                   Allocation(invoice_id="inv-SD-2", amount=Decimal("100.00"))])
    refs = {(Entity.INVOICE, "inv-SD-1"): first, (Entity.INVOICE, "inv-SD-2"): second}
    ref = await provider.push(push(Entity.PAYMENT, payment, "k-pay", refs=refs))
    ids = ref.remote_id.split(",")
    # Reference holds the business's reference and our mark; the number is what Xero shows.
    assert len(ids) == 2 and ref.number == "CHK-77 syncdesk:pay-1"
    company = app.state.company
    assert company.invoices[first.remote_id]["Status"] == "PAID"
    assert company.invoices[second.remote_id]["AmountDue"] == Decimal("100.00")
    assert await provider.fetch(Entity.PAYMENT, ref.remote_id) == ref
    assert await provider.find(Entity.PAYMENT, payment) == ref
    await provider.push(push(Entity.PAYMENT, payment, "k-void", op=Operation.VOID, link=ref))
    assert company.invoices[first.remote_id]["Status"] == "AUTHORISED"
    assert await provider.fetch(Entity.PAYMENT, ref.remote_id) is None
    assert await provider.find(Entity.PAYMENT, payment) is None


async def test_payment_with_one_refused_allocation_leaves_nothing(provider: XeroProvider,
                                                                   app) -> None:
    customer, item = await setup_books(provider)
    first = await push_invoice(provider, customer, item, invoice("SD-1"), "k1")
    draft = await push_invoice(provider, customer, item,
                               invoice("SD-2", status=InvoiceStatus.DRAFT), "k2")
    payment = Payment(id="pay-1", customer_id="c-alice", date=date(2026, 3, 5),
                      amount=Decimal("300.00"),
                      allocations=[Allocation(invoice_id="inv-SD-1", amount=Decimal("200.00")),
                                   Allocation(invoice_id="inv-SD-2", amount=Decimal("100.00"))])
    refs = {(Entity.INVOICE, "inv-SD-1"): first, (Entity.INVOICE, "inv-SD-2"): draft}
    with pytest.raises(Validation, match="approved"):
        await provider.push(push(Entity.PAYMENT, payment, "k-pay", refs=refs))
    assert app.state.company.invoices[first.remote_id]["AmountDue"] == Decimal("200.00")
    assert await provider.find(Entity.PAYMENT, payment) is None


async def test_credit_note_created_and_allocated(provider: XeroProvider, app) -> None:
    customer, item = await setup_books(provider)
    inv = await push_invoice(provider, customer, item, invoice(), "k1")
    note = CreditNote(id="cn-1", number="CN-9", customer_id="c-alice", date=date(2026, 3, 9),
                      lines=[Line(item_id="it-labor", unit_price=Decimal("30.00"),
                                  )],
                      allocations=[Allocation(invoice_id=invoice().id, amount=Decimal("30.00"))])
    refs = {(Entity.CUSTOMER, "c-alice"): customer, (Entity.ITEM, "it-labor"): item,
            (Entity.INVOICE, invoice().id): inv}
    ref = await provider.push(push(Entity.CREDIT_NOTE, note, "k-cn", refs=refs,
                                   items={"it-labor": LABOR}))
    assert ref.number == "CN-9"
    company = app.state.company
    assert company.invoices[inv.remote_id]["AmountDue"] == Decimal("170.00")
    assert company.credit_notes[ref.remote_id]["Status"] == "PAID"
    assert await provider.find(Entity.CREDIT_NOTE, note) == ref
    assert await provider.fetch(Entity.CREDIT_NOTE, ref.remote_id) == ref


async def test_unmapped_income_account_sends_nothing(provider: XeroProvider,
                                                     recording: Recording) -> None:
    bare = Item(id="it-bare", sku="BARE", name="Labor", unit_price=Decimal(1))
    with pytest.raises(Unmapped, match="item 'Labor' has no income account for Xero: map one"):
        await provider.push(push(Entity.ITEM, bare, "k"))
    record = invoice(item_id="it-bare")
    with pytest.raises(Unmapped, match="item 'Labor' has no income account for Xero"):
        await provider.push(push(Entity.INVOICE, record, "k",
                                 refs={(Entity.CUSTOMER, "c-alice"): RemoteRef("c")},
                                 items={"it-bare": bare}))
    assert api_requests(recording) == []


async def test_demo_duplicates_fail_with_xeros_words(provider: XeroProvider) -> None:
    twin = Customer(id="c-riverside", display_name=DEMO_CUSTOMER)
    with pytest.raises(Duplicate) as caught:
        await provider.push(push(Entity.CUSTOMER, twin, "k1"))
    assert caught.value.message == (
        f"The contact name {DEMO_CUSTOMER} is already assigned to another contact. "
        "The contact name must be unique across all active contacts.")
    customer, item = await setup_books(provider)
    with pytest.raises(Duplicate, match=r"^Invoice # must be unique\.$") as dup:
        await push_invoice(provider, customer, item, invoice(DEMO_INVOICE_NUMBER), "k2")
    assert dup.value.code == "10"
    with pytest.raises(Duplicate, match="Price List Item with Code 'LAB-1' already exists"):
        await provider.push(push(Entity.ITEM, LABOR, "k3"))


async def test_lists_accounts_tax_codes_and_pages(provider: XeroProvider, app) -> None:
    accounts = {a.code: a async for a in provider.list_accounts()}
    assert accounts["200"].kind == "REVENUE" and accounts["090"].kind == "BANK"
    taxes = {t.code: t.rate async for t in provider.list_tax_codes()}
    assert taxes["NONE"] == Decimal(0) and "OUTPUT" in taxes
    for n in range(120):
        app.state.company.save_contact({"Name": f"Bulk {n}"}, None)
    names = [c.display_name async for c in provider.list_customers()]
    assert len(names) == 121  # 120 + the demo's Riverside


async def test_quota_read_from_headers(provider: XeroProvider) -> None:
    assert provider.quota() is None
    await provider.fetch(Entity.CUSTOMER, "00000000-0000-0000-0000-000000000000")
    quota = provider.quota()
    assert quota is not None and quota.minute_remaining == 59 and quota.day_remaining == 4999


async def test_every_write_carries_key_and_tenant(provider: XeroProvider,
                                                  recording: Recording) -> None:
    await setup_books(provider)
    for request in api_requests(recording):
        assert request.headers["xero-tenant-id"]
        if request.method != "GET":
            assert request.headers["Idempotency-Key"] in ("k-cust", "k-item")


async def test_fetch_of_object_deleted_behind_our_back(provider: XeroProvider,
                                                        control: httpx.AsyncClient) -> None:
    ref = await provider.push(push(Entity.ITEM, LABOR, "k"))
    gone = await control.post("/_sandbox/delete", json={"entity": "item", "id": ref.remote_id})
    assert gone.status_code == 200
    assert await provider.fetch(Entity.ITEM, ref.remote_id) is None
