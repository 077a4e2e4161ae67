"""Every provider operation against the sandbox, through the real OAuth flow."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date
from decimal import Decimal

import httpx
import pytest

from engine import (
    Allocation,
    ConnectionMappings,
    ConnectionSettings,
    CreditNote,
    Duplicate,
    Entity,
    Line,
    NotFound,
    Operation,
    Payment,
    RemoteRef,
    Stale,
    TotalMismatch,
    Unmapped,
)
from providers.quickbooks import QuickBooksProvider
from tests.providers._support import Ledger, SandboxTokens, state

from .conftest import Recorder, customer, invoice, item, raw_get


async def _basics(provider: QuickBooksProvider, ledger: Ledger) -> None:
    await ledger.push(provider, Entity.CUSTOMER, customer())
    await ledger.push(provider, Entity.ITEM, item())


async def test_customer_create_fetch_find_and_sparse_update(
        provider: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        tokens: SandboxTokens) -> None:
    ref = await ledger.push(provider, Entity.CUSTOMER,
                            customer(email="office@harborview.example", company="HV Dental"))
    assert (ref.version, ref.number) == ("0", "Harbor View Dental")
    assert await provider.fetch(Entity.CUSTOMER, ref.remote_id) == ref
    assert await provider.find(Entity.CUSTOMER, customer()) == ref

    renamed = customer(name="Harbor View Dental Group", email="office@harborview.example")
    updated = await ledger.push(provider, Entity.CUSTOMER, renamed,
                                operation=Operation.UPDATE, link=ref, key="k-c1-2")
    assert (updated.remote_id, updated.version) == (ref.remote_id, "1")
    remote = (await raw_get(control, tokens, f"customer/{ref.remote_id}"))["Customer"]
    # Sparse: CompanyName, which this update did not send, is still there.
    assert remote["DisplayName"] == "Harbor View Dental Group"
    assert remote["CompanyName"] == "HV Dental"


async def test_customer_made_by_a_person_is_not_ours(provider: QuickBooksProvider,
                                                     ledger: Ledger) -> None:
    riverside = customer("c9", "Riverside Property Group LLC")
    assert await provider.find(Entity.CUSTOMER, riverside) is None
    with pytest.raises(Duplicate) as caught:
        await provider.push(ledger.request(Entity.CUSTOMER, riverside))
    assert caught.value.code == "6240"
    assert "Another customer, vendor or employee is already using this name" in str(caught.value)


async def test_display_names_are_shared_with_vendors(provider: QuickBooksProvider,
                                                     ledger: Ledger) -> None:
    with pytest.raises(Duplicate):
        await provider.push(ledger.request(Entity.CUSTOMER, customer("c2",
                                                                     "Pacific Lumber Supply")))


async def test_item_without_income_account_is_unmapped_before_any_call(
        provider: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient) -> None:
    before = (await state(control))["requests"]
    with pytest.raises(Unmapped, match="item 'Labor' has no income account for QuickBooks"):
        await provider.push(ledger.request(Entity.ITEM, item("i2", "Labor", account=None)))
    assert (await state(control))["requests"] == before


async def test_item_create_find_and_list(provider: QuickBooksProvider, ledger: Ledger) -> None:
    ref = await ledger.push(provider, Entity.ITEM, item())
    assert ref.number == "Gutter cleaning"
    assert await provider.find(Entity.ITEM, item()) == ref
    listed = {i.remote_id: i async for i in provider.list_items()}
    assert listed[ref.remote_id].sku == "SKU-i1"
    assert listed[ref.remote_id].unit_price == Decimal("120")
    assert listed[ref.remote_id].income_account == "80"


async def test_an_item_of_the_same_name_made_by_a_person_is_not_ours(
        provider: QuickBooksProvider, ledger: Ledger) -> None:
    # The demo company already sells "Services"; our item of that name is a stranger's twin.
    assert await provider.find(Entity.ITEM, item("i7", "Services")) is None
    ours = await ledger.push(provider, Entity.ITEM, item("i8", "Stone Sealing"))
    assert await provider.find(Entity.ITEM, item("i8", "Stone Sealing")) == ours
    assert await provider.find(Entity.ITEM, item("i9", "Stone Sealing")) is None


async def test_invoice_create_computes_totals(provider: QuickBooksProvider, ledger: Ledger,
                                             control: httpx.AsyncClient,
                                             tokens: SandboxTokens) -> None:
    await _basics(provider, ledger)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    assert (ref.version, ref.number) == ("0", "SD-1001")
    remote = (await raw_get(control, tokens, f"invoice/{ref.remote_id}"))["Invoice"]
    assert remote["TotalAmt"] == remote["Balance"] == 275.5
    assert remote["Line"][-1] == {"Amount": 275.5, "DetailType": "SubTotalLineDetail",
                                  "SubTotalLineDetail": {}}
    assert [line["LineNum"] for line in remote["Line"][:-1]] == [1, 2]
    assert await provider.find(Entity.INVOICE, invoice()) == ref


async def test_invoice_line_with_unmapped_item_is_refused(provider: QuickBooksProvider,
                                                          ledger: Ledger) -> None:
    await ledger.push(provider, Entity.CUSTOMER, customer())
    ledger.items["i7"] = item("i7", "Labor", account=None)
    lines = [Line(item_id="i7", unit_price=Decimal(50))]
    with pytest.raises(Unmapped, match="item 'Labor' has no income account"):
        await provider.push(ledger.request(Entity.INVOICE, invoice(lines=lines)))


async def test_duplicate_document_number_names_the_holder(provider: QuickBooksProvider,
                                                          ledger: Ledger) -> None:
    await _basics(provider, ledger)
    with pytest.raises(Duplicate) as caught:
        await provider.push(ledger.request(Entity.INVOICE, invoice(number="INV-1042")))
    assert caught.value.code == "6140"
    assert caught.value.remote_id == "1"
    assert "DocNumber=INV-1042 is assigned to TxnType=Invoice with TxnId=1" in str(caught.value)
    assert caught.value.http_status == 400


async def test_invoice_update_stale_then_reread(provider: QuickBooksProvider,
                                                ledger: Ledger) -> None:
    await _basics(provider, ledger)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    changed = invoice(lines=[Line(item_id="i1", quantity=Decimal(3),
                                  unit_price=Decimal("120.00"))])
    first = await provider.push(ledger.request(Entity.INVOICE, changed, key="k-inv-2",
                                               operation=Operation.UPDATE, link=ref))
    assert first.version == "1"
    with pytest.raises(Stale) as caught:  # still holding SyncToken 0
        await provider.push(ledger.request(Entity.INVOICE, changed, key="k-inv-3",
                                           operation=Operation.UPDATE, link=ref))
    assert caught.value.code == "5010"
    # The engine re-reads (link without version) and retries with the same key.
    again = await provider.push(ledger.request(
        Entity.INVOICE, changed, key="k-inv-3", operation=Operation.UPDATE,
        link=RemoteRef(ref.remote_id)))
    assert again.version == "2"


async def test_invoice_void(provider: QuickBooksProvider, ledger: Ledger,
                            control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    await _basics(provider, ledger)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    voided = await provider.push(ledger.request(Entity.INVOICE, invoice(), key="k-void",
                                                operation=Operation.VOID, link=ref))
    assert voided.version == "1"
    remote = (await raw_get(control, tokens, f"invoice/{ref.remote_id}"))["Invoice"]
    assert (remote["TotalAmt"], remote["Balance"], remote["PrivateNote"]) == (0, 0, "Voided")


async def test_fetch_after_delete_behind_our_back(provider: QuickBooksProvider, ledger: Ledger,
                                                  control: httpx.AsyncClient) -> None:
    await _basics(provider, ledger)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    deleted = await control.post("/_sandbox/delete", json={"entity": "invoice",
                                                           "id": ref.remote_id})
    assert deleted.json() == {"deleted": True}
    assert await provider.fetch(Entity.INVOICE, ref.remote_id) is None
    with pytest.raises(NotFound) as caught:
        await provider.push(ledger.request(Entity.INVOICE, invoice(), key="k-void",
                                           operation=Operation.VOID, link=ref))
    assert "Another user has deleted this transaction." in str(caught.value)


async def test_payment_across_two_invoices_with_overpayment(
        provider: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        tokens: SandboxTokens) -> None:
    await _basics(provider, ledger)
    first = await ledger.push(provider, Entity.INVOICE, invoice())
    second = await ledger.push(provider, Entity.INVOICE, invoice("inv2", "SD-1002"))
    payment = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal(600),
                      reference="CHK 4411",
                      allocations=[Allocation(invoice_id="inv1", amount=Decimal("275.50")),
                                   Allocation(invoice_id="inv2", amount=Decimal(200))])
    ref = await ledger.push(provider, Entity.PAYMENT, payment)
    assert ref.number == "CHK 4411"
    remote = (await raw_get(control, tokens, f"payment/{ref.remote_id}"))["Payment"]
    assert remote["UnappliedAmt"] == 124.5
    one = (await raw_get(control, tokens, f"invoice/{first.remote_id}"))["Invoice"]
    two = (await raw_get(control, tokens, f"invoice/{second.remote_id}"))["Invoice"]
    assert (one["Balance"], two["Balance"]) == (0, 75.5)
    assert one["LinkedTxn"] == [{"TxnId": ref.remote_id, "TxnType": "Payment"}]
    assert await provider.find(Entity.PAYMENT, payment) == ref

    voided = await provider.push(ledger.request(Entity.PAYMENT, payment, key="k-pv",
                                                operation=Operation.VOID, link=ref))
    assert voided.version == "1"
    one = (await raw_get(control, tokens, f"invoice/{first.remote_id}"))["Invoice"]
    assert (one["Balance"], one["LinkedTxn"]) == (275.5, [])


async def test_credit_note_applied_through_a_linking_payment(
        provider: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        tokens: SandboxTokens) -> None:
    await _basics(provider, ledger)
    inv = await ledger.push(provider, Entity.INVOICE, invoice())
    note = CreditNote(id="cn1", number="CN-1", customer_id="c1", date=date(2026, 2, 2),
                      lines=[Line(description="Goodwill", unit_price=Decimal(50))],
                      allocations=[Allocation(invoice_id="inv1", amount=Decimal(30))])
    memo = await ledger.push(provider, Entity.CREDIT_NOTE, note)
    assert memo.number == "CN-1"
    remote_invoice = (await raw_get(control, tokens, f"invoice/{inv.remote_id}"))["Invoice"]
    remote_memo = (await raw_get(control, tokens, f"creditmemo/{memo.remote_id}"))["CreditMemo"]
    assert (remote_invoice["Balance"], remote_memo["Balance"]) == (245.5, 20)

    more = note.model_copy(update={"allocations": [Allocation(invoice_id="inv1",
                                                              amount=Decimal(50))]})
    await provider.push(ledger.request(Entity.CREDIT_NOTE, more, key="k-cn-2",
                                       operation=Operation.UPDATE, link=memo))
    remote_invoice = (await raw_get(control, tokens, f"invoice/{inv.remote_id}"))["Invoice"]
    assert remote_invoice["Balance"] == 225.5
    assert (await state(control))["objects"]["payment"] == 1  # the same payment, updated
    assert await provider.find(Entity.CREDIT_NOTE, note) is not None


class _Together(httpx.AsyncBaseTransport):
    """Holds every credit memo write until `count` of them are on their way at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport, count: int) -> None:
        self.inner = inner
        self.count = count
        self.arrived = 0
        self.all_here = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/creditmemo"):
            self.arrived += 1
            if self.arrived == self.count:
                self.all_here.set()
            # Sent one after another, the first never sees the others: the client's own
            # timeout ends its wait and the push fails.
            await self.all_here.wait()
        return await self.inner.handle_async_request(request)


async def test_batch_sends_credit_notes_that_apply_credit_side_by_side(
        settings: ConnectionSettings, tokens: SandboxTokens, ledger: Ledger,
        recorder: httpx.AsyncBaseTransport, control: httpx.AsyncClient) -> None:
    together = _Together(recorder, 3)
    provider = QuickBooksProvider(replace(settings, transport=together), tokens)
    await _basics(provider, ledger)
    await ledger.push(provider, Entity.INVOICE, invoice())
    notes = [CreditNote(id=f"cn{n}", number=f"CN-{n}", customer_id="c1", date=date(2026, 2, 2),
                        lines=[Line(description="Goodwill", unit_price=Decimal(10))],
                        allocations=[Allocation(invoice_id="inv1", amount=Decimal(10))])
             for n in range(3)]
    results = await provider.push_batch([ledger.request(Entity.CREDIT_NOTE, note)
                                         for note in notes])
    await provider.aclose()
    assert [getattr(r, "number", r) for r in results] == ["CN-0", "CN-1", "CN-2"]
    assert (await state(control))["objects"]["payment"] == 3  # each applied once


async def test_lists_page_through_everything(settings: object, tokens: SandboxTokens,
                                             ledger: Ledger) -> None:
    from dataclasses import replace

    paged = QuickBooksProvider(replace(settings, options={"page_size": 2}), tokens)  # type: ignore[type-var]
    for n in range(4):
        await ledger.push(paged, Entity.CUSTOMER, customer(f"c{n}", f"Customer {n}"))
    names = [c.display_name async for c in paged.list_customers()]
    assert names == ["Riverside Property Group LLC", *(f"Customer {n}" for n in range(4))]
    accounts = {a.code: a async for a in paged.list_accounts()}
    assert (accounts["79"].name, accounts["79"].kind) == ("Sales of Product Income", "Income")
    assert accounts["4"].name == "Undeposited Funds"
    assert {t.code async for t in paged.list_tax_codes()} >= {"TAX", "NON"}
    assert paged.quota() is None
    await paged.aclose()


async def test_the_pick_lists_are_quickbooks_own(provider: QuickBooksProvider) -> None:
    assert [(o.id, o.name) async for o in provider.list_payment_methods()] == [
        ("1", "Cash"), ("2", "Check"), ("3", "Visa"), ("4", "MasterCard"), ("5", "Card"),
        ("6", "Bank Transfer")]  # QBO's defaults, and the demo business's own two
    assert [(o.id, o.name) async for o in provider.list_classes()] == [
        ("1", "Residential"), ("2", "Commercial")]
    assert [(o.id, o.name) async for o in provider.list_locations()] == [
        ("1", "North Yard"), ("2", "South Yard")]
    kinds = {a.code: a.kind async for a in provider.list_accounts()}
    assert (kinds["35"], kinds["80"]) == ("Bank", "Income")  # deposit and income pickers
    rates = {t.code: t.rate async for t in provider.list_tax_codes()}
    assert rates == {"TAX": None, "NON": None, "2": Decimal(8), "4": Decimal("6.85")}


async def test_a_batched_invoice_whose_total_differs_fails_linked(
        provider: QuickBooksProvider, ledger: Ledger) -> None:
    await _basics(provider, ledger)
    mappings = ConnectionMappings(tax_codes={"CA": "2", "NV": "4"})
    right = invoice("b1", "SD-B1", lines=[Line(description="Tile", unit_price=Decimal(100),
                                               tax_code="CA", tax_amount=Decimal(8))])
    wrong = invoice("b2", "SD-B2", lines=[Line(description="Tile", unit_price=Decimal(100),
                                               tax_code="NV", tax_amount=Decimal(8))])
    results = await provider.push_batch([
        replace(ledger.request(Entity.INVOICE, record), mappings=mappings)
        for record in (right, wrong)])
    assert isinstance(results[0], RemoteRef) and results[0].number == "SD-B1"
    mismatch = results[1]
    assert isinstance(mismatch, TotalMismatch) and isinstance(mismatch.ref, RemoteRef)
    assert (mismatch.ledger_total, mismatch.platform_total) == (Decimal(108),
                                                                Decimal("106.85"))
    assert mismatch.ref.number == "SD-B2"


async def test_batch_one_bad_item_leaves_neighbours_alone(
        provider: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient) -> None:
    requests = [ledger.request(Entity.CUSTOMER, customer("b1", "Alder Street Bakery")),
                ledger.request(Entity.CUSTOMER, customer("b2", "Riverside Property Group LLC")),
                ledger.request(Entity.ITEM, item("b3", "Labor", account=None)),
                ledger.request(Entity.CUSTOMER, customer("b4", "Birch Lane Clinic"))]
    results = await provider.push_batch(requests)
    assert isinstance(results[0], RemoteRef) and results[0].number == "Alder Street Bakery"
    assert isinstance(results[1], Duplicate) and results[1].code == "6240"
    assert isinstance(results[2], Unmapped)
    assert isinstance(results[3], RemoteRef) and results[3].number == "Birch Lane Clinic"
    assert (await state(control))["objects"]["customer"] == 3


async def test_batch_splits_at_thirty(provider: QuickBooksProvider, ledger: Ledger,
                                      recorder: object) -> None:
    requests = [ledger.request(Entity.CUSTOMER, customer(f"c{n}", f"Batch customer {n}"))
                for n in range(31)]
    results = await provider.push_batch(requests)
    assert all(isinstance(r, RemoteRef) for r in results)
    batches = [r for r in recorder.requests if r.url.path.endswith("/batch")]  # type: ignore[attr-defined]
    assert len(batches) == 2


async def test_payment_update_moves_the_application(provider: QuickBooksProvider,
                                                    ledger: Ledger, control: httpx.AsyncClient,
                                                    tokens: SandboxTokens) -> None:
    await _basics(provider, ledger)
    inv = await ledger.push(provider, Entity.INVOICE, invoice())
    payment = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal(100),
                      allocations=[Allocation(invoice_id="inv1", amount=Decimal(100))])
    ref = await ledger.push(provider, Entity.PAYMENT, payment)
    smaller = payment.model_copy(update={"allocations": [Allocation(invoice_id="inv1",
                                                                    amount=Decimal(40))]})
    updated = await provider.push(ledger.request(Entity.PAYMENT, smaller, key="k-p-2",
                                                 operation=Operation.UPDATE, link=ref))
    assert updated.version == "1"
    remote = (await raw_get(control, tokens, f"invoice/{inv.remote_id}"))["Invoice"]
    assert remote["Balance"] == 235.5
    remote_payment = (await raw_get(control, tokens, f"payment/{ref.remote_id}"))["Payment"]
    assert remote_payment["UnappliedAmt"] == 60


async def test_an_update_that_drops_the_tax_drops_the_sales_tax_code(
        provider: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        tokens: SandboxTokens) -> None:
    await _basics(provider, ledger)
    mappings = ConnectionMappings(tax_codes={"CA": "2"})
    taxed = invoice(lines=[Line(description="Tile", unit_price=Decimal(100), tax_code="CA",
                                tax_amount=Decimal(8))])
    ref = await provider.push(replace(ledger.request(Entity.INVOICE, taxed), mappings=mappings))
    untaxed = invoice(lines=[Line(description="Tile", unit_price=Decimal(100))])
    await provider.push(replace(ledger.request(Entity.INVOICE, untaxed, link=ref, key="k2",
                                               operation=Operation.UPDATE), mappings=mappings))
    remote = (await raw_get(control, tokens, f"invoice/{ref.remote_id}"))["Invoice"]
    assert (remote["TotalAmt"], remote["TxnTaxDetail"]) == (100, {"TotalTax": 0})


async def test_a_void_whose_answer_was_lost_is_not_sent_again(
        provider: QuickBooksProvider, ledger: Ledger, recorder: Recorder) -> None:
    await _basics(provider, ledger)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    void = ledger.request(Entity.INVOICE, invoice(), operation=Operation.VOID, link=ref,
                          key="k-void")
    await provider.push(void)
    writes = len(recorder.api_writes())
    again = await provider.push(void)
    assert (again.remote_id, len(recorder.api_writes())) == (ref.remote_id, writes)
