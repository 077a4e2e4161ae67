"""Wave books that agree with the ledger, to the cent and field by field (issue #12).

One ledger — taxed, untaxed and mixed lines, tax-inclusive and exclusive, classes, income
accounts, a payment Wave cannot take, a paid invoice, a deleted draft — pushed through the
provider to the sandbox: every invoice's Wave total equals the ledger's, every field is on
Wave or the record is refused with its reason and nothing was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from wave_support import Ledger, Recording, customer, invoice, item

from engine import (
    Allocation,
    ConnectionMappings,
    Customer,
    Entity,
    Invoice,
    InvoiceStatus,
    Item,
    Line,
    MappingKind,
    Operation,
    Payment,
    TotalMismatch,
    Unmapped,
    Unsupported,
    Validation,
)
from providers.wave import WaveProvider
from providers.wave.sandbox import account_id
from tests._world import World
from tests.providers._support import SandboxTokens
from tests.test_mappings import service_of

D = Decimal


def _doc(local_id: str, lines: list[Line], *, inclusive: bool = False,
         status: InvoiceStatus = InvoiceStatus.SENT) -> Invoice:
    return invoice(local_id, f"BK-{local_id}", lines=lines, status=status).model_copy(
        update={"tax_inclusive": inclusive})


def _line(price: str, *, qty: str = "1", tax: str | None = None, charged: str = "0",
          **extra: Any) -> Line:
    return Line(item_id="i1", description="Work", quantity=D(qty), unit_price=D(price),
                tax_code=tax, tax_amount=D(charged), **extra)


BOOKS = [
    # record, the unit prices and whether each line carries Wave's sales tax
    (_doc("untaxed", [_line("120.00", qty="2"), _line("35.50")]),
     [("120.00", False), ("35.50", False)]),
    (_doc("taxed", [_line("100.00", tax="WA", charged="6.50")]), [("100.00", True)]),
    (_doc("mixed", [_line("100.00", tax="WA", charged="6.50"), _line("50.00")]),
     [("100.00", True), ("50.00", False)]),
    (_doc("inclusive", [_line("106.50", tax="WA", charged="6.50"), _line("50.00")],
          inclusive=True),
     [("100.00", True), ("50.00", False)]),
    # 3 × 33.3333 = 99.9999 → 100.00 on Wave, 6.5 % of it 6.50: exact at 4 places.
    (_doc("inclusive-qty", [_line("35.50", qty="3", tax="WA", charged="6.50")],
          inclusive=True),
     [("33.3333", True)]),
]


@pytest.fixture
async def books(provider: WaveProvider, ledger: Ledger, app: Starlette) -> Any:
    """The business's books, with c1 and i1 on Wave and local "WA" mapped to its sales tax."""
    [tax] = [t async for t in provider.list_tax_codes()]
    ledger.mappings = ConnectionMappings(tax_codes={"WA": tax.code})
    await ledger.basics(provider)
    return app.state.books


@pytest.mark.parametrize(("record", "wire_lines"), BOOKS, ids=[r.id for r, _ in BOOKS])
async def test_invoices_land_with_the_ledgers_total(provider: WaveProvider, ledger: Ledger,
                                                    books: Any, record: Invoice,
                                                    wire_lines: list[tuple[str, bool]]) -> None:
    ref = await ledger.push(provider, Entity.INVOICE, record)
    stored = books.invoices[ref.remote_id]
    assert D(stored["total"]["value"]) == record.total
    assert D(stored["taxTotal"]["value"]) == record.tax_total
    assert [(f"{line['unitPrice']}", bool(line["taxes"])) for line in stored["items"]] == \
        wire_lines
    assert (stored["status"], stored["footer"]) == ("SENT", f"syncdesk:{record.id}")


async def test_inclusive_line_that_cannot_land_exactly_is_refused(
        provider: WaveProvider, ledger: Ledger, books: Any, recording: Recording) -> None:
    # 10.00 including 0.62: before tax 9.38, and Wave's 6.5 % of 9.38 is 0.61.
    record = _doc("odd", [_line("10.00", tax="WA", charged="0.62")], inclusive=True)
    with pytest.raises(Unsupported, match=r"line 1 of BK-odd is 10\.00 including 0\.62 tax.*"
                                          r"9\.38 plus 0\.61 tax comes to 9\.99, not 10\.00"):
        await provider.push(ledger.request(Entity.INVOICE, record))
    assert "invoiceCreate" not in recording.operations()


async def test_a_total_that_differs_fails_linked_and_the_retry_patches(
        provider: WaveProvider, ledger: Ledger, books: Any) -> None:
    wrong = _doc("wrong", [_line("100.00", tax="WA", charged="8.00")])
    with pytest.raises(TotalMismatch) as caught:
        await provider.push(ledger.request(Entity.INVOICE, wrong))
    error = caught.value
    assert (error.ledger_total, error.platform_total) == (D("108.00"), D("106.50"))
    assert "106.50" in error.message and "108.00" in error.message
    remote_id = error.ref.remote_id  # type: ignore[attr-defined]
    assert books.invoices[remote_id]["status"] == "SAVED"  # not sent while it is wrong
    fixed = _doc("wrong", [_line("100.00", tax="WA", charged="6.50")])
    ref = await provider.push(ledger.request(Entity.INVOICE, fixed, operation=Operation.UPDATE,
                                             link=error.ref))  # type: ignore[arg-type]
    assert ref.remote_id == remote_id and len(books.invoices) == 2  # the demo's and ours
    assert (books.invoices[remote_id]["total"]["value"], books.invoices[remote_id]["status"]) \
        == ("106.50", "SENT")


@pytest.mark.parametrize(("line", "reason"), [
    (_line("10.00", **{"class": "Residential"}),
     "line 1 of BK-x has class 'Residential', and Wave has no classes or locations"),
    (_line("10.00", location="Eastside"),
     "line 1 of BK-x has location 'Eastside', and Wave has no classes"),
    (_line("10.00", tax="VAT"), "line 1 of BK-x: tax code 'VAT' is not mapped to a Wave sales "
                                "tax — map it to one of this business's sales taxes "
                                r"\(`syncdesk map set tax_code VAT <sales tax id>`\): "
                                r"Washington State Sales Tax 6\.5% \(id "),
])
async def test_fields_wave_cannot_hold_are_refused_before_a_call(
        provider: WaveProvider, ledger: Ledger, books: Any, recording: Recording, line: Line,
        reason: str) -> None:
    with pytest.raises((Unsupported, Unmapped), match=reason):
        await provider.push(ledger.request(Entity.INVOICE, _doc("x", [line])))
    assert "invoiceCreate" not in recording.operations()


async def test_tax_mapped_to_a_tax_the_business_lacks_is_unmapped(provider: WaveProvider,
                                                                  ledger: Ledger,
                                                                  books: Any) -> None:
    ledger.mappings = ConnectionMappings(tax_codes={"WA": "U2FsZXNUYXg6OTk="})
    with pytest.raises(Unmapped, match="mapped to 'U2FsZXNUYXg6OTk=', which is not a sales "
                                       "tax of this Wave business") as caught:
        await provider.push(ledger.request(Entity.INVOICE, BOOKS[1][0]))
    assert caught.value.code == "unmapped:tax_code:WA"  # setting it re-queues the invoice


async def test_products_take_the_mapped_income_account(provider: WaveProvider, ledger: Ledger,
                                                       app: Starlette) -> None:
    books = app.state.books
    services, other = account_id(books, "Services"), account_id(books, "Other Income")
    ledger.mappings = ConnectionMappings(income_accounts={"i2": services},
                                         default_income_account=other)
    mapped = await ledger.push(provider, Entity.ITEM, item("i2", "Mapped"))
    own = await ledger.push(provider, Entity.ITEM, item("i3", "Own", account=services))
    fallback = await ledger.push(provider, Entity.ITEM, item("i4", "Default"))
    ledger.mappings = ConnectionMappings()
    plain = await ledger.push(provider, Entity.ITEM, item("i5", "Plain"))
    accounts = [books.products[ref.remote_id]["incomeAccount"]["name"]
                for ref in (mapped, own, fallback, plain)]
    assert accounts == ["Services", "Services", "Other Income", "Sales"]


async def test_payments_and_their_methods_stay_unsupported(provider: WaveProvider,
                                                           ledger: Ledger, books: Any,
                                                           recording: Recording) -> None:
    assert [m async for m in provider.list_payment_methods()] == []
    assert [c async for c in provider.list_classes()] == []
    assert [c async for c in provider.list_locations()] == []
    before = len(recording.requests)
    payment = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=D("200.00"),
                      method="card", allocations=[Allocation(invoice_id="inv1",
                                                             amount=D("156.50"))])
    for operation in Operation:
        with pytest.raises(Unsupported, match="Wave's public API cannot apply a payment"):
            await provider.push(ledger.request(Entity.PAYMENT, payment, operation=operation))
    with pytest.raises(Unsupported, match="does not delete a customer on Wave"):
        await provider.push(ledger.request(Entity.CUSTOMER, customer(),
                                           operation=Operation.DELETE))
    assert len(recording.requests) == before


async def test_paid_invoice_is_kept_and_a_sent_one_is_deleted(provider: WaveProvider,
                                                              ledger: Ledger,
                                                              books: Any) -> None:
    record = BOOKS[2][0]
    ref = await ledger.push(provider, Entity.INVOICE, record)
    books.record_payment(ref.remote_id, D("50.00"))  # a person, in Wave's app
    for operation in (Operation.VOID, Operation.DELETE):
        with pytest.raises(Validation, match=r"Wave invoice BK-mixed has 50\.00 of payments "
                                             r"recorded on it in Wave \(of 156\.50\)"):
            await provider.push(ledger.request(Entity.INVOICE, record, operation=operation,
                                               link=ref))
    assert ref.remote_id in books.invoices
    sent = await ledger.push(provider, Entity.INVOICE, BOOKS[1][0])
    await provider.push(ledger.request(Entity.INVOICE, BOOKS[1][0], operation=Operation.VOID,
                                       link=sent))
    assert await provider.fetch(Entity.INVOICE, sent.remote_id) is None


async def test_draft_is_deleted(provider: WaveProvider, ledger: Ledger, books: Any) -> None:
    draft = _doc("draft", [_line("40.00")], status=InvoiceStatus.DRAFT)
    ref = await ledger.push(provider, Entity.INVOICE, draft)
    assert books.invoices[ref.remote_id]["status"] == "DRAFT"
    await provider.push(ledger.request(Entity.INVOICE, draft, operation=Operation.DELETE,
                                       link=ref))
    assert ref.remote_id not in books.invoices
    # Gone already (a delete whose answer was lost): done, not a broken link.
    assert await provider.push(ledger.request(Entity.INVOICE, draft,
                                              operation=Operation.DELETE, link=ref)) == ref


async def _gql(control: httpx.AsyncClient, tokens: SandboxTokens, query: str,
               variables: dict[str, Any]) -> dict[str, Any]:
    response = await control.post("/graphql/public", json={
        "query": query, "variables": variables},
        headers={"Authorization": f"Bearer {tokens.current}"})
    body: dict[str, Any] = response.json()
    return body


async def test_sandbox_refuses_unknown_fields_and_deleting_a_paid_invoice(
        provider: WaveProvider, ledger: Ledger, books: Any, control: httpx.AsyncClient,
        tokens: SandboxTokens) -> None:
    customer_id = ledger.refs[(Entity.CUSTOMER, "c1")].remote_id
    product_id = ledger.refs[(Entity.ITEM, "i1")].remote_id
    create = ("mutation ($input: InvoiceCreateInput!) { invoiceCreate(input: $input) "
              "{ didSucceed invoice { id } } }")
    answer = await _gql(control, tokens, create, {"input": {
        "businessId": books.id, "customerId": customer_id, "colour": "teal",
        "items": [{"productId": product_id, "discountPct": 50}]}})
    [error, *_] = answer["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "colour" in error["message"] or "discountPct" in error["message"]
    assert len(books.invoices) == 1  # only the demo's INV-1042

    ref = await ledger.push(provider, Entity.INVOICE, BOOKS[0][0])
    books.record_payment(ref.remote_id, D("1.00"))
    delete = ("mutation ($input: InvoiceDeleteInput!) { invoiceDelete(input: $input) "
              "{ didSucceed inputErrors { message } } }")
    answer = await _gql(control, tokens, delete, {"input": {"invoiceId": ref.remote_id}})
    assert answer["data"]["invoiceDelete"]["didSucceed"] is False
    assert ref.remote_id in books.invoices


async def test_through_the_engine_a_wrong_total_fails_linked_and_the_fix_patches_it(
        make_world: Callable[..., Any]) -> None:
    world: World = await make_world(("wave",))
    service = service_of(world)
    books = world.apps["wave"].state.books
    [tax_id] = books.sales_taxes
    wrong = Invoice(id="INV-1", number="INV-1", customer_id="C-1", issue_date=date(2026, 3, 2),
                    status=InvoiceStatus.SENT, lines=[
                        Line(item_id="I-1", unit_price=D("100.00"), tax_code="WA",
                             tax_amount=D("8.00"))])
    await world.ledger.upsert([Customer(id="C-1", display_name="Maple Homes"),
                               Item(id="I-1", sku="PANEL", name="Panel upgrade"), wrong])
    await world.sync()
    job = await world.job("wave", "invoice", "INV-1")
    assert (job["status"], job["error_code"]) == ("skipped", "unmapped:tax_code:WA")

    # Wave's only sales tax is 6.5 %; the ledger charged 8 %.
    assert (await service.set_mapping(world.connections["wave"], MappingKind.TAX_CODE, "WA",
                                      tax_id)).requeued == 1
    await world.sync()
    job = await world.job("wave", "invoice", "INV-1")
    assert job["status"] == "failed" and "106.50" in job["error_message"] \
        and "108.00" in job["error_message"]

    fixed = wrong.model_copy(update={"lines": [wrong.lines[0].model_copy(
        update={"tax_amount": D("6.50")})]})
    await world.ledger.upsert([fixed])
    await world.sync()
    assert (await world.job("wave", "invoice", "INV-1"))["status"] == "synced"
    assert [(i["total"]["value"], i["status"]) for i in books.invoices.values()
            if i["invoiceNumber"] == "INV-1"] == [("106.50", "SENT")]
