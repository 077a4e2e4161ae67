"""`XeroProvider.read_changes` and `list_states`: If-Modified-Since pages, a cursor that resumes
(and survives a list shifting under writes), deletions, voids and archivals, payments read
whole as the ledger knows them, the audit's states; at Xero's real limits without a 429.

The sandbox's clock stands still here unless a test moves it, so objects written together
share one UpdatedDateUTC, as a burst of writes in one millisecond does on Xero."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from engine import (
    ChangeKind,
    ChangePage,
    ConnectionMappings,
    ConnectionSettings,
    Customer,
    Entity,
    Invoice,
    Operation,
    Payment,
    PushRequest,
    RemoteAllocation,
)
from engine._limiter import RateGate
from providers._sandbox import Clock
from providers.xero import PLATFORM, XeroProvider, create_sandbox_app
from providers.xero._platform import CAPABILITIES
from providers.xero.sandbox import DEMO_TENANT_ID
from tests.providers._support import Ledger, connect

BASE_URL = "http://xero.sandbox"

API = "/api.xro/2.0"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class StillClock(Clock):
    """Time that moves only when a test moves it."""

    def now(self) -> datetime:
        return START + self.offset


@pytest.fixture
def clock() -> Clock:
    return StillClock()


SINCE = START - timedelta(minutes=1)


async def read_all(provider: XeroProvider, entity: Entity, cursor: str | None = None, *,
                   limit: int = 100) -> tuple[list[ChangePage], str]:
    pages: list[ChangePage] = []
    while True:
        page = await provider.read_changes(entity, cursor, SINCE, limit=limit)
        pages.append(page)
        cursor = page.cursor
        if not page.more:
            return pages, cursor


def ids(pages: list[ChangePage]) -> list[str]:
    return [change.remote_id for page in pages for change in page.changes]


async def contacts(api: httpx.AsyncClient, *names: str) -> list[str]:
    answer = await api.put(f"{API}/Contacts", json={"Contacts": [{"Name": n} for n in names]})
    assert answer.status_code == 200, answer.text
    return [str(c["ContactID"]) for c in answer.json()["Contacts"]]


async def test_pages_resume_from_the_cursor_and_a_burst_in_one_stamp_moves_on(
        provider: XeroProvider, api: httpx.AsyncClient, clock: Clock) -> None:
    burst = await contacts(api, *(f"Burst {n}" for n in range(5)))  # all one stamp
    pages, cursor = await read_all(provider, Entity.CUSTOMER, limit=2)
    # With the demo company's own contact, six in one stamp: pages of the same read, the
    # last full one followed by an empty one that says there is no more.
    assert [len(p.changes) for p in pages] == [2, 2, 2, 0]
    assert set(burst) <= set(ids(pages)) and len(set(ids(pages))) == 6
    assert all(p.more for p in pages[:-1]) and not pages[-1].more
    # Nothing new: the cursor stands after the last stamp, and reads nothing twice.
    again, same = await read_all(provider, Entity.CUSTOMER, cursor, limit=2)
    assert ids(again) == [] and same == cursor
    clock.advance(1)
    await api.post(f"{API}/Contacts/{burst[3]}",
                   json={"Contacts": [{"EmailAddress": "new@burst.example"}]})
    later, _ = await read_all(provider, Entity.CUSTOMER, cursor, limit=2)
    [change] = [c for p in later for c in p.changes]
    assert (change.remote_id, change.kind) == (burst[3], ChangeKind.UPSERTED)
    assert change.contact is not None and change.contact.email == "new@burst.example"
    assert change.changed_at == START + timedelta(seconds=1)


async def test_an_edit_between_two_page_reads_loses_nothing(provider: XeroProvider,
                                                            api: httpx.AsyncClient,
                                                            clock: Clock) -> None:
    written = []
    for n in range(5):
        clock.advance(1)
        written += await contacts(api, f"Shift {n}")
    first = await provider.read_changes(Entity.CUSTOMER, None, SINCE, limit=2)
    assert first.more
    clock.advance(1)  # a person edits what the first page gave: it moves to the list's end
    await api.post(f"{API}/Contacts/{first.changes[0].remote_id}",
                   json={"Contacts": [{"EmailAddress": "moved@shift.example"}]})
    rest, _ = await read_all(provider, Entity.CUSTOMER, first.cursor, limit=2)
    seen = {c.remote_id for c in first.changes} | set(ids(rest))
    assert set(written) <= seen
    assert ids(rest)[-1] == first.changes[0].remote_id


async def test_deletions_voids_and_archivals(provider: XeroProvider, api: httpx.AsyncClient,
                                             clock: Clock) -> None:
    [gone, kept] = await contacts(api, "Archived Co", "Kept Co")
    made = await api.put(f"{API}/Invoices", json={"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": kept}, "InvoiceNumber": f"D-{n}",
        "Status": status, "LineItems": [{"Description": "Work", "Quantity": 2,
                                         "UnitAmount": 25, "AccountCode": "200",
                                         "TaxType": "NONE"}]}
        for n, status in ((1, "AUTHORISED"), (2, "DRAFT"), (3, "AUTHORISED"))]})
    void, draft, live = (i["InvoiceID"] for i in made.json()["Invoices"])
    _, cursor = await read_all(provider, Entity.INVOICE)
    _, people = await read_all(provider, Entity.CUSTOMER)
    clock.advance(1)
    await api.post(f"{API}/Invoices/{void}", json={"Invoices": [{"Status": "VOIDED"}]})
    await api.post(f"{API}/Invoices/{draft}", json={"Invoices": [{"Status": "DELETED"}]})
    await api.post(f"{API}/Contacts/{gone}", json={"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    pages, _ = await read_all(provider, Entity.INVOICE, cursor)
    kinds = {c.remote_id: c.kind for p in pages for c in p.changes}
    assert kinds == {void: ChangeKind.VOIDED, draft: ChangeKind.DELETED}
    [voided] = [c for p in pages for c in p.changes if c.remote_id == void]
    assert voided.state is not None and voided.state.status == "VOIDED"
    archived, _ = await read_all(provider, Entity.CUSTOMER, people)
    assert [(c.remote_id, c.kind) for p in archived for c in p.changes] == \
        [(gone, ChangeKind.DELETED)]
    states = {s.remote_id: s async for s in provider.list_states(Entity.INVOICE)}
    assert draft not in states and states[void].status == "VOIDED"
    state = states[live]
    assert (state.total, state.balance, state.status, state.customer_remote_id,
            state.line_count, state.number) == (Decimal("50"), Decimal("50"), "AUTHORISED",
                                                kept, 1, "D-3")


async def test_payments_come_whole_ours_by_mark_a_persons_batch_by_its_id(
        provider: XeroProvider, api: httpx.AsyncClient, control: httpx.AsyncClient,
        clock: Clock) -> None:
    ledger = Ledger()
    await ledger.push(provider, Entity.CUSTOMER, Customer(id="C-1", display_name="Feed Co"))
    for n in (1, 2, 3, 4):
        await _push_invoice(provider, ledger, n)
    ours = await ledger.push(provider, Entity.PAYMENT, Payment.model_validate({
        "id": "PAY-1", "customer_id": "C-1", "date": "2026-03-02", "amount": "70",
        "reference": "cheque 9", "allocations": [{"invoice_id": "I-1", "amount": "30"},
                                                 {"invoice_id": "I-2", "amount": "40"}]}))
    invoice = {n: ledger.refs[(Entity.INVOICE, f"I-{n}")].remote_id for n in (1, 2, 3, 4)}
    batch = await api.put(f"{API}/BatchPayments", json={"BatchPayments": [{
        "Account": {"Code": "090"}, "Date": "2026-03-03", "Reference": "Deposit 3",
        "Payments": [{"Invoice": {"InvoiceID": invoice[3]}, "Amount": 60},
                     {"Invoice": {"InvoiceID": invoice[4]}, "Amount": 15}]}]})
    assert batch.status_code == 200, batch.text
    pages, cursor = await read_all(provider, Entity.PAYMENT)
    changes = {c.remote_id: c for p in pages for c in p.changes}
    assert len(changes) == 2
    mine = changes[ours.remote_id].payment
    assert mine is not None and mine.mark == "PAY-1" and mine.reference == "cheque 9"
    assert mine.allocations == (RemoteAllocation(invoice[1], Decimal(30)),
                                RemoteAllocation(invoice[2], Decimal(40)))
    [theirs] = [c.payment for key, c in changes.items() if key != ours.remote_id]
    assert theirs is not None and theirs.mark is None and theirs.amount == Decimal(75)
    assert {a.invoice_remote_id for a in theirs.allocations} == {invoice[3], invoice[4]}
    assert theirs.customer_remote_id == ledger.refs[(Entity.CUSTOMER, "C-1")].remote_id
    assert theirs.date.isoformat() == "2026-03-03"
    states = [s async for s in provider.list_states(Entity.PAYMENT)]
    assert sorted(s.total for s in states) == [15, 30, 40, 60]

    # A person moves one part of ours (Remove and Redo keeps its Reference, so its mark),
    # then removes the batch: ours comes again whole, the batch as deleted under its ids.
    clock.advance(1)
    part = ours.remote_id.split(",")[1]
    redo = await control.post("/_sandbox/redo-payment", json={"payment_id": part,
                                                              "invoice_id": invoice[4]})
    assert redo.status_code == 200, redo.text
    batch_id = batch.json()["BatchPayments"][0]["BatchPaymentID"]
    await api.post(f"{API}/BatchPayments/{batch_id}",
                   json={"BatchPayments": [{"Status": "DELETED"}]})
    later, _ = await read_all(provider, Entity.PAYMENT, cursor)
    after = {c.remote_id: c for p in later for c in p.changes}
    [batch_ids] = [key for key in changes if key != ours.remote_id]
    assert after.pop(batch_ids).kind is ChangeKind.DELETED
    [moved] = after.values()
    assert moved.payment is not None and moved.payment.mark == "PAY-1"
    assert [a.invoice_remote_id for a in moved.payment.allocations] == [invoice[1], invoice[4]]

    # Every part of ours gone: each part that went names the link it belongs to.
    clock.advance(1)
    _, cursor = await read_all(provider, Entity.PAYMENT, cursor)
    for payment_id in moved.remote_id.split(","):
        await api.post(f"{API}/Payments/{payment_id}", json={"Status": "DELETED"})
    ended, _ = await read_all(provider, Entity.PAYMENT, cursor)
    assert {(c.remote_id, c.kind) for p in ended for c in p.changes} == \
        {(payment_id, ChangeKind.DELETED) for payment_id in moved.remote_id.split(",")}


async def _push_invoice(provider: XeroProvider, ledger: Ledger, n: int) -> None:
    record = Invoice.model_validate({
        "id": f"I-{n}", "number": f"FI-{n}", "customer_id": "C-1", "issue_date": "2026-03-01",
        "status": "sent", "lines": [{"description": "Work", "quantity": "1",
                                     "unit_price": "100"}]})
    ref = await provider.push(PushRequest(
        entity=Entity.INVOICE, operation=Operation.CREATE, record=record,
        idempotency_key=f"k-invoice-I-{n}", refs=dict(ledger.refs),
        mappings=ConnectionMappings(default_income_account="200")))
    ledger.refs[(Entity.INVOICE, record.id)] = ref


@dataclass
class Counting(httpx.AsyncBaseTransport):
    """The sandbox, with every 429 it answers counted on the client's side too."""

    inner: httpx.AsyncBaseTransport
    throttled: int = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.throttled += response.status_code == 429
        return response


CHANGED = 250


async def test_a_long_feed_read_and_a_listing_draw_no_429_at_real_limits(clock: Clock) -> None:
    """250 invoices changed: 3 feed pages of 100 and 3 list pages, with the sandbox at
    Xero's 60 a minute and 5 at once, every request through one budget."""
    app: Any = create_sandbox_app(clock=clock)  # limits on, as Xero counts them
    company = app.state.company
    customer = next(iter(company.contacts))
    for n in range(CHANGED):
        company.save_invoice({"Type": "ACCREC", "Contact": {"ContactID": customer},
                              "InvoiceNumber": f"B-{n}", "Status": "AUTHORISED",
                              "LineItems": [{"Description": "Work", "Quantity": 1,
                                             "UnitAmount": 10, "AccountCode": "200"}]},
                             None, unitdp=2)
    sandbox = Counting(httpx.ASGITransport(app=app))
    budget = RateGate(CAPABILITIES.limits)
    settings = ConnectionSettings(platform="xero", tenant_id=DEMO_TENANT_ID,
                                  client_id="syncdesk", client_secret="secret",
                                  base_url=BASE_URL, timeout=30.0, transport=sandbox)
    tokens, _ = await connect(PLATFORM, settings)
    provider = PLATFORM.provider(replace(settings, budget=budget), tokens)
    before = app.state.sandbox.requests
    try:
        pages, _ = await read_all(provider, Entity.INVOICE, limit=1000)
        states = [s async for s in provider.list_states(Entity.INVOICE)]
    finally:
        await provider.aclose()
    assert len(set(ids(pages))) == CHANGED + 1 and len(pages) == 3  # and the demo invoice
    assert len(states) == CHANGED + 1
    assert app.state.sandbox.limiter.rejected == 0 and sandbox.throttled == 0
    assert budget.requests == app.state.sandbox.requests - before == 3 + 3


async def test_credit_notes_and_items(provider: XeroProvider, api: httpx.AsyncClient,
                                      clock: Clock) -> None:
    [customer] = await contacts(api, "Credit Co")
    note = await api.put(f"{API}/CreditNotes", json={"CreditNotes": [{
        "Type": "ACCRECCREDIT", "Contact": {"ContactID": customer}, "Status": "AUTHORISED",
        "CreditNoteNumber": "CN-9", "LineItems": [{"Description": "Back", "Quantity": 1,
                                                   "UnitAmount": 15, "AccountCode": "200",
                                                   "TaxType": "NONE"}]}]})
    credit = note.json()["CreditNotes"][0]["CreditNoteID"]
    item = await api.put(f"{API}/Items", json={"Items": [{"Code": "GROUT", "Name": "Grout"}]})
    item_id = item.json()["Items"][0]["ItemID"]
    pages, cursor = await read_all(provider, Entity.CREDIT_NOTE)
    [change] = [c for p in pages for c in p.changes]
    assert (change.remote_id, change.kind) == (credit, ChangeKind.UPSERTED)
    assert change.state is not None
    assert (change.state.total, change.state.balance, change.state.number) == \
        (Decimal(15), Decimal(15), "CN-9")
    [items] = (await read_all(provider, Entity.ITEM))[0]
    assert [(c.remote_id, c.kind) for c in items.changes] == [(item_id, ChangeKind.UPSERTED)]
    assert not items.more  # Xero never pages Items: one answer is the whole feed
    clock.advance(1)
    await api.post(f"{API}/CreditNotes/{credit}", json={"CreditNotes": [{"Status": "VOIDED"}]})
    later, _ = await read_all(provider, Entity.CREDIT_NOTE, cursor)
    assert [(c.remote_id, c.kind) for p in later for c in p.changes] == \
        [(credit, ChangeKind.VOIDED)]
    assert [s.status async for s in provider.list_states(Entity.CREDIT_NOTE)] == ["VOIDED"]
