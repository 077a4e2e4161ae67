"""QuickBooks books that agree with the ledger, to the cent and field by field.

One ledger — taxed, untaxed and mixed lines, tax-exclusive and tax-inclusive amounts, classes,
locations, payment methods, an overpayment, a voided payment, a deleted draft, an edited
payment, a deleted payment, credit notes — pushed through the provider with a connection's
mappings, to a US company (one sales tax per transaction) and to a UK one (a tax rate per
line). Each record either lands with QuickBooks' total equal to the ledger's and every field it
holds present on QuickBooks, or is refused with its reason before anything is sent. `-s`
prints the table. Last, through the engine: a total that differs fails linked, and the fixed
mapping updates the same invoice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from engine import (
    Allocation,
    ConnectionMappings,
    ConnectionSettings,
    CreditNote,
    Customer,
    Entity,
    Invoice,
    InvoiceStatus,
    Item,
    JobFilter,
    Line,
    MappingKind,
    Operation,
    Payment,
    Record,
    Refund,
    RemoteRef,
    SyncError,
    TotalMismatch,
    Unmapped,
    Unsupported,
    Validation,
)
from providers._sandbox import Clock
from providers.quickbooks import PLATFORM, QuickBooksProvider, create_sandbox_app
from tests._world import World
from tests.providers._support import Ledger, connect
from tests.test_mappings import service_of

from .conftest import BASE, REALM, Api, Recorder, customer, item

US = ConnectionMappings(
    income_accounts={"i-labor": "80"}, default_income_account="79", deposit_account="35",
    # CA-OLD is a mapping gone wrong: the ledger charged 8 %, Nevada's code charges 6.85 %.
    tax_codes={"CA": "2", "NV": "4", "CA-OLD": "4"},
    payment_methods={"check": "2", "cash": "1"},
    classes={"residential": "1", "commercial": "2"}, locations={"north": "1", "south": "2"})
UK = ConnectionMappings(default_income_account="79", tax_codes={"VAT20": "10", "VAT5": "12"},
                        no_tax_code="14")


@dataclass
class Books:
    """A provider, the connection's mappings, and what was pushed, for one company."""

    provider: QuickBooksProvider
    api: Api
    mappings: ConnectionMappings
    recorder: Recorder
    ledger: Ledger = field(default_factory=Ledger)
    table: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def push(self, entity: Entity, record: Record,
                   operation: Operation = Operation.CREATE) -> RemoteRef | SyncError:
        """The push's ref, or the error it was refused with."""
        link = None if operation is Operation.CREATE else self.ledger.refs[(entity, record.id)]
        request = replace(self.ledger.request(entity, record, operation=operation, link=link,
                                              key=f"k-{record.id}-{operation.value}"),
                          mappings=self.mappings)
        try:
            ref = await self.provider.push(request)
        except TotalMismatch as mismatch:
            assert isinstance(mismatch.ref, RemoteRef)
            self.ledger.refs[(entity, record.id)] = mismatch.ref
            return mismatch
        except SyncError as error:
            return error
        self.ledger.refs[(entity, record.id)] = ref
        if isinstance(record, Item):
            self.ledger.items[record.id] = record
        return ref

    async def remote(self, entity: Entity, record_id: str) -> dict[str, Any]:
        ref = self.ledger.refs[(entity, record_id)]
        name = {Entity.INVOICE: "Invoice", Entity.PAYMENT: "Payment",
                Entity.CREDIT_NOTE: "CreditMemo", Entity.ITEM: "Item"}[entity]
        answer = await self.api.get(f"{name.lower()}/{ref.remote_id}")
        return dict(answer.json().get(name) or answer.json())

    def sent(self, marker: str) -> bool:
        """Whether any request body carried this text (a refused record's number)."""
        return any(marker in request.content.decode() for request in self.recorder.requests
                   if request.content)

    async def landed(self, entity: Entity, record: Record, ledger_total: Decimal) -> dict[
            str, Any]:
        """Pushed and equal to the ledger to the cent; its row of the table."""
        ref = await self.push(entity, record)
        assert isinstance(ref, RemoteRef), ref
        remote = await self.remote(entity, record.id)
        platform_total = Decimal(str(remote["TotalAmt"]))
        assert platform_total == ledger_total, (record.id, platform_total, ledger_total)
        if isinstance(record, (Invoice, CreditNote)):
            assert record.total == ledger_total
        self.row(record, ledger_total, platform_total, _fields(remote))
        return remote

    async def refused(self, entity: Entity, record: Record, error: type[SyncError],
                      reason: str, operation: Operation = Operation.CREATE) -> SyncError:
        outcome = await self.push(entity, record, operation)
        assert isinstance(outcome, error), outcome
        assert reason in outcome.message, outcome.message
        total = record.total if isinstance(record, (Invoice, CreditNote)) else getattr(
            record, "amount", Decimal(0))
        what = "refused" if operation is Operation.CREATE else f"{operation.value} refused"
        self.row(record, total, "—", f"{what} ({type(outcome).__name__}): {outcome.message}")
        return outcome

    def row(self, record: Record, ledger: Decimal, platform: object, fields: str) -> None:
        name = getattr(record, "number", None) or record.id
        self.table.append((f"{type(record).__name__} {name}", f"{ledger:.2f}",
                           platform if isinstance(platform, str) else f"{platform:.2f}",
                           fields))


def _fields(remote: dict[str, Any]) -> str:
    """What of the ledger's fields QuickBooks holds, as a person reads it in the table."""
    shown: list[str] = []
    lines = [line for line in remote.get("Line") or []
             if line.get("DetailType") == "SalesItemLineDetail"]
    for line in lines:
        detail = line["SalesItemLineDetail"]
        parts = [detail.get("TaxCodeRef", {}).get("value", "-")]
        if "ClassRef" in detail:
            parts.append(f"class {detail['ClassRef']['value']}")
        shown.append("/".join(parts))
    tax = remote.get("TxnTaxDetail") or {}
    if "TxnTaxCodeRef" in tax:
        shown.append(f"TxnTaxCode {tax['TxnTaxCodeRef']['value']}")
    if lines:
        shown.append(f"tax {Decimal(str(tax.get('TotalTax', 0))):.2f}")
    for key in ("GlobalTaxCalculation", "DepartmentRef", "PaymentMethodRef",
                "DepositToAccountRef"):
        if key in remote:
            value = remote[key]
            shown.append(f"{key} {value['value'] if isinstance(value, dict) else value}")
    if Decimal(str(remote.get("UnappliedAmt", 0))):
        shown.append(f"unapplied {Decimal(str(remote['UnappliedAmt'])):.2f}")
    return ", ".join(shown)


@pytest.fixture
async def us_books(provider: QuickBooksProvider, api: Api, recorder: Recorder) -> Books:
    return Books(provider, api, US, recorder)


@pytest.fixture
async def uk_books(clock: Clock) -> AsyncIterator[Books]:
    app = create_sandbox_app(clock=clock, limits_enabled=False, country="GB")
    recorder = Recorder(httpx.ASGITransport(app=app))
    settings = ConnectionSettings(platform="quickbooks", tenant_id=REALM, client_id="syncdesk",
                                  client_secret="secret", base_url=BASE, timeout=2.0,
                                  transport=recorder)
    tokens, _ = await connect(PLATFORM, settings)
    provider = QuickBooksProvider(settings, tokens)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as raw:
        yield Books(provider, Api(raw, tokens.tokens.access_token), UK, recorder)
    await provider.aclose()


def _invoice(number: str, *lines: Line, status: InvoiceStatus = InvoiceStatus.SENT,
             inclusive: bool = False) -> Invoice:
    return Invoice(id=number, number=number, customer_id="c1", issue_date=date(2026, 3, 2),
                   lines=list(lines), status=status, tax_inclusive=inclusive)


def _payment(local_id: str, amount: str, method: str, *paid: tuple[str, str],
             reference: str | None = None) -> Payment:
    return Payment(id=local_id, customer_id="c1", date=date(2026, 3, 9), amount=Decimal(amount),
                   method=method, reference=reference,
                   allocations=[Allocation(invoice_id=i, amount=Decimal(a)) for i, a in paid])


def _line(price: str, *, quantity: int = 1, item_id: str | None = None, tax: str | None = None,
          tax_amount: str = "0", **extra: Any) -> Line:
    return Line(item_id=item_id, description="" if item_id else "Work", quantity=quantity,
                unit_price=Decimal(price), tax_code=tax, tax_amount=Decimal(tax_amount),
                **extra)


TILE, LABOR = "i-tile", "i-labor"


async def test_a_us_company_books_agree_with_the_ledger(us_books: Books) -> None:
    books = us_books
    assert isinstance(await books.push(Entity.CUSTOMER, customer()), RemoteRef)
    for local_id, name in ((TILE, "Porcelain tile"), (LABOR, "Tiling labour")):
        assert isinstance(await books.push(Entity.ITEM, item(local_id, name, account=None)),
                          RemoteRef)
    accounts = [(await books.remote(Entity.ITEM, i))["IncomeAccountRef"]["value"]
                for i in (TILE, LABOR)]
    assert accounts == ["79", "80"]  # the default, then the item's own mapping

    taxed = _invoice("INV-1", _line("100.00", quantity=2, item_id=TILE, tax="CA",
                                    tax_amount="16.00", class_="residential"))
    remote = await books.landed(Entity.INVOICE, taxed, Decimal("216.00"))
    detail = remote["Line"][0]["SalesItemLineDetail"]
    assert (detail["TaxCodeRef"], detail["ClassRef"]["value"]) == ({"value": "TAX"}, "1")
    assert remote["TxnTaxDetail"]["TxnTaxCodeRef"] == {"value": "2"}

    untaxed = _invoice("INV-2", _line("45.00", quantity=3, item_id=LABOR, location="north"),
                       _line("15.00", location="north"))
    remote = await books.landed(Entity.INVOICE, untaxed, Decimal("150.00"))
    assert remote["DepartmentRef"]["value"] == "1"
    assert "TxnTaxCodeRef" not in remote["TxnTaxDetail"]
    assert {line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in remote["Line"][:2]} \
        == {"NON"}

    mixed = _invoice("INV-3", _line("50.00", item_id=TILE, tax="CA", tax_amount="4.00",
                                    class_="residential"),
                     _line("45.00", quantity=2, item_id=LABOR, class_="commercial"))
    remote = await books.landed(Entity.INVOICE, mixed, Decimal("144.00"))
    assert [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in remote["Line"][:2]] \
        == ["TAX", "NON"]

    draft = _invoice("INV-5", _line("80.00"), status=InvoiceStatus.DRAFT)
    await books.landed(Entity.INVOICE, draft, Decimal("80.00"))
    gone = await books.push(Entity.INVOICE, draft, Operation.DELETE)
    assert isinstance(gone, RemoteRef)
    assert (await books.remote(Entity.INVOICE, draft.id))["Fault"]["Error"][0]["code"] == "610"
    books.row(draft, draft.total, Decimal(0), "deleted (a draft): gone from QuickBooks")

    sent = _invoice("INV-10", _line("65.00"))
    await books.landed(Entity.INVOICE, sent, Decimal("65.00"))
    voided = await books.push(Entity.INVOICE, sent, Operation.VOID)
    assert isinstance(voided, RemoteRef)
    remote = await books.remote(Entity.INVOICE, sent.id)
    assert (remote["TotalAmt"], remote["PrivateNote"]) == (0, "Voided")
    books.row(sent, sent.total, Decimal(0), "voided (sent): TotalAmt 0, kept as Voided")

    # Amounts that include tax go without it: US sales tax is added on top.
    inclusive = _invoice("INV-4", _line("54.00", quantity=2, item_id=TILE, tax="CA",
                                        tax_amount="8.00"), _line("30.00"), inclusive=True)
    remote = await books.landed(Entity.INVOICE, inclusive, Decimal("138.00"))
    line = remote["Line"][0]
    assert (line["Amount"], line["SalesItemLineDetail"]["UnitPrice"]) == (100, 50)
    assert remote["TxnTaxDetail"]["TotalTax"] == 8

    # Refused before anything is sent, each with what to do about it.
    await books.refused(Entity.INVOICE, _invoice(
        "INV-12", _line("108.00", tax="CA", tax_amount="9.00"), inclusive=True), Unsupported,
        "QuickBooks would charge 7.92 at 8 %, the ledger charged 9.00")
    await books.refused(Entity.INVOICE, _invoice(
        "INV-6", _line("10.00", location="north"), _line("10.00", location="south")),
        Unsupported, "lines in different locations ('north', 'south')")
    unmapped = [
        await books.refused(Entity.INVOICE, _invoice("INV-7", _line("10.00", class_="industrial")),
                            Unmapped, "class 'industrial' has no QuickBooks class mapped"),
        await books.refused(Entity.INVOICE, _invoice("INV-8", _line("10.00", tax="TX",
                                                                    tax_amount="0.63")),
                            Unmapped, "tax code 'TX' has no QuickBooks tax code mapped")]
    # The code names the mapping that unblocks it (engine._mappings re-queues by it).
    assert [error.code for error in unmapped] == ["unmapped:class:industrial",
                                                  "unmapped:tax_code:TX"]
    await books.refused(Entity.INVOICE, _invoice(
        "INV-11", _line("10.00", tax="CA", tax_amount="0.80"),
        _line("10.00", tax="NV", tax_amount="0.69")), Unsupported,
        "more than one sales tax (QuickBooks codes 2, 4)")
    for number in ("INV-12", "INV-6", "INV-7", "INV-8", "INV-11"):
        assert not books.sent(number)

    # A wrong mapping lands a different total: a visible failure naming both, linked.
    wrong = _invoice("INV-9", _line("100.00", tax="CA-OLD", tax_amount="8.00"))
    mismatch = await books.push(Entity.INVOICE, wrong)
    assert isinstance(mismatch, TotalMismatch)
    assert (mismatch.ledger_total, mismatch.platform_total) == (Decimal("108.00"),
                                                                Decimal("106.85"))
    assert "106.85" in mismatch.message and "108.00" in mismatch.message
    books.row(wrong, wrong.total, mismatch.platform_total,
              f"TotalMismatch, linked to {books.ledger.refs[(Entity.INVOICE, 'INV-9')].remote_id}"
              f": {mismatch.message}")

    # Payments: method and deposit account, an overpayment, a void, an edit.
    remote = await books.landed(Entity.PAYMENT, _payment(
        "P-1", "216.00", "check", ("INV-1", "216.00"), reference="CHK 1001"), Decimal("216.00"))
    assert (remote["PaymentMethodRef"]["value"], remote["DepositToAccountRef"]["value"]) == (
        "2", "35")
    remote = await books.landed(Entity.PAYMENT, _payment("P-2", "200.00", "cash",
                                                         ("INV-2", "150.00")), Decimal("200.00"))
    assert Decimal(str(remote["UnappliedAmt"])) == Decimal("50.00")
    venmo = await books.refused(Entity.PAYMENT, _payment("P-3", "10.00", "venmo",
                                                         ("INV-3", "10.00")),
                                Unmapped, "method 'venmo' has no QuickBooks payment method mapped")
    assert venmo.code == "unmapped:payment_method:venmo"
    # Unmapped, a method QuickBooks has by the same name is used.
    remote = await books.landed(Entity.PAYMENT, _payment("P-7", "5.00", "bank_transfer"),
                                Decimal("5.00"))
    assert remote["PaymentMethodRef"]["value"] == "6"  # "Bank Transfer"

    cancelled = _payment("P-4", "50.00", "check", ("INV-3", "50.00"))
    await books.landed(Entity.PAYMENT, cancelled, Decimal("50.00"))
    assert isinstance(await books.push(Entity.PAYMENT, cancelled, Operation.VOID), RemoteRef)
    assert (await books.remote(Entity.PAYMENT, cancelled.id))["TotalAmt"] == 0
    books.row(cancelled, cancelled.amount, Decimal(0), "voided: TotalAmt 0, unapplied")

    mistaken = _payment("P-6", "25.00", "cash", ("INV-3", "25.00"))
    await books.landed(Entity.PAYMENT, mistaken, Decimal("25.00"))
    assert isinstance(await books.push(Entity.PAYMENT, mistaken, Operation.DELETE), RemoteRef)
    assert (await books.remote(Entity.PAYMENT, mistaken.id))["Fault"]["Error"][0][
        "code"] == "610"
    books.row(mistaken, mistaken.amount, Decimal(0), "deleted: gone from QuickBooks")

    edited = _payment("P-5", "40.00", "cash", ("INV-3", "40.00"))
    await books.landed(Entity.PAYMENT, edited, Decimal("40.00"))
    edited = _payment("P-5", "60.00", "cash", ("INV-3", "60.00"))
    assert isinstance(await books.push(Entity.PAYMENT, edited, Operation.UPDATE), RemoteRef)
    remote = await books.remote(Entity.PAYMENT, edited.id)
    assert Decimal(str(remote["TotalAmt"])) == Decimal("60.00")
    books.row(edited, edited.amount, Decimal(str(remote["TotalAmt"])),
              f"edited 40.00 → 60.00 in place, {_fields(remote)}")

    credit = CreditNote(id="CN-1", number="CN-1", customer_id="c1", date=date(2026, 3, 10),
                        lines=[_line("10.00")],
                        allocations=[Allocation(invoice_id="INV-3", amount=Decimal("10.00"))])
    await books.landed(Entity.CREDIT_NOTE, credit, Decimal("10.00"))
    dropped = CreditNote(id="CN-2", number="CN-2", customer_id="c1", date=date(2026, 3, 10),
                         lines=[_line("5.00")])
    await books.landed(Entity.CREDIT_NOTE, dropped, Decimal("5.00"))
    assert isinstance(await books.push(Entity.CREDIT_NOTE, dropped, Operation.DELETE),
                      RemoteRef)
    books.row(dropped, dropped.total, Decimal(0), "deleted: gone from QuickBooks")
    await books.refused(Entity.CREDIT_NOTE, credit, Unsupported,
                        "QuickBooks' API cannot void a credit memo", Operation.VOID)
    refunded = CreditNote(id="CN-3", number="CN-3", customer_id="c1", date=date(2026, 3, 10),
                          lines=[_line("30.00")],
                          refunds=[Refund(amount=Decimal("30.00"), date=date(2026, 3, 11))])
    await books.refused(Entity.CREDIT_NOTE, refunded, Unsupported,
                        "cannot be tied to a credit memo")
    assert not books.sent("CN-3")

    # What was paid and credited lands on the invoices' balances, to the cent.
    balances = {number: Decimal(str((await books.remote(Entity.INVOICE, number))[
        "Balance"])) for number in ("INV-1", "INV-2", "INV-3")}
    assert balances == {"INV-1": 0, "INV-2": 0, "INV-3": Decimal("144.00") - 60 - 10}

    # A paid invoice is not voided nor deleted: the allocations are named.
    for operation in (Operation.VOID, Operation.DELETE):
        refusal = await books.refused(Entity.INVOICE, taxed, Validation,
                                      "has payment CHK 1001 (216.00) applied", operation)
        assert refusal.field == "allocations"
    refusal = await books.refused(Entity.INVOICE, mixed, Validation, "payment P-5 (60.00), "
                                  "credit from credit note CN-1 (10.00) applied", Operation.VOID)
    assert (await books.remote(Entity.INVOICE, taxed.id))["TotalAmt"] == 216

    _print(books.table, "QuickBooks US company")


async def test_a_uk_company_books_agree_with_the_ledger(uk_books: Books) -> None:
    books = uk_books
    assert isinstance(await books.push(Entity.CUSTOMER, customer()), RemoteRef)
    exclusive = _invoice("G-1", _line("100.00", tax="VAT20", tax_amount="20.00"),
                         _line("40.00", tax="VAT5", tax_amount="2.00"), _line("30.00"))
    remote = await books.landed(Entity.INVOICE, exclusive, Decimal("192.00"))
    assert remote["GlobalTaxCalculation"] == "TaxExcluded"
    assert [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in remote["Line"][:3]] \
        == ["10", "12", "14"]
    inclusive = _invoice("G-2", _line("120.00", tax="VAT20", tax_amount="20.00"),
                         _line("21.00", tax="VAT5", tax_amount="1.00"), inclusive=True)
    remote = await books.landed(Entity.INVOICE, inclusive, Decimal("141.00"))
    assert (remote["GlobalTaxCalculation"], remote["TxnTaxDetail"]["TotalTax"]) == (
        "TaxInclusive", 21)
    await books.landed(Entity.INVOICE, _invoice("G-3", _line("50.00")), Decimal("50.00"))

    unmapped_untaxed = replace(books, mappings=replace(UK, no_tax_code=None))
    refused = await unmapped_untaxed.refused(Entity.INVOICE, _invoice(
        "G-4", _line("10.00", tax="VAT20", tax_amount="2.00"), _line("10.00")), Unmapped,
        "map the code for untaxed lines ('no_tax_code')")
    assert refused.code == "unmapped:no_tax_code"
    # With no tax at all and nothing mapped for untaxed lines, tax does not apply.
    remote = await unmapped_untaxed.landed(Entity.INVOICE, _invoice("G-5", _line("12.00")),
                                           Decimal("12.00"))
    assert remote["GlobalTaxCalculation"] == "NotApplicable"
    _print(books.table, "QuickBooks UK company")  # `replace` shares the table


def _print(table: list[tuple[str, str, str, str]], title: str) -> None:
    print(f"\n{title}\n| record | ledger total | QBO total | fields present on QBO |\n"
          "|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")


async def test_through_the_engine_a_wrong_total_fails_linked_and_the_fix_updates_it(
        make_world: Callable[..., Any]) -> None:
    world: World = await make_world(("quickbooks",))
    qbo = world.connections["quickbooks"]
    service = service_of(world)
    taxed = Invoice(id="INV-1", number="INV-1", customer_id="C-1", issue_date=date(2026, 3, 2),
                    status=InvoiceStatus.SENT,
                    lines=[_line("100.00", tax="CA", tax_amount="8.00")])
    await world.ledger.upsert([Customer(id="C-1", display_name="Maple Homes"), taxed])
    await world.sync()
    job = await world.job("quickbooks", "invoice", "INV-1")
    assert (job["status"], job["error_code"]) == ("skipped", "unmapped:tax_code:CA")

    # Mapped to the wrong code: QuickBooks charges 6.85 %, the ledger 8 %.
    change = await service.set_mapping(qbo, MappingKind.TAX_CODE, "CA", "4")
    assert change.requeued == 1
    await world.sync()
    job = await world.job("quickbooks", "invoice", "INV-1")
    assert job["status"] == "failed" and "106.85" in job["error_message"] \
        and "108.00" in job["error_message"]
    link = await world.store.fetch_one(
        "SELECT remote_id FROM sync_links WHERE connection_id = ? AND entity = 'invoice' AND "
        "record_id = 'INV-1'", (qbo,))
    assert link is not None

    await service.set_mapping(qbo, MappingKind.TAX_CODE, "CA", "2")
    assert await service.retry_matching(JobFilter(statuses=("failed",))) == 1
    await world.sync()
    assert (await world.job("quickbooks", "invoice", "INV-1"))["status"] == "synced"
    company = world.apps["quickbooks"].state.company
    assert [(i["Id"], i["TotalAmt"]) for i in company.rows("Invoice")
            if i["DocNumber"] == "INV-1"] == [(link["remote_id"], Decimal("108.00"))]
