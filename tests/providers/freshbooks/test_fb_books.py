"""FreshBooks books that agree with the ledger, to the cent and field by field (issue #12).

One ledger — taxed, untaxed and mixed lines, tax-inclusive and exclusive, a credit note, a
class, payment methods, an overpayment, a voided payment, a deleted draft, an edited payment
— pushed through the provider to the sandbox: every document's FreshBooks total equals the
ledger's, every field is on FreshBooks or the record is refused with its reason and nothing
was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from engine import (
    Allocation,
    ConnectionMappings,
    CreditNote,
    Customer,
    Entity,
    Invoice,
    InvoiceStatus,
    JobFilter,
    Line,
    MappingKind,
    Operation,
    Payment,
    RemoteOption,
    TotalMismatch,
    Transient,
    Unmapped,
    Unsupported,
    Validation,
)
from providers.freshbooks import FreshBooksProvider
from tests._world import World
from tests.providers._support import SandboxTokens, state
from tests.test_mappings import service_of

from .conftest import Ledger, Recorder, invoice, raw

D = Decimal


def _doc(local_id: str, lines: list[Line], *, inclusive: bool = False,
         status: InvoiceStatus = InvoiceStatus.SENT) -> Invoice:
    return invoice(local_id, f"BK-{local_id}", lines=lines, status=status).model_copy(
        update={"tax_inclusive": inclusive})


def _line(price: str, *, qty: str = "1", tax: str | None = None, charged: str = "0",
          **extra: Any) -> Line:
    return Line(description="Work", quantity=D(qty), unit_price=D(price), tax_code=tax,
                tax_amount=D(charged), **extra)


BOOKS = [
    # record, the FreshBooks unit costs and tax names its lines carry
    (_doc("untaxed", [_line("120.00", qty="2"), _line("35.50")]),
     [("120.00", None), ("35.50", None)]),
    (_doc("taxed", [_line("100.00", tax="TAX", charged="8.00")]), [("100.00", "Sales Tax")]),
    (_doc("mixed", [_line("100.00", tax="TAX", charged="8.00"), _line("50.00"),
                    _line("20.00", tax="GST", charged="1.00")]),
     [("100.00", "Sales Tax"), ("50.00", None), ("20.00", "GST")]),
    (_doc("inclusive", [_line("108.00", tax="TAX", charged="8.00"), _line("50.00")],
          inclusive=True),
     [("100.00", "Sales Tax"), ("50.00", None)]),
    # 3 × 33.3333 = 99.9999 → 100.00 on FreshBooks, 8 % of it 8.00: exact at 4 places.
    (_doc("inclusive-qty", [_line("36.00", qty="3", tax="TAX", charged="8.00")],
          inclusive=True),
     [("33.3333", "Sales Tax")]),
]


async def _invoice(control: httpx.AsyncClient, tokens: SandboxTokens, remote_id: str) -> Any:
    response = await raw(control, tokens, "GET", f"invoices/invoices/{remote_id}")
    return response.json()["response"]["result"]["invoice"]


@pytest.mark.parametrize(("record", "wire_lines"), BOOKS, ids=[r.id for r, _ in BOOKS])
async def test_documents_land_with_the_ledgers_total(provider: FreshBooksProvider,
                                                     ledger: Ledger,
                                                     control: httpx.AsyncClient,
                                                     tokens: SandboxTokens, record: Invoice,
                                                     wire_lines: list[tuple[str, str | None]]
                                                     ) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, record)
    remote = await _invoice(control, tokens, ref.remote_id)
    assert D(remote["amount"]["amount"]) == record.total
    assert [(line["unit_cost"]["amount"], line["taxName1"]) for line in remote["lines"]] == \
        wire_lines
    assert remote["v3_status"] == "sent" and remote["po_number"] == f"[syncdesk:{record.id}]"


async def test_inclusive_line_that_cannot_land_exactly_is_refused(
        provider: FreshBooksProvider, ledger: Ledger, recorder: Recorder) -> None:
    await ledger.basics(provider)
    # 10.00 including 0.75: before tax 9.25, and FreshBooks' 8 % of 9.25 is 0.74.
    record = _doc("odd", [_line("10.00", tax="TAX", charged="0.75")], inclusive=True)
    before = len(recorder.api("POST"))
    with pytest.raises(Unsupported, match=r"line 1 of BK-odd is 10\.00 including 0\.75 tax.*"
                                          r"9\.25 plus 0\.74 tax comes to 9\.99, not 10\.00"):
        await provider.push(ledger.request(Entity.INVOICE, record))
    assert len(recorder.api("POST")) == before  # nothing sent


async def test_a_total_that_differs_fails_linked_and_the_retry_updates(
        provider: FreshBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        tokens: SandboxTokens) -> None:
    await ledger.basics(provider)
    wrong = _doc("wrong", [_line("100.00", tax="TAX", charged="7.00")])
    with pytest.raises(TotalMismatch) as caught:
        await provider.push(ledger.request(Entity.INVOICE, wrong))
    error = caught.value
    assert (error.ledger_total, error.platform_total) == (D("107.00"), D("108.00"))
    assert "108.00" in error.message and "107.00" in error.message
    assert (await state(control))["objects"]["invoice"] == 2  # the demo's INV-1042 and ours
    fixed = _doc("wrong", [_line("100.00", tax="TAX", charged="8.00")])
    ref = await provider.push(ledger.request(Entity.INVOICE, fixed, operation=Operation.UPDATE,
                                             link=error.ref))  # type: ignore[arg-type]
    assert ref.remote_id == error.ref.remote_id  # type: ignore[attr-defined]
    remote = await _invoice(control, tokens, ref.remote_id)
    assert (remote["amount"]["amount"], remote["v3_status"]) == ("108.00", "sent")


@pytest.mark.parametrize(("line", "reason"), [
    (_line("10.00", **{"class": "Residential"}),
     "line 1 of BK-x has class 'Residential', and FreshBooks has no classes or locations"),
    (_line("10.00", location="Eastside"),
     "line 1 of BK-x has location 'Eastside', and FreshBooks has no classes"),
    (_line("10.00", tax="VAT"), "line 1 of BK-x: tax code 'VAT' is not mapped to a FreshBooks "
                                r"tax — map it to one of this account's taxes \(Sales Tax "
                                r"8\.00%, GST 5\.00%\)"),
])
async def test_fields_freshbooks_cannot_hold_are_refused_before_a_call(
        provider: FreshBooksProvider, ledger: Ledger, recorder: Recorder, line: Line,
        reason: str) -> None:
    await ledger.basics(provider)
    before = len(recorder.api("POST"))
    with pytest.raises((Unsupported, Unmapped), match=reason):
        await provider.push(ledger.request(Entity.INVOICE, _doc("x", [line])))
    assert len(recorder.api("POST")) == before


async def test_tax_mapped_to_a_tax_the_account_lacks_is_unmapped(provider: FreshBooksProvider,
                                                                 ledger: Ledger) -> None:
    await ledger.basics(provider)
    ledger.mappings = ConnectionMappings(tax_codes={"TAX": "HST"})
    with pytest.raises(Unmapped, match="mapped to 'HST', which is not a tax of this "
                                       "FreshBooks account") as caught:
        await provider.push(ledger.request(Entity.INVOICE, BOOKS[1][0]))
    assert caught.value.code == "unmapped:tax_code:TAX"  # setting it re-queues the invoice


async def test_credit_note_total_and_tax(provider: FreshBooksProvider, ledger: Ledger,
                                         app: Any) -> None:
    await ledger.basics(provider)
    note = CreditNote(id="cn1", number="CN-1", customer_id="c1", date=date(2026, 2, 3),
                      lines=[_line("10.00", tax="TAX", charged="0.80")])
    ref = await ledger.push(provider, Entity.CREDIT_NOTE, note)
    assert app.state.books.credit_notes[int(ref.remote_id)]["amount"] == note.total == D("10.80")
    await provider.push(ledger.request(Entity.CREDIT_NOTE, note, operation=Operation.DELETE,
                                       link=ref))
    assert await provider.fetch(Entity.CREDIT_NOTE, ref.remote_id) is None


async def _paid_invoice(provider: FreshBooksProvider, ledger: Ledger) -> Invoice:
    await ledger.basics(provider)
    record = BOOKS[2][0]  # mixed: 179.00
    await ledger.push(provider, Entity.INVOICE, record)
    return record


def _payment(local_id: str, amount: str, allocated: str, *, method: str = "check",
             reference: str | None = None) -> Payment:
    return Payment(id=local_id, customer_id="c1", date=date(2026, 2, 1), amount=D(amount),
                   method=method, reference=reference,
                   allocations=[Allocation(invoice_id="mixed", amount=D(allocated))])


async def test_payment_methods_are_freshbooks_types(provider: FreshBooksProvider,
                                                    ledger: Ledger, app: Any,
                                                    recorder: Recorder) -> None:
    methods = [m async for m in provider.list_payment_methods()]
    assert RemoteOption("Check", "Check") in methods and RemoteOption("PayPal", "PayPal") in \
        methods
    assert all(m.id != "Credit" for m in methods)  # FreshBooks' type for applied credit
    assert [c async for c in provider.list_classes()] == []
    assert [c async for c in provider.list_locations()] == []
    await _paid_invoice(provider, ledger)
    ledger.mappings = ConnectionMappings(tax_codes=ledger.mappings.tax_codes,
                                         payment_methods={"venmo": "PayPal", "zelle": "Zelle"})
    ref = await ledger.push(provider, Entity.PAYMENT, _payment("p1", "10.00", "10.00",
                                                               method="venmo"))
    assert app.state.books.payments[int(ref.remote_id)]["type"] == "PayPal"
    ref = await ledger.push(provider, Entity.PAYMENT, _payment("p2", "10.00", "10.00",
                                                               method="cash"))
    assert app.state.books.payments[int(ref.remote_id)]["type"] == "Cash"
    before = len(recorder.api("POST"))
    with pytest.raises(Unmapped, match="method 'crypto' has no FreshBooks payment type") as \
            caught:
        await provider.push(ledger.request(Entity.PAYMENT, _payment("p3", "1.00", "1.00",
                                                                    method="crypto")))
    assert caught.value.code == "unmapped:payment_method:crypto"
    with pytest.raises(Unmapped, match="method 'zelle' is mapped to 'Zelle', which FreshBooks "
                                       "does not take"):
        await provider.push(ledger.request(Entity.PAYMENT, _payment("p4", "1.00", "1.00",
                                                                    method="zelle")))
    assert len(recorder.api("POST")) == before


async def test_overpayment_voided_payment_and_a_paid_invoice_kept(
        provider: FreshBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        tokens: SandboxTokens, app: Any) -> None:
    record = await _paid_invoice(provider, ledger)
    link = ledger.refs[(Entity.INVOICE, "mixed")]
    over = _payment("p1", "200.00", "179.00")
    ref = await ledger.push(provider, Entity.PAYMENT, over)
    paid = app.state.books.payments[int(ref.remote_id)]
    assert paid["amount"]["amount"] == D("200.00")
    assert app.state.books.overpayments[paid["overpaymentid"]]["amount"]["amount"] == D("21.00")
    assert (await _invoice(control, tokens, link.remote_id))["outstanding"]["amount"] == "0.00"

    for operation in (Operation.VOID, Operation.DELETE):
        with pytest.raises(Validation, match=r"FreshBooks invoice BK-mixed has payments applied "
                                             r"\(payment p1: 200\.00 on 2026-02-01\)"):
            await provider.push(ledger.request(Entity.INVOICE, record, operation=operation,
                                               link=link))
    assert await provider.fetch(Entity.INVOICE, link.remote_id) is not None

    await provider.push(ledger.request(Entity.PAYMENT, over, operation=Operation.VOID, link=ref))
    assert await provider.fetch(Entity.PAYMENT, ref.remote_id) is None
    assert app.state.books.overpayments[paid["overpaymentid"]]["vis_state"] == 1
    assert (await _invoice(control, tokens, link.remote_id))["outstanding"]["amount"] == "179.00"
    await provider.push(ledger.request(Entity.INVOICE, record, operation=Operation.VOID,
                                       link=link))
    assert await provider.fetch(Entity.INVOICE, link.remote_id) is None


async def test_clients_and_items_are_kept(provider: FreshBooksProvider, ledger: Ledger) -> None:
    await ledger.basics(provider)
    for entity in (Entity.CUSTOMER, Entity.ITEM):
        record = ledger.items["i1"] if entity is Entity.ITEM else BOOKS[0][0]
        with pytest.raises(Unsupported, match=f"does not delete a {entity.label} on FreshBooks"):
            await provider.push(ledger.request(entity, record,  # type: ignore[arg-type]
                                               operation=Operation.DELETE,
                                               link=ledger.refs[(entity, "c1" if entity is
                                                                 Entity.CUSTOMER else "i1")]))


async def test_draft_is_deleted(provider: FreshBooksProvider, ledger: Ledger) -> None:
    await ledger.basics(provider)
    draft = _doc("draft", [_line("40.00")], status=InvoiceStatus.DRAFT)
    ref = await ledger.push(provider, Entity.INVOICE, draft)
    await provider.push(ledger.request(Entity.INVOICE, draft, operation=Operation.DELETE,
                                       link=ref))
    assert await provider.fetch(Entity.INVOICE, ref.remote_id) is None
    # Gone already (a delete whose answer was lost): done, not a broken link.
    assert await provider.push(ledger.request(Entity.INVOICE, draft,
                                              operation=Operation.DELETE, link=ref)) == ref


async def test_edited_payment_is_deleted_and_recorded_again_once(
        provider: FreshBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        tokens: SandboxTokens, app: Any) -> None:
    await _paid_invoice(provider, ledger)
    link = ledger.refs[(Entity.INVOICE, "mixed")]
    first = await ledger.push(provider, Entity.PAYMENT, _payment("p1", "100.00", "100.00"))

    # Only the reference changed: FreshBooks edits the note in place, same payment.
    noted = _payment("p1", "100.00", "100.00", reference="CHK 7")
    assert await provider.push(ledger.request(Entity.PAYMENT, noted, operation=Operation.UPDATE,
                                              link=first)) == first
    assert app.state.books.payments[int(first.remote_id)]["note"] == "CHK 7 [syncdesk:p1]"

    # The amount changed: FreshBooks cannot, so the old one goes and a new one is recorded.
    edited = _payment("p1", "80.00", "80.00", method="cash", reference="CHK 7")
    second = await provider.push(ledger.request(Entity.PAYMENT, edited,
                                                operation=Operation.UPDATE, link=first))
    assert second.remote_id != first.remote_id
    assert app.state.books.payments[int(first.remote_id)]["vis_state"] == 1
    new = app.state.books.payments[int(second.remote_id)]
    assert (new["amount"]["amount"], new["type"], new["note"]) == (D("80.00"), "Cash",
                                                                   "CHK 7 [syncdesk:p1]")
    assert (await _invoice(control, tokens, link.remote_id))["outstanding"]["amount"] == "99.00"
    assert await provider.find(Entity.PAYMENT, edited) == second

    # The same update sent again (its answer was lost) adopts the marked one: no third.
    again = await provider.push(ledger.request(Entity.PAYMENT, edited,
                                               operation=Operation.UPDATE, link=first))
    assert again == second
    assert (await state(control))["objects"]["payment"] == 1


async def test_sandbox_drops_unknown_fields_and_refuses_unknown_payment_types(
        ledger: Ledger, provider: FreshBooksProvider, control: httpx.AsyncClient,
        tokens: SandboxTokens) -> None:
    await _paid_invoice(provider, ledger)
    client = ledger.refs[(Entity.CUSTOMER, "c1")].remote_id
    created = await raw(control, tokens, "POST", "invoices/invoices", json={"invoice": {
        "customerid": int(client), "invoice_number": "RAW-1", "colour": "teal",
        "lines": [{"type": 0, "name": "X", "qty": 1, "unit_cost": {"amount": "10.00"},
                   "taxName1": "Sales Tax", "taxAmount1": 8, "discount_pct": 50}]}})
    body = created.json()["response"]["result"]["invoice"]
    assert "colour" not in body and "discount_pct" not in body["lines"][0]
    assert body["amount"]["amount"] == "10.80"
    invoice_id = ledger.refs[(Entity.INVOICE, "mixed")].remote_id
    refused = await raw(control, tokens, "POST", "payments/payments", json={"payment": {
        "invoiceid": int(invoice_id), "amount": {"amount": "1.00"}, "type": "Zelle"}})
    assert refused.status_code == 400
    assert refused.json()["response"]["errors"][0]["field"] == "type"


async def test_edited_payment_whose_recreate_answer_is_lost_is_found(
        provider: FreshBooksProvider, ledger: Ledger, control: httpx.AsyncClient) -> None:
    await _paid_invoice(provider, ledger)
    first = await ledger.push(provider, Entity.PAYMENT, _payment("p1", "100.00", "100.00"))
    edited = _payment("p1", "80.00", "80.00")
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "POST",
                                                 "path_contains": "payments/payments"})
    with pytest.raises(Transient, match="outcome of a write is unknown"):
        await provider.push(ledger.request(Entity.PAYMENT, edited, operation=Operation.UPDATE,
                                           link=first))
    # What the engine does with the write in doubt: look it up by the mark first.
    found = await provider.find(Entity.PAYMENT, edited)
    assert found is not None and found.remote_id != first.remote_id
    assert await provider.fetch(Entity.PAYMENT, first.remote_id) is None
    assert (await state(control))["objects"]["payment"] == 1


async def test_credit_note_with_a_wrong_total_is_applied_only_once_corrected(
        provider: FreshBooksProvider, ledger: Ledger, app: Any) -> None:
    await _paid_invoice(provider, ledger)

    def note(charged: str) -> CreditNote:
        return CreditNote(id="cn2", number="CN-2", customer_id="c1", date=date(2026, 2, 3),
                          lines=[_line("10.00", tax="TAX", charged=charged)],
                          allocations=[Allocation(invoice_id="mixed", amount=D("10.00"))])

    with pytest.raises(TotalMismatch) as caught:
        await provider.push(ledger.request(Entity.CREDIT_NOTE, note("0.70")))
    link = caught.value.ref
    stored = app.state.books.credit_notes[int(link.remote_id)]  # type: ignore[attr-defined]
    assert (stored["amount"], stored["applied"]) == (D("10.80"), D(0))  # nothing applied
    ref = await provider.push(ledger.request(Entity.CREDIT_NOTE, note("0.80"),
                                             operation=Operation.UPDATE,
                                             link=link))  # type: ignore[arg-type]
    assert ref.remote_id == link.remote_id  # type: ignore[attr-defined]
    assert (stored["amount"], stored["applied"]) == (D("10.80"), D("10.00"))


async def test_through_the_engine_a_wrong_total_fails_linked_and_the_fix_updates_it(
        make_world: Callable[..., Any]) -> None:
    world: World = await make_world(("freshbooks",))
    fb = world.connections["freshbooks"]
    service = service_of(world)
    taxed = Invoice(id="INV-1", number="INV-1", customer_id="C-1", issue_date=date(2026, 3, 2),
                    status=InvoiceStatus.SENT, lines=[_line("100.00", tax="TAX", charged="8.00")])
    await world.ledger.upsert([Customer(id="C-1", display_name="Maple Homes"), taxed])
    await world.sync()
    job = await world.job("freshbooks", "invoice", "INV-1")
    assert (job["status"], job["error_code"]) == ("skipped", "unmapped:tax_code:TAX")

    # Mapped to the wrong tax: FreshBooks charges GST's 5 %, the ledger 8 %.
    assert (await service.set_mapping(fb, MappingKind.TAX_CODE, "TAX", "GST")).requeued == 1
    await world.sync()
    job = await world.job("freshbooks", "invoice", "INV-1")
    assert job["status"] == "failed" and "105.00" in job["error_message"] \
        and "108.00" in job["error_message"]

    await service.set_mapping(fb, MappingKind.TAX_CODE, "TAX", "Sales Tax")
    assert await service.retry_matching(JobFilter(statuses=("failed",))) == 1
    await world.sync()
    assert (await world.job("freshbooks", "invoice", "INV-1"))["status"] == "synced"
    books = world.apps["freshbooks"].state.books
    assert [(i["amount"], i["v3_status"]) for i in books.invoices.values()
            if i["invoice_number"] == "INV-1"] == [(D("108.00"), "sent")]
