"""Xero field by field: taxes, totals, tracking, accounts, lists, void/delete, edited payments,
overpayments and batches (issue #12; batches for #11). Requests are spec-checked by the
`provider` fixture."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from xero_support import api_requests

from engine import (
    Allocation,
    ConnectionMappings,
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
    SyncError,
    TotalMismatch,
    Transient,
    Unmapped,
    Validation,
)
from providers.xero import XeroProvider
from tests.providers._support import Recording

API = "/api.xro/2.0"
MAPPINGS = ConnectionMappings(tax_codes={"STD": "OUTPUT", "CITY": "TAX001"},
                              classes={"res": "Service: Residential"},
                              locations={"north": "Region: North", "svc": "Service: Commercial"},
                              default_income_account="200", deposit_account="090")
ALICE = Customer(id="c-alice", display_name="Alice Homeowner")
LABOR = Item(id="it-labor", sku="LAB-1", name="Labor", unit_price=Decimal(100),
             income_account="200")
DAY = date(2026, 3, 2)


class Books:
    """The refs and mappings the engine would hand the provider."""

    def __init__(self, provider: XeroProvider, mappings: ConnectionMappings = MAPPINGS) -> None:
        self.provider = provider
        self.mappings = mappings
        self.refs: dict[tuple[Entity, str], RemoteRef] = {}

    def request(self, entity: Entity, record: Record, operation: Operation = Operation.CREATE,
                key: str | None = None) -> PushRequest:
        return PushRequest(entity=entity, operation=operation, record=record,
                           idempotency_key=key or f"k-{record.id}-{operation.value}",
                           link=self.refs.get((entity, record.id)), refs=dict(self.refs),
                           items={LABOR.id: LABOR}, mappings=self.mappings)

    async def push(self, entity: Entity, record: Record,
                   operation: Operation = Operation.CREATE, key: str | None = None) -> RemoteRef:
        ref = await self.provider.push(self.request(entity, record, operation, key))
        self.refs[(entity, record.id)] = ref
        return ref

    async def basics(self) -> None:
        await self.push(Entity.CUSTOMER, ALICE)
        await self.push(Entity.ITEM, LABOR)


def invoice(number: str, *lines: Line, status: InvoiceStatus = InvoiceStatus.SENT,
            inclusive: bool = False) -> Invoice:
    return Invoice(id=f"inv-{number}", number=number, customer_id=ALICE.id, issue_date=DAY,
                   status=status, tax_inclusive=inclusive,
                   lines=list(lines) or [Line(item_id=LABOR.id, unit_price=Decimal(100))])


def payment(record_id: str, amount: str, *parts: tuple[str, str]) -> Payment:
    return Payment(id=record_id, customer_id=ALICE.id, date=DAY, amount=Decimal(amount),
                   allocations=[Allocation(invoice_id=i, amount=Decimal(a)) for i, a in parts])


def sent(recording: Recording, method: str, path_end: str) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in api_requests(recording)
            if r.method == method and r.url.path.endswith(path_end)]


@pytest.fixture
async def books(provider: XeroProvider) -> Books:
    books = Books(provider)
    await books.basics()
    return books


# -- taxes and totals -----------------------------------------------------------------------

async def test_an_untaxed_line_says_none_and_lands_untaxed(books: Books, app: Starlette,
                                                           recording: Recording) -> None:
    ref = await books.push(Entity.INVOICE, invoice("T-1"))
    [body] = sent(recording, "PUT", "/Invoices")
    assert body["Invoices"][0]["LineItems"][0]["TaxType"] == "NONE"
    assert body["Invoices"][0]["LineAmountTypes"] == "Exclusive"
    assert app.state.company.invoices[ref.remote_id]["Total"] == Decimal(100)  # not 110


async def test_the_connections_untaxed_code_is_sent_where_mapped(
        provider: XeroProvider, recording: Recording) -> None:
    books = Books(provider, ConnectionMappings(no_tax_code="NONE", deposit_account="090"))
    await books.basics()
    await books.push(Entity.INVOICE, invoice("T-2"))
    assert sent(recording, "PUT", "/Invoices")[0]["Invoices"][0]["LineItems"][0][
        "TaxType"] == "NONE"


async def test_an_unmapped_tax_code_sends_nothing(books: Books, recording: Recording) -> None:
    before = len(api_requests(recording))
    record = invoice("T-3", Line(item_id=LABOR.id, unit_price=Decimal(100), tax_code="GST",
                                 tax_amount=Decimal(10)))
    with pytest.raises(Unmapped, match="tax code 'GST' is not mapped to a Xero tax rate"):
        await books.push(Entity.INVOICE, record)
    assert len(api_requests(recording)) == before


async def test_a_total_xero_computes_otherwise_links_and_names_both(books: Books,
                                                                  app: Starlette) -> None:
    """The ledger charged 8.88 (its city rate); the connection maps the code to OUTPUT
    (10 %): Xero's total is 110.00, and the push says so with the document linked."""
    line = Line(item_id=LABOR.id, unit_price=Decimal(100), tax_code="STD",
                tax_amount=Decimal("8.88"))
    record = invoice("T-4", line)
    with pytest.raises(TotalMismatch) as caught:
        await books.push(Entity.INVOICE, record)
    mismatch = caught.value
    assert (mismatch.ledger_total, mismatch.platform_total) == (Decimal("108.88"),
                                                                Decimal("110.00"))
    assert "108.88" in mismatch.message and "110.00" in mismatch.message
    assert isinstance(mismatch.ref, RemoteRef)
    books.refs[(Entity.INVOICE, record.id)] = mismatch.ref
    books.mappings = ConnectionMappings(tax_codes={"STD": "TAX001"}, deposit_account="090")
    again = await books.push(Entity.INVOICE, record, Operation.UPDATE)
    assert again.remote_id == mismatch.ref.remote_id  # the same document, updated
    assert app.state.company.invoices[again.remote_id]["Total"] == Decimal("108.88")


async def test_inclusive_amounts_carry_their_tax_inside(books: Books, app: Starlette) -> None:
    line = Line(item_id=LABOR.id, unit_price=Decimal("108.875"), tax_code="CITY",
                tax_amount=Decimal("8.88"))
    ref = await books.push(Entity.INVOICE, invoice("T-5", line, inclusive=True))
    stored = app.state.company.invoices[ref.remote_id]
    assert (stored["LineAmountTypes"], stored["Total"], stored["TotalTax"]) == \
        ("Inclusive", Decimal("108.88"), Decimal("8.88"))


# -- fields sent or refused -----------------------------------------------------------------

async def test_class_and_location_become_tracking(books: Books, app: Starlette) -> None:
    line = Line(item_id=LABOR.id, unit_price=Decimal(100), class_="res", location="north")
    ref = await books.push(Entity.INVOICE, invoice("F-1", line))
    [tracked] = [line["Tracking"]
                 for line in app.state.company.invoices[ref.remote_id]["LineItems"]]
    assert {(t["Name"], t["Option"]) for t in tracked} == {("Service", "Residential"),
                                                           ("Region", "North")}
    assert all(t["TrackingCategoryID"] and t["TrackingOptionID"] for t in tracked)


@pytest.mark.parametrize(("line", "reason"), [
    (Line(description="x", unit_price=Decimal(1), class_="com"),
     "class 'com' is not mapped to a Xero tracking option"),
    (Line(description="x", unit_price=Decimal(1), location="south"),
     "location 'south' is not mapped to a Xero tracking option"),
    (Line(description="x", unit_price=Decimal(1), class_="res", location="svc"),
     "both map to Xero tracking category 'Service'"),
])
async def test_unmapped_tracking_is_refused_with_its_fix(books: Books, line: Line,
                                                         reason: str) -> None:
    with pytest.raises(Unmapped, match=reason):
        await books.push(Entity.INVOICE, invoice("F-2", line))


async def test_a_line_without_item_needs_a_default_income_account(
        provider: XeroProvider, app: Starlette) -> None:
    books = Books(provider, ConnectionMappings(deposit_account="090"))
    await books.basics()
    line = Line(description="Call-out", unit_price=Decimal(60))
    with pytest.raises(Unmapped, match="no default income account: map one"):
        await books.push(Entity.INVOICE, invoice("F-3", line))
    books.mappings = ConnectionMappings(default_income_account="260")
    ref = await books.push(Entity.INVOICE, invoice("F-3", line))
    assert app.state.company.invoices[ref.remote_id]["LineItems"][0]["AccountCode"] == "260"


async def test_an_item_mapping_wins_over_the_items_own_account(
        provider: XeroProvider, app: Starlette) -> None:
    books = Books(provider, ConnectionMappings(income_accounts={LABOR.id: "260"}))
    await books.basics()
    ref = await books.push(Entity.INVOICE, invoice("F-4"))
    assert app.state.company.invoices[ref.remote_id]["LineItems"][0]["AccountCode"] == "260"
    item = next(iter(app.state.company.items.values()))
    assert item["SalesDetails"]["AccountCode"] == "260"


async def test_an_item_linked_at_setup_sends_its_xero_code(
        settings: Any, tokens: Any, app: Starlette, recording: Recording) -> None:
    """A provider that did not write the link reads the codes once, then remembers them."""
    from providers.xero import PLATFORM
    seeded = app.state.company.save_item({"Code": "TILE-X", "Name": "Tile",
                                          "SalesDetails": {"AccountCode": "200"}}, None).element
    provider = PLATFORM.provider(settings, tokens)
    books = Books(provider)
    await books.push(Entity.CUSTOMER, ALICE)
    books.refs[(Entity.ITEM, LABOR.id)] = RemoteRef(seeded["ItemID"], number="Tile")
    for number in ("F-5", "F-6"):
        await books.push(Entity.INVOICE, invoice(number))
    await provider.aclose()
    assert [b["Invoices"][0]["LineItems"][0]["ItemCode"]
            for b in sent(recording, "PUT", "/Invoices")] == ["TILE-X", "TILE-X"]
    assert len([r for r in api_requests(recording)
                if r.method == "GET" and r.url.path == f"{API}/Items"]) == 1


# -- deposit accounts -------------------------------------------------------------------------

async def test_payments_need_a_bank_account_the_organisation_has(
        provider: XeroProvider, app: Starlette, recording: Recording) -> None:
    books = Books(provider, ConnectionMappings())
    await books.basics()
    await books.push(Entity.INVOICE, invoice("D-1"))
    company = app.state.company
    company.accounts[:] = [a for a in company.accounts if a.get("Code") != "090"]
    savings = next(a for a in company.accounts if a["Type"] == "BANK")
    with pytest.raises(Unmapped, match=f"has no account 090: map one of its bank accounts "
                                       f"\\({savings['AccountID']}"):
        await books.push(Entity.PAYMENT, payment("p-1", "40", ("inv-D-1", "40")))
    assert sent(recording, "PUT", "/Payments") == []
    books.mappings = ConnectionMappings(deposit_account=savings["AccountID"])
    ref = await books.push(Entity.PAYMENT, payment("p-1", "40", ("inv-D-1", "40")))
    assert company.payments[ref.remote_id]["Account"]["AccountID"] == savings["AccountID"]


async def test_without_a_mapping_an_existing_090_is_used(provider: XeroProvider,
                                                         app: Starlette) -> None:
    books = Books(provider, ConnectionMappings())
    await books.basics()
    await books.push(Entity.INVOICE, invoice("D-2"))
    ref = await books.push(Entity.PAYMENT, payment("p-2", "40", ("inv-D-2", "40")))
    assert app.state.company.payments[ref.remote_id]["Account"]["Code"] == "090"


# -- lists ------------------------------------------------------------------------------------

async def test_lists_for_the_mapping_pickers(provider: XeroProvider) -> None:
    assert [m async for m in provider.list_payment_methods()] == []
    classes = [o.id async for o in provider.list_classes()]
    assert classes == ["Region: North", "Region: South", "Service: Residential",
                       "Service: Commercial"]
    assert [o.id async for o in provider.list_locations()] == classes
    banks = [a async for a in provider.list_accounts() if a.kind == "BANK"]
    assert [a.name for a in banks] == ["Business Bank Account", "Business Savings Account"]
    assert banks[1].code != "" and len(banks[1].code) == 36  # no code: its AccountID
    rates = {t.code: t.rate async for t in provider.list_tax_codes()}
    assert rates["TAX001"] == Decimal("8.875") and rates["NONE"] == 0


# -- void and delete --------------------------------------------------------------------------

async def test_a_paid_invoice_is_not_voided_and_its_payment_is_named(
        books: Books, app: Starlette) -> None:
    ref = await books.push(Entity.INVOICE, invoice("V-1"))
    paid = Payment(id="p-v1", customer_id=ALICE.id, date=DAY, amount=Decimal(30),
                   reference="CHK-9", allocations=[Allocation(invoice_id="inv-V-1",
                                                              amount=Decimal(30))])
    await books.push(Entity.PAYMENT, paid)
    for operation in (Operation.VOID, Operation.DELETE):
        with pytest.raises(Validation, match=r"cannot \w+ invoice V-1: payment 30.00 "
                                             r"\(Reference 'CHK-9 syncdesk:p-v1'\)"):
            await books.push(Entity.INVOICE, invoice("V-1"), operation)
    assert app.state.company.invoices[ref.remote_id]["Status"] == "AUTHORISED"
    await books.push(Entity.PAYMENT, paid, Operation.VOID)
    await books.push(Entity.INVOICE, invoice("V-1"), Operation.DELETE)
    assert app.state.company.invoices[ref.remote_id]["Status"] == "VOIDED"


async def test_a_deleted_draft_is_deleted(books: Books, app: Starlette) -> None:
    draft = invoice("V-2", status=InvoiceStatus.DRAFT)
    ref = await books.push(Entity.INVOICE, draft)
    assert await books.push(Entity.INVOICE, draft, Operation.DELETE) == ref
    assert app.state.company.invoices[ref.remote_id]["Status"] == "DELETED"
    assert await books.provider.fetch(Entity.INVOICE, ref.remote_id) is None


async def test_an_allocated_credit_note_is_not_voided(books: Books, app: Starlette) -> None:
    await books.push(Entity.INVOICE, invoice("V-3"))
    note = CreditNote(id="cn-v3", number="CN-V3", customer_id=ALICE.id, date=DAY,
                      lines=[Line(description="Refund", unit_price=Decimal(20))],
                      allocations=[Allocation(invoice_id="inv-V-3", amount=Decimal(20))])
    ref = await books.push(Entity.CREDIT_NOTE, note)
    with pytest.raises(Validation, match=r"allocation of 20\.00 to invoice V-3"):
        await books.push(Entity.CREDIT_NOTE, note, Operation.VOID)
    free = note.model_copy(update={"id": "cn-v4", "number": "CN-V4", "allocations": []})
    other = await books.push(Entity.CREDIT_NOTE, free)
    await books.push(Entity.CREDIT_NOTE, free, Operation.DELETE)
    assert app.state.company.credit_notes[other.remote_id]["Status"] == "VOIDED"
    assert app.state.company.credit_notes[ref.remote_id]["Status"] == "PAID"


# -- edited payments and overpayments ---------------------------------------------------------

async def test_an_edited_payment_is_replaced_exactly_once_after_a_lost_answer(
        books: Books, app: Starlette, control: httpx.AsyncClient) -> None:
    await books.push(Entity.INVOICE, invoice("E-1"))
    first = await books.push(Entity.PAYMENT, payment("p-e1", "40", ("inv-E-1", "40")))
    edit = payment("p-e1", "55", ("inv-E-1", "55"))
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "PUT",
                                                 "path_contains": "/Payments"})
    with pytest.raises(Transient):
        await books.push(Entity.PAYMENT, edit, Operation.UPDATE, key="k-edit")
    found = await books.provider.find(Entity.PAYMENT, edit)  # the mark finds the new one
    assert found is not None and found.remote_id != first.remote_id
    # A resend without the lookup: the old one is already gone, the key replays the create.
    again = await books.push(Entity.PAYMENT, edit, Operation.UPDATE, key="k-edit")
    assert again == found
    company = app.state.company
    assert company.payments[first.remote_id]["Status"] == "DELETED"
    assert company.payments[found.remote_id]["Amount"] == Decimal(55)
    marks = (await control.get("/_sandbox/marks")).json()
    assert marks["parts"]["payment"] == {"p-e1": {"inv-E-1": 1}}


async def test_an_overpayment_cut_short_before_its_allocations_is_finished_by_the_lookup(
        books: Books, app: Starlette, control: httpx.AsyncClient) -> None:
    """Created, its answer lost, never allocated (a kill lands there too). The engine looks
    before it resends, and resends under the same key, which Xero answers with the first
    create again: a voided one could never be allocated, so the lookup finishes it."""
    await books.push(Entity.INVOICE, invoice("O-1"))
    over = payment("p-o1", "130", ("inv-O-1", "100"))
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "PUT",
                                                 "path_contains": "/BankTransactions"})
    with pytest.raises(Transient):
        await books.push(Entity.PAYMENT, over)
    ref = await books.provider.find(Entity.PAYMENT, over)
    assert ref is not None and ref.remote_id.startswith("overpayment:")
    books.refs[(Entity.PAYMENT, over.id)] = ref
    assert await books.provider.find(Entity.PAYMENT, over) == ref
    assert await books.provider.fetch(Entity.PAYMENT, ref.remote_id) == ref
    assert ref.remote_id in [r.remote_id async for r in books.provider.list_remote(Entity.PAYMENT)]
    company = app.state.company
    [invoice_row] = [i for i in company.invoices.values() if i["InvoiceNumber"] == "O-1"]
    assert (invoice_row["AmountDue"], invoice_row["Status"]) == (Decimal(0), "PAID")
    marks = (await control.get("/_sandbox/marks")).json()
    assert marks["parts"]["payment"] == {"p-o1": {"inv-O-1": 1}}
    # Voided: its allocation goes first, then the transaction; the invoice is due again.
    await books.push(Entity.PAYMENT, over, Operation.VOID)
    assert await books.provider.fetch(Entity.PAYMENT, ref.remote_id) is None
    assert invoice_row["AmountDue"] == Decimal(100)


async def test_an_overpayment_whose_allocation_gets_no_answer_stays_to_be_finished(
        books: Books, app: Starlette, control: httpx.AsyncClient) -> None:
    """Voided after a 5xx, the resend under its key got that voided one back from Xero and
    its allocation was refused ("Only an AUTHORISED overpayment can be allocated")."""
    await books.push(Entity.INVOICE, invoice("O-3"))
    over = payment("p-o3", "130", ("inv-O-3", "100"))
    await control.post("/_sandbox/faults", json={"kind": "error", "status": 503,
                                                 "method": "PUT",
                                                 "path_contains": "/Allocations"})
    with pytest.raises(Transient):
        await books.push(Entity.PAYMENT, over)
    assert await books.provider.find(Entity.PAYMENT, over) is not None
    marks = (await control.get("/_sandbox/marks")).json()
    assert marks["parts"]["payment"] == {"p-o3": {"inv-O-3": 1}}
    [invoice_row] = [i for i in app.state.company.invoices.values()
                     if i["InvoiceNumber"] == "O-3"]
    assert invoice_row["AmountDue"] == Decimal(0)


async def test_an_overpayment_whose_allocation_is_refused_is_undone(
        books: Books, app: Starlette) -> None:
    """Whole or not at all: Xero said no to the allocation, so nothing of it stays."""
    await books.push(Entity.INVOICE, invoice("O-4"))
    await books.push(Entity.PAYMENT, payment("p-o4a", "80", ("inv-O-4", "80")))
    with pytest.raises(Validation):
        await books.push(Entity.PAYMENT, payment("p-o4b", "130", ("inv-O-4", "100")))
    assert all(t["Status"] == "DELETED" for t in app.state.company.bank_transactions.values())


async def test_a_payment_edited_into_an_overpayment(books: Books, app: Starlette) -> None:
    await books.push(Entity.INVOICE, invoice("O-2"))
    plain = await books.push(Entity.PAYMENT, payment("p-o2", "60", ("inv-O-2", "60")))
    over = await books.push(Entity.PAYMENT, payment("p-o2", "150", ("inv-O-2", "100")),
                            Operation.UPDATE)
    assert app.state.company.payments[plain.remote_id]["Status"] == "DELETED"
    transaction = app.state.company.bank_transactions[over.remote_id.split(":")[1]]
    assert transaction["Total"] == Decimal(150)


# -- batches ----------------------------------------------------------------------------------

async def test_payments_go_in_one_request_each_answering_for_itself(
        books: Books, app: Starlette, recording: Recording) -> None:
    for number in ("B-1", "B-2"):
        await books.push(Entity.INVOICE, invoice(number))
    good = payment("p-b1", "30", ("inv-B-1", "30"))
    split = payment("p-b2", "120", ("inv-B-1", "20"), ("inv-B-2", "100"))
    too_much = payment("p-b3", "500", ("inv-B-1", "500"))
    results = await books.provider.push_batch(
        [books.request(Entity.PAYMENT, p) for p in (good, split, too_much)])
    [body] = sent(recording, "PUT", "/Payments")
    assert len(body["Payments"]) == 4
    assert isinstance(results[0], RemoteRef) and isinstance(results[1], RemoteRef)
    assert len(results[1].remote_id.split(",")) == 2
    assert isinstance(results[2], Validation) and "exceeds" in results[2].message
    live = [p for p in app.state.company.payments.values() if p["Status"] != "DELETED"]
    assert sorted(p["Amount"] for p in live) == [Decimal(20), Decimal(30), Decimal(100)]


async def test_a_split_payment_with_one_part_refused_is_undone(
        books: Books, app: Starlette) -> None:
    await books.push(Entity.INVOICE, invoice("B-3"))
    await books.push(Entity.INVOICE, invoice("B-4"))
    split = payment("p-b4", "150.01", ("inv-B-3", "50"), ("inv-B-4", "100.01"))
    [result] = await books.provider.push_batch([books.request(Entity.PAYMENT, split)])
    assert isinstance(result, SyncError)
    assert all(p["Status"] == "DELETED" for p in app.state.company.payments.values())


async def test_credit_notes_go_in_one_request_then_allocate(
        books: Books, app: Starlette, recording: Recording) -> None:
    await books.push(Entity.INVOICE, invoice("C-1"))
    notes = [CreditNote(id=f"cn-{n}", number=f"CN-{n}", customer_id=ALICE.id, date=DAY,
                        lines=[Line(description="Refund", unit_price=Decimal(10))],
                        allocations=[Allocation(invoice_id="inv-C-1", amount=Decimal(10))])
             for n in (1, 2)]
    results = await books.provider.push_batch(
        [books.request(Entity.CREDIT_NOTE, n) for n in notes])
    assert all(isinstance(r, RemoteRef) for r in results)
    assert len(sent(recording, "PUT", "/CreditNotes")) == 1
    [row] = [i for i in app.state.company.invoices.values() if i["InvoiceNumber"] == "C-1"]
    assert row["AmountDue"] == Decimal(80)


# -- the sandbox is as strict as Xero ---------------------------------------------------------

async def test_the_sandbox_drops_fields_xero_does_not_know(api: httpx.AsyncClient,
                                                          books: Books) -> None:
    contact = books.refs[(Entity.CUSTOMER, ALICE.id)].remote_id
    answer = await api.put(f"{API}/Invoices", json={"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": contact}, "Status": "AUTHORISED",
        "Colour": "red", "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 100,
                                        "AccountCode": "200", "TaxTyp": "NONE"}]}]})
    [saved] = answer.json()["Invoices"]
    assert "Colour" not in saved and "TaxTyp" not in saved["LineItems"][0]
    # The misspelt field was ignored, so the account's default tax applied: Xero's way.
    assert (saved["LineItems"][0]["TaxType"], saved["Total"]) == ("OUTPUT", 110.0)


async def test_the_sandbox_refuses_a_tax_type_it_does_not_have(api: httpx.AsyncClient,
                                                              books: Books) -> None:
    contact = books.refs[(Entity.CUSTOMER, ALICE.id)].remote_id
    answer = await api.put(f"{API}/Invoices", json={"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": contact}, "LineItems": [
            {"Description": "x", "UnitAmount": 1, "AccountCode": "200", "TaxType": "INPUT"},
            {"Description": "y", "UnitAmount": 1, "AccountCode": "200", "TaxType": "GST"}]}]})
    assert answer.status_code == 400 and answer.json()["Type"] == "ValidationException"
    messages = [e["Message"] for e in answer.json()["Elements"][0]["ValidationErrors"]]
    assert messages == [
        "The TaxType code INPUT does not exist or cannot be used for this type of transaction.",
        "The TaxType code GST does not exist or cannot be used for this type of transaction."]


async def test_the_sandbox_refuses_to_void_what_has_money_applied(
        api: httpx.AsyncClient, books: Books) -> None:
    """What the client checks first, Xero (and so the sandbox) refuses anyway."""
    invoice_ref = await books.push(Entity.INVOICE, invoice("S-1"))
    over = await books.push(Entity.PAYMENT, payment("p-s1", "120", ("inv-S-1", "100")))
    voided = await api.post(f"{API}/Invoices/{invoice_ref.remote_id}",
                            json={"Invoices": [{"Status": "VOIDED"}]})
    assert voided.status_code == 400
    assert {"Message": "This document cannot be voided because payments are allocated to it."} \
        in voided.json()["Elements"][0]["ValidationErrors"]
    transaction_id = over.remote_id.removeprefix("overpayment:")
    deleted = await api.post(f"{API}/BankTransactions/{transaction_id}",
                             json={"BankTransactions": [{"Status": "DELETED"}]})
    assert deleted.status_code == 400
    assert "has allocations" in deleted.json()["Elements"][0]["ValidationErrors"][0]["Message"]
