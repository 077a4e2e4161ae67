"""Every client operation against the sandbox: customers, products, invoices, reads."""

from __future__ import annotations

from decimal import Decimal

import pytest
from starlette.applications import Starlette
from wave_support import Ledger, Recording, addressed, customer, invoice, item

from engine import (
    ConnectionMappings,
    CreditNote,
    Entity,
    InvoiceStatus,
    Line,
    Operation,
    Payment,
    Unmapped,
    Unsupported,
)
from providers.wave import WaveProvider
from providers.wave.sandbox import account_id


async def test_customer_create_update_find_fetch(provider: WaveProvider, ledger: Ledger,
                                                 app: Starlette) -> None:
    ref = await ledger.push(provider, Entity.CUSTOMER, addressed())
    stored = app.state.books.customers[ref.remote_id]
    assert (stored["name"], stored["displayId"], stored["email"]) == (
        "Harbor View Dental", "syncdesk:c1", "billing@harborview.example")
    assert stored["address"]["province"]["code"] == "US-OR"
    assert stored["address"]["country"]["code"] == "US"
    renamed = customer(name="Harbor View Dental Group", email=None)
    updated = await ledger.push(provider, Entity.CUSTOMER, renamed,
                                operation=Operation.UPDATE, link=ref)
    assert updated.remote_id == ref.remote_id and updated.number == "Harbor View Dental Group"
    assert stored["email"] is None  # a patch carries every field: a cleared email is cleared
    assert await provider.find(Entity.CUSTOMER, renamed) == updated
    assert await provider.fetch(Entity.CUSTOMER, ref.remote_id) == updated


async def test_find_customer_prefers_our_display_id_over_a_namesake(
        provider: WaveProvider, ledger: Ledger) -> None:
    ours = await ledger.push(provider, Entity.CUSTOMER, customer("c9", email=None))
    stranger = customer("someone-else", email=None)
    await ledger.push(provider, Entity.CUSTOMER, stranger)  # Wave allows a second namesake
    assert await provider.find(Entity.CUSTOMER, customer("c9", email=None)) == ours


async def test_a_namesake_is_never_ours(provider: WaveProvider, ledger: Ledger) -> None:
    # The demo's own Riverside (same name, same email) was made by someone else.
    riverside = customer("C-0007", "Riverside Property Group LLC",
                         email="ap@riversidepg.example")
    assert await provider.find(Entity.CUSTOMER, riverside) is None
    ours = await ledger.push(provider, Entity.CUSTOMER, customer("c9", email=None))
    assert await provider.find(Entity.CUSTOMER, customer("c10", email=None)) is None
    assert await provider.find(Entity.CUSTOMER, customer("c9", "New name", None)) == ours


async def test_product_with_and_without_an_income_account(provider: WaveProvider,
                                                          ledger: Ledger,
                                                          app: Starlette) -> None:
    services = account_id(app.state.books, "Services")
    mapped = await ledger.push(provider, Entity.ITEM, item("i1", account=services))
    bare = await ledger.push(provider, Entity.ITEM, item("i2", "Labor"))
    products = app.state.books.products
    assert products[mapped.remote_id]["incomeAccount"]["name"] == "Services"
    assert products[bare.remote_id]["incomeAccount"]["name"] == "Sales"  # Wave's default
    repriced = item("i2", "Labor", price="55.50")
    await ledger.push(provider, Entity.ITEM, repriced, operation=Operation.UPDATE, link=bare)
    assert products[bare.remote_id]["unitPrice"] == Decimal("55.50")
    assert await provider.find(Entity.ITEM, repriced) == bare
    listed = {i.name: i async for i in provider.list_items()}
    assert listed["Labor"].unit_price == Decimal("55.50")
    assert listed["Gutter cleaning"].income_account == services


async def test_unknown_income_account_is_wave_validation(provider: WaveProvider,
                                                         ledger: Ledger) -> None:
    from engine import Validation

    with pytest.raises(Validation) as caught:
        await ledger.push(provider, Entity.ITEM, item(account="not-an-account"))
    assert caught.value.field == "input.incomeAccountId"


async def test_draft_invoice_then_sent_by_update(provider: WaveProvider, ledger: Ledger,
                                                 app: Starlette, recording: Recording) -> None:
    await ledger.basics(provider)
    draft = invoice()
    ref = await ledger.push(provider, Entity.INVOICE, draft)
    stored = app.state.books.invoices[ref.remote_id]
    assert (ref.number, stored["status"]) == ("SD-1001", "DRAFT")
    assert stored["total"]["value"] == "293.25"  # 2 x 120.00 + 1.5 x 35.50
    # A line without a description sends "": Wave would copy the product's (our mark).
    assert [line["description"] for line in stored["items"]] == ["Front", ""]
    sent = draft.model_copy(update={"status": InvoiceStatus.SENT})
    await ledger.push(provider, Entity.INVOICE, sent, operation=Operation.UPDATE, link=ref)
    assert stored["status"] == "SENT" and stored["lastSentVia"] == "MARKED_SENT"
    assert recording.operations()[-3:] == ["invoicePatch", "invoiceApprove", "invoiceMarkSent"]


async def test_sent_invoice_is_created_approved_then_marked_sent(
        provider: WaveProvider, ledger: Ledger, app: Starlette, recording: Recording) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice(status=InvoiceStatus.SENT))
    assert app.state.books.invoices[ref.remote_id]["status"] == "SENT"
    assert recording.operations()[-2:] == ["invoiceCreate", "invoiceMarkSent"]
    assert await provider.find(Entity.INVOICE, invoice()) == ref
    assert await provider.fetch(Entity.INVOICE, ref.remote_id) == ref


async def test_void_deletes_the_invoice_and_is_safe_to_repeat(provider: WaveProvider,
                                                              ledger: Ledger) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    voided = invoice().model_copy(update={"status": InvoiceStatus.VOID})
    request = ledger.request(Entity.INVOICE, voided, operation=Operation.VOID, link=ref)
    assert await provider.push(request) == ref
    assert await provider.fetch(Entity.INVOICE, ref.remote_id) is None
    assert await provider.find(Entity.INVOICE, voided) is None
    assert await provider.push(request) == ref  # a retry after a lost answer


async def test_invoice_needs_linked_customer_and_products(provider: WaveProvider,
                                                          ledger: Ledger,
                                                          recording: Recording) -> None:
    with pytest.raises(Unmapped, match="customer 'c1' of SD-1001 is not on Wave yet"):
        await ledger.push(provider, Entity.INVOICE, invoice())
    await ledger.push(provider, Entity.CUSTOMER, customer())
    with pytest.raises(Unmapped, match="item 'i1' of SD-1001 is not on Wave yet"):
        await ledger.push(provider, Entity.INVOICE, invoice())
    await ledger.push(provider, Entity.ITEM, item())
    bare_line = [Line(description="Call-out fee", unit_price=Decimal("35.50"))]
    with pytest.raises(Unmapped, match="every Wave invoice line needs a product"):
        await ledger.push(provider, Entity.INVOICE, invoice(lines=bare_line))
    assert "invoiceCreate" not in recording.operations()  # nothing was sent


async def test_line_tax_code_is_a_wave_sales_tax(provider: WaveProvider, ledger: Ledger,
                                                 app: Starlette) -> None:
    await ledger.basics(provider)
    [tax] = [t async for t in provider.list_tax_codes()]
    assert (tax.name, tax.rate) == ("Washington State Sales Tax", Decimal("6.5"))
    ledger.mappings = ConnectionMappings(tax_codes={"WA": tax.code})
    taxed = [Line(item_id="i1", unit_price=Decimal("100.00"), tax_code="WA",
                  tax_amount=Decimal("6.50"))]
    ref = await ledger.push(provider, Entity.INVOICE, invoice(lines=taxed))
    assert app.state.books.invoices[ref.remote_id]["total"]["value"] == "106.50"


async def test_payments_and_credit_notes_are_refused_without_a_call(
        provider: WaveProvider, recording: Recording) -> None:
    from datetime import date

    payment = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal(10))
    note = CreditNote(id="cn1", number="CN-1", customer_id="c1", date=date(2026, 2, 1),
                      lines=[Line(description="Refund", unit_price=Decimal(10))])
    before = len(recording.requests)
    for entity, record in ((Entity.PAYMENT, payment), (Entity.CREDIT_NOTE, note)):
        request = Ledger().request(entity, record)
        with pytest.raises(Unsupported, match="Wave's public API"):
            await provider.push(request)
        with pytest.raises(Unsupported):
            await provider.find(entity, record)
        with pytest.raises(Unsupported):
            await provider.fetch(entity, "x")
    assert len(recording.requests) == before


async def test_lists_walk_every_page(provider: WaveProvider, ledger: Ledger) -> None:
    for n in range(55):  # more than one page of 50
        await ledger.push(provider, Entity.CUSTOMER, customer(f"c{n}", f"Customer {n:02}",
                                                              email=None))
    names = [c.display_name async for c in provider.list_customers()]
    assert len(names) == 56 and "Riverside Property Group LLC" in names
    accounts = [a async for a in provider.list_accounts()]
    assert {"Sales", "Services", "Business Checking"} <= {a.name for a in accounts}
    assert {a.kind for a in accounts if a.name == "Sales"} == {"INCOME"}


async def test_batch_is_one_push_after_another(provider: WaveProvider, ledger: Ledger) -> None:
    results = await provider.push_batch([ledger.request(Entity.CUSTOMER, customer("a", "A")),
                                         ledger.request(Entity.INVOICE, invoice())])
    assert results[0].number == "A"  # type: ignore[union-attr]
    assert isinstance(results[1], Unmapped)
    assert provider.quota() is None
