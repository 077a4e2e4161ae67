"""Every provider operation against the sandbox, through the real OAuth flow."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from engine import (
    Address,
    Allocation,
    CreditNote,
    Duplicate,
    Entity,
    InvoiceStatus,
    Line,
    NotFound,
    Operation,
    Payment,
    RemoteCustomer,
    RemoteRef,
    Unmapped,
    Unsupported,
    Validation,
)
from providers.freshbooks import FreshBooksProvider
from tests.providers._support import SandboxTokens, state

from .conftest import Ledger, Recorder, customer, invoice, item, raw


async def _remote(control: httpx.AsyncClient, tokens: SandboxTokens, path: str) -> dict:
    response = await raw(control, tokens, "GET", path)
    result: dict = response.json()["response"]["result"]
    return result


async def test_customer_create_fetch_find_update(provider: FreshBooksProvider, ledger: Ledger,
                                                 control: httpx.AsyncClient,
                                                 tokens: SandboxTokens) -> None:
    record = customer(email="office@harborview.example", company="HV Dental", phone="503-1",
                      billing_address=Address(line1="1 Alder St", city="Portland",
                                              region="OR", postal_code="97201", country="US"))
    ref = await ledger.push(provider, Entity.CUSTOMER, record)
    assert ref.number == "Harbor View Dental" and ref.version is not None
    assert await provider.fetch(Entity.CUSTOMER, ref.remote_id) == ref
    assert await provider.find(Entity.CUSTOMER, record) == ref
    client = (await _remote(control, tokens, f"users/clients/{ref.remote_id}"))["client"]
    assert (client["organization"], client["email"], client["note"], client["p_city"]) == (
        "Harbor View Dental", "office@harborview.example", "[syncdesk:c1]", "Portland")

    renamed = customer(name="Harbor View Dental PC", email="office@harborview.example")
    updated = await provider.push(ledger.request(Entity.CUSTOMER, renamed,
                                                 operation=Operation.UPDATE, link=ref))
    assert (updated.remote_id, updated.number) == (ref.remote_id, "Harbor View Dental PC")


async def test_homeowner_gets_first_and_last_name(provider: FreshBooksProvider, ledger: Ledger,
                                                  control: httpx.AsyncClient,
                                                  tokens: SandboxTokens) -> None:
    ref = await ledger.push(provider, Entity.CUSTOMER, customer("c2", "Maria Lopez"))
    client = (await _remote(control, tokens, f"users/clients/{ref.remote_id}"))["client"]
    assert (client["fname"], client["lname"], client["organization"]) == ("Maria", "Lopez",
                                                                          "Maria Lopez")


async def test_someone_elses_client_is_not_ours_and_collides(provider: FreshBooksProvider,
                                                             ledger: Ledger) -> None:
    riverside = customer("c9", "Riverside Property Group LLC")
    assert await provider.find(Entity.CUSTOMER, riverside) is None
    with pytest.raises(Duplicate) as caught:
        await provider.push(ledger.request(Entity.CUSTOMER, riverside))
    assert caught.value.message == "A client with this organization already exists."
    assert (caught.value.code, caught.value.field) == ("1004", "organization")


async def test_item_create_find_update(provider: FreshBooksProvider, ledger: Ledger) -> None:
    record = item()
    ref = await ledger.push(provider, Entity.ITEM, record)
    assert ref.number == "Gutter cleaning"
    assert await provider.find(Entity.ITEM, record) == ref
    assert await provider.fetch(Entity.ITEM, ref.remote_id) == ref
    cheaper = item(unit_price=Decimal("99.5"))
    updated = await provider.push(ledger.request(Entity.ITEM, cheaper, operation=Operation.UPDATE,
                                                 link=ref))
    assert updated.remote_id == ref.remote_id
    [listed] = [i async for i in provider.list_items()]
    assert (listed.sku, listed.unit_price, listed.income_account) == ("SKU-i1", Decimal("99.5"),
                                                                      None)


async def test_labor_item_without_income_account_is_pushed(provider: FreshBooksProvider,
                                                           ledger: Ledger) -> None:
    # FreshBooks has no income account per item: nothing to be Unmapped about.
    ref = await ledger.push(provider, Entity.ITEM, item("LABOR", "Labor"))
    assert ref.number == "Labor"


async def test_sent_invoice_is_created_then_marked_sent(provider: FreshBooksProvider,
                                                        ledger: Ledger, recorder: Recorder,
                                                        control: httpx.AsyncClient,
                                                        tokens: SandboxTokens) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    assert ref.number == "SD-1001"
    created, marked = recorder.bodies("POST")[-1], recorder.bodies("PUT")[-1]
    assert marked == {"invoice": {"action_mark_as_sent": True}}
    body = created["invoice"]
    assert (body["customerid"], body["create_date"], body["due_offset_days"]) == (
        int(ledger.refs[(Entity.CUSTOMER, "c1")].remote_id), "2026-01-15", 30)
    assert body["lines"][0] == {"type": 0, "name": "Gutter cleaning", "description": "Front",
                                "qty": "2", "unit_cost": {"amount": "120.00", "code": "USD"}}
    remote = (await _remote(control, tokens, f"invoices/invoices/{ref.remote_id}"))["invoice"]
    assert remote["amount"] == {"amount": "275.50", "code": "USD"}
    assert (remote["v3_status"], remote["status"], remote["payment_status"]) == ("sent", 2,
                                                                                 "unpaid")
    assert remote["due_date"] == "2026-02-14"
    assert await provider.find(Entity.INVOICE, invoice()) == ref


async def test_draft_invoice_is_not_marked(provider: FreshBooksProvider, ledger: Ledger,
                                           recorder: Recorder) -> None:
    await ledger.basics(provider)
    await ledger.push(provider, Entity.INVOICE, invoice(status=InvoiceStatus.DRAFT))
    assert recorder.api("PUT") == []


async def test_invoice_update_and_void(provider: FreshBooksProvider, ledger: Ledger,
                                       recorder: Recorder) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice(status=InvoiceStatus.DRAFT))
    changed = invoice(lines=[Line(description="Call-out fee", unit_price=Decimal("40.00"))])
    updated = await provider.push(ledger.request(Entity.INVOICE, changed,
                                                 operation=Operation.UPDATE, link=ref))
    assert updated.remote_id == ref.remote_id
    assert recorder.bodies("PUT")[-1]["invoice"]["action_mark_as_sent"] is True

    voided = await provider.push(ledger.request(Entity.INVOICE, changed,
                                                operation=Operation.VOID, link=updated))
    assert voided == updated
    assert recorder.api("DELETE")[-1].url.path.endswith(f"/invoices/invoices/{ref.remote_id}")
    assert await provider.fetch(Entity.INVOICE, ref.remote_id) is None
    assert await provider.find(Entity.INVOICE, changed) is None


async def test_invoice_number_taken_by_someone_else(provider: FreshBooksProvider,
                                                    ledger: Ledger) -> None:
    await ledger.basics(provider)
    ours = invoice(number="INV-1042")
    assert await provider.find(Entity.INVOICE, ours) is None  # no marker of ours on it
    with pytest.raises(Duplicate, match=r"Invoice number already exists\.") as caught:
        await provider.push(ledger.request(Entity.INVOICE, ours))
    assert caught.value.field == "invoice_number"


async def test_invoice_needs_its_customer_on_freshbooks(provider: FreshBooksProvider,
                                                        ledger: Ledger,
                                                        control: httpx.AsyncClient) -> None:
    before = (await state(control))["requests"]
    with pytest.raises(Unmapped, match="customer 'c1' is not on FreshBooks yet"):
        await provider.push(ledger.request(Entity.INVOICE, invoice()))
    assert (await state(control))["requests"] == before


async def test_taxed_lines_carry_the_tax_rate(provider: FreshBooksProvider, ledger: Ledger,
                                              recorder: Recorder, control: httpx.AsyncClient,
                                              tokens: SandboxTokens) -> None:
    await ledger.basics(provider)
    lines = [Line(description="Paint", unit_price=Decimal("100.00"), tax_code="TAX",
                  tax_amount=Decimal("8.00"))]
    ref = await ledger.push(provider, Entity.INVOICE, invoice(lines=lines))
    line = recorder.bodies("POST")[-1]["invoice"]["lines"][0]
    assert (line["taxName1"], line["taxAmount1"]) == ("Sales Tax", "8.00")
    remote = (await _remote(control, tokens, f"invoices/invoices/{ref.remote_id}"))["invoice"]
    assert remote["amount"]["amount"] == "108.00"
    unknown = [Line(description="Paint", unit_price=Decimal("1"), tax_code="VAT")]
    with pytest.raises(Unmapped, match="tax code 'VAT' is not mapped to a FreshBooks tax"):
        await provider.push(ledger.request(Entity.INVOICE, invoice("inv2", "SD-2", lines=unknown)))


def _payment(local_id: str = "p1", allocations: list[Allocation] | None = None,
             amount: str | None = None, **extra: object) -> Payment:
    allocations = allocations or [Allocation(invoice_id="inv1", amount=Decimal("275.50"))]
    total = Decimal(amount) if amount else sum((a.amount for a in allocations), Decimal(0))
    return Payment(id=local_id, customer_id="c1", date=date(2026, 2, 1), amount=total,
                   allocations=allocations, **extra)  # type: ignore[arg-type]


async def _two_invoices(provider: FreshBooksProvider, ledger: Ledger) -> None:
    await ledger.basics(provider)
    await ledger.push(provider, Entity.INVOICE, invoice())
    await ledger.push(provider, Entity.INVOICE, invoice("inv2", "SD-1002"))


async def test_payment_over_two_invoices_is_two_payments(provider: FreshBooksProvider,
                                                         ledger: Ledger,
                                                         control: httpx.AsyncClient,
                                                         tokens: SandboxTokens) -> None:
    await _two_invoices(provider, ledger)
    record = _payment(allocations=[Allocation(invoice_id="inv1", amount=Decimal("275.50")),
                                   Allocation(invoice_id="inv2", amount=Decimal("100.00"))],
                      method="check", reference="CHK 1001")
    ref = await ledger.push(provider, Entity.PAYMENT, record)
    first, _ = ref.remote_id.split(",")
    paid = (await _remote(control, tokens, f"payments/payments/{first}"))["payment"]
    assert (paid["type"], paid["note"], paid["amount"]) == (
        "Check", "CHK 1001 [syncdesk:p1]", {"amount": "275.50", "code": "USD"})
    inv1 = (await _remote(control, tokens,
                          f"invoices/invoices/{ledger.refs[(Entity.INVOICE, 'inv1')].remote_id}"))
    inv2 = (await _remote(control, tokens,
                          f"invoices/invoices/{ledger.refs[(Entity.INVOICE, 'inv2')].remote_id}"))
    assert (inv1["invoice"]["v3_status"], inv1["invoice"]["outstanding"]["amount"]) == ("paid",
                                                                                      "0.00")
    assert (inv2["invoice"]["payment_status"], inv2["invoice"]["outstanding"]["amount"]) == (
        "partial", "175.50")
    assert await provider.fetch(Entity.PAYMENT, ref.remote_id) == ref
    assert await provider.find(Entity.PAYMENT, record) == ref

    voided = await provider.push(ledger.request(Entity.PAYMENT, record, operation=Operation.VOID,
                                                link=ref))
    assert voided == ref
    assert await provider.fetch(Entity.PAYMENT, ref.remote_id) is None
    inv2 = (await _remote(control, tokens,
                          f"invoices/invoices/{ledger.refs[(Entity.INVOICE, 'inv2')].remote_id}"))
    assert inv2["invoice"]["outstanding"]["amount"] == "275.50"
    assert (await state(control))["objects"]["payment"] == 0


async def test_overpayment_becomes_a_client_credit(provider: FreshBooksProvider,
                                                   ledger: Ledger, app: object,
                                                   control: httpx.AsyncClient,
                                                   tokens: SandboxTokens) -> None:
    await _two_invoices(provider, ledger)
    record = _payment(amount="300.50")
    ref = await ledger.push(provider, Entity.PAYMENT, record)
    paid = (await _remote(control, tokens, f"payments/payments/{ref.remote_id}"))["payment"]
    assert paid["amount"]["amount"] == "300.50" and paid["overpaymentid"] is not None
    books = app.state.books  # type: ignore[attr-defined]
    assert books.overpayments[paid["overpaymentid"]]["amount"]["amount"] == Decimal("25.00")


async def test_overpayment_that_settles_nothing_is_unsupported(provider: FreshBooksProvider,
                                                               ledger: Ledger) -> None:
    await _two_invoices(provider, ledger)
    partial = _payment(allocations=[Allocation(invoice_id="inv1", amount=Decimal("100.00"))],
                       amount="150.00")
    with pytest.raises(Unsupported, match=r"leaves 50\.00 unapplied"):
        await provider.push(ledger.request(Entity.PAYMENT, partial))
    unallocated = Payment(id="p3", customer_id="c1", date=date(2026, 2, 1),
                          amount=Decimal("10.00"))
    with pytest.raises(Unsupported, match="applies to no invoice"):
        await provider.push(ledger.request(Entity.PAYMENT, unallocated))


async def test_refused_second_part_takes_back_the_first(provider: FreshBooksProvider,
                                                        ledger: Ledger,
                                                        control: httpx.AsyncClient) -> None:
    await _two_invoices(provider, ledger)
    ledger.refs[(Entity.INVOICE, "inv2")] = RemoteRef("999999")
    record = _payment(allocations=[Allocation(invoice_id="inv1", amount=Decimal("275.50")),
                                   Allocation(invoice_id="inv2", amount=Decimal("1.00"))])
    with pytest.raises(NotFound, match=r"Invoice not found\."):
        await provider.push(ledger.request(Entity.PAYMENT, record))
    assert (await state(control))["objects"]["payment"] == 0


def _credit(allocated: bool = True) -> CreditNote:
    return CreditNote(
        id="cn1", number="CN-0001", customer_id="c1", date=date(2026, 2, 3),
        lines=[Line(description="Goodwill discount", unit_price=Decimal("50.00"))],
        allocations=[Allocation(invoice_id="inv1", amount=Decimal("50.00"))] if allocated
        else [])


async def test_credit_note_applied_to_an_invoice(provider: FreshBooksProvider, ledger: Ledger,
                                                 control: httpx.AsyncClient,
                                                 tokens: SandboxTokens) -> None:
    await _two_invoices(provider, ledger)
    ref = await ledger.push(provider, Entity.CREDIT_NOTE, _credit())
    assert ref.number == "CN-0001"
    note = (await _remote(control, tokens,
                          f"credit_notes/credit_notes/{ref.remote_id}"))["credit_note"]
    assert (note["amount"]["amount"], note["balance"]["amount"], note["display_status"]) == (
        "50.00", "0.00", "applied")
    inv1 = ledger.refs[(Entity.INVOICE, "inv1")].remote_id
    remote = (await _remote(control, tokens, f"invoices/invoices/{inv1}"))["invoice"]
    assert remote["outstanding"]["amount"] == "225.50"
    assert await provider.find(Entity.CREDIT_NOTE, _credit()) == ref
    assert (await state(control))["objects"]["payment"] == 0  # applications are not payments
    with pytest.raises(Unsupported, match="once credit from it is applied"):
        await provider.push(ledger.request(Entity.CREDIT_NOTE, _credit(),
                                           operation=Operation.UPDATE, link=ref))

    await provider.push(ledger.request(Entity.CREDIT_NOTE, _credit(), operation=Operation.VOID,
                                       link=ref))
    assert await provider.fetch(Entity.CREDIT_NOTE, ref.remote_id) is None
    remote = (await _remote(control, tokens, f"invoices/invoices/{inv1}"))["invoice"]
    assert remote["outstanding"]["amount"] == "275.50"


async def test_credit_note_refused_application_leaves_nothing(provider: FreshBooksProvider,
                                                              ledger: Ledger,
                                                              control: httpx.AsyncClient) -> None:
    await ledger.basics(provider)
    await ledger.push(provider, Entity.INVOICE, invoice(
        lines=[Line(description="Small job", unit_price=Decimal("20.00"))]))


    with pytest.raises(Validation, match="outstanding balance"):
        await provider.push(ledger.request(Entity.CREDIT_NOTE, _credit()))
    assert (await state(control))["objects"]["credit_note"] == 0


async def test_list_customers_and_tax_codes_and_no_accounts(provider: FreshBooksProvider,
                                                            ledger: Ledger) -> None:
    await ledger.push(provider, Entity.CUSTOMER, customer(email="a@b.example", phone="555"))
    customers = [c async for c in provider.list_customers()]
    assert customers[-1] == RemoteCustomer(remote_id=ledger.refs[(Entity.CUSTOMER,
                                                                   "c1")].remote_id,
                                           display_name="Harbor View Dental",
                                           company="Harbor View Dental", email="a@b.example",
                                           phone="555")
    taxes = {t.code: t.rate async for t in provider.list_tax_codes()}
    assert taxes == {"Sales Tax": Decimal("8.00"), "GST": Decimal("5.00")}
    assert [a async for a in provider.list_accounts()] == []
    assert provider.quota() is None


async def test_batch_is_one_push_each(provider: FreshBooksProvider, ledger: Ledger) -> None:
    results = await provider.push_batch([
        ledger.request(Entity.CUSTOMER, customer("b1", "One")),
        ledger.request(Entity.CUSTOMER, customer("b2", "Riverside Property Group LLC")),
        ledger.request(Entity.CUSTOMER, customer("b3", "Three")),
    ])
    assert isinstance(results[0], RemoteRef) and isinstance(results[2], RemoteRef)
    assert isinstance(results[1], Duplicate)


async def test_fetch_of_deleted_and_unknown(provider: FreshBooksProvider, ledger: Ledger,
                                            control: httpx.AsyncClient) -> None:
    ref = await ledger.push(provider, Entity.CUSTOMER, customer())
    await control.post("/_sandbox/delete", json={"entity": "customer", "id": ref.remote_id})
    assert await provider.fetch(Entity.CUSTOMER, ref.remote_id) is None
    assert await provider.fetch(Entity.ITEM, "424242") is None
    assert await provider.find(Entity.CUSTOMER, customer()) is None


async def test_update_of_deleted_object_is_not_found(provider: FreshBooksProvider,
                                                     ledger: Ledger) -> None:
    with pytest.raises(NotFound, match=r"Client not found\."):
        await provider.push(ledger.request(Entity.CUSTOMER, customer(),
                                           operation=Operation.UPDATE, link=RemoteRef("777")))
