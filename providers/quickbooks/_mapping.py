"""Domain records → QBO v3 JSON bodies, and QBO objects → `RemoteRef`.

Element names are Intuit's (checked against its XSDs in the tests). Every object syncdesk
creates carries a marker in a private field (`PrivateNote`, or `Notes` on a customer), so a
later lookup can tell our objects from ones a person made in QuickBooks.

Every field the ledger holds is sent, or the record is refused here before any request:
`Unmapped` when the connection's mappings lack the key (its message names the key in quotes,
its `kind` and `key` are the mapping that unblocks it), `Unsupported` when QuickBooks cannot hold
the record as the ledger has it. A payment method the connection does not map is the
QuickBooks method of the same name, where there is exactly one (the client looks it up).
Taxes follow the company's country:

- US: lines are TAX or NON; the one sales-tax code the lines' mapped codes name (a tax group
  or rate) goes in `TxnTaxDetail.TxnTaxCodeRef`; two sales taxes on one document are refused.
  US sales tax is added on top, so tax-inclusive lines go without their tax, and only when
  QBO's tax on what is left comes to the ledger's to the cent.
- elsewhere: each line carries its mapped TaxCode (an untaxed line `mappings.no_tax_code`), and
  `GlobalTaxCalculation` says whether amounts include it; a document without tax is
  `NotApplicable`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from engine import (
    MINOR_UNITS,
    ConnectionMappings,
    CreditNote,
    Customer,
    Entity,
    Invoice,
    Item,
    Line,
    Payment,
    PushRequest,
    RemoteRef,
    Unmapped,
    Unsupported,
    income_account_for,
)

PLATFORM = "quickbooks"
PAYMENT_REF_MAX = 21
"""Payment.PaymentRefNum holds at most 21 characters."""
UNIT_PRICE_PLACES = Decimal("0.0000001")
"""QBO keeps a unit price to 7 decimal places."""

Body = dict[str, Any]


@dataclass(frozen=True)
class Wire:
    resource: str
    """The lowercase URL segment: invoice, creditmemo, …"""
    name: str
    """The entity's name in bodies and queries: Invoice, CreditMemo, …"""
    number_field: str
    """The field a person reads as the object's number or name."""


WIRE: dict[Entity, Wire] = {
    Entity.CUSTOMER: Wire("customer", "Customer", "DisplayName"),
    Entity.ITEM: Wire("item", "Item", "Name"),
    Entity.INVOICE: Wire("invoice", "Invoice", "DocNumber"),
    Entity.PAYMENT: Wire("payment", "Payment", "PaymentRefNum"),
    Entity.CREDIT_NOTE: Wire("creditmemo", "CreditMemo", "DocNumber"),
}


MARK_PREFIX = "syncdesk:"
CREDIT_PURPOSE = "credit"
"""The purpose in the mark of the payment that applies a credit memo (`marker`)."""
REFUNDS_UNSUPPORTED = (
    "a QuickBooks Online RefundReceipt is a sale of its own (Finance.xsd: it extends "
    "SalesTransaction, lines reversing income again) and cannot be tied to a credit memo (in "
    "QBO a LinkedTxn written on a transaction names only estimates), so it would count the "
    "return twice and leave the memo's credit open. Refund the credit memo by hand in "
    "QuickBooks (a cheque to the customer from Accounts Receivable, linked to the memo in "
    "Receive Payment), or take the refunds off this credit note in the ledger"
)
"""Why a credit note's refunds are refused on QuickBooks (`providers._refunds`)."""


def marker(record_id: str, purpose: str = "") -> str:
    """The private note that proves an object is syncdesk's copy of `record_id`."""
    return f"{MARK_PREFIX}{record_id}{':' + purpose if purpose else ''}"


def marked_id(note: object) -> str | None:
    """What follows the prefix in a note `marker` wrote (purpose included), else None."""
    if isinstance(note, str) and note.startswith(MARK_PREFIX) and len(note) > len(MARK_PREFIX):
        return note[len(MARK_PREFIX):]
    return None


def voided(obj: Body) -> bool:
    """What a void leaves on QBO: nothing owed, and the note "Voided" in place of ours."""
    return obj.get("PrivateNote") == "Voided" and Decimal(str(obj.get("TotalAmt", 0))) == 0


def remote_ref(entity: Entity, obj: Body) -> RemoteRef:
    number = obj.get(WIRE[entity].number_field)
    shown = [f"{WIRE[entity].name} {obj['Id']}", str(number) if number is not None else "",
             str((obj.get("CustomerRef") or {}).get("name") or ""), str(obj.get("TxnDate", "")),
             f"total {obj['TotalAmt']}" if "TotalAmt" in obj else ""]
    return RemoteRef(remote_id=str(obj["Id"]), version=obj.get("SyncToken"),
                     number=str(number) if number is not None else None,
                     shown=" · ".join(part for part in shown if part))


def amount(value: Decimal) -> float:
    """A JSON number for the wire; exact for the 2–4 decimal places syncdesk allows."""
    return float(value)


def unmapped(kind: str, key: str, what: str) -> Unmapped:
    """Nothing sent: the connection maps no QuickBooks `kind` for the ledger's `key`."""
    label = kind.replace("_", " ")
    return Unmapped(f"{what} '{key}' has no QuickBooks {label} mapped: pick one from "
                    "QuickBooks' list for this connection (Connections screen, or "
                    f"`syncdesk map set` {kind} {key})", kind=kind, key=key, field=kind)


@dataclass(frozen=True)
class TaxSetup:
    """What of the company's tax settings a document's body depends on."""

    us: bool
    """A US company: lines are TAX or NON, one sales tax per transaction."""
    rates: Mapping[str, Decimal] = field(default_factory=dict)
    """Tax code id → the percent it charges; read only for a US document whose amounts
    include tax (`needs_rates`)."""


def needs_rates(document: Invoice | CreditNote) -> bool:
    return document.tax_inclusive and any(line.tax_code for line in document.lines)


def body_for(request: PushRequest, tax: TaxSetup) -> Body:
    """`tax` is consulted by documents only."""
    record = request.record
    if isinstance(record, Customer):
        return customer_body(record, request)
    if isinstance(record, Item):
        return item_body(record, request.mappings)
    if isinstance(record, Invoice):
        return invoice_body(record, request, tax)
    if isinstance(record, CreditNote):
        return credit_memo_body(record, request, tax)
    return payment_body(record, request)


def customer_body(customer: Customer, request: PushRequest) -> Body:
    body: Body = {"DisplayName": customer.display_name, "Notes": marker(customer.id)}
    if customer.parent_id is not None:
        # A sub-customer is a QBO "job" of its parent; invoices may bill either.
        parent = _ref(request, Entity.CUSTOMER, customer.parent_id)
        body.update(ParentRef={"value": parent.remote_id}, Job=True)
    if customer.company:
        body["CompanyName"] = customer.company
    if customer.email:
        body["PrimaryEmailAddr"] = {"Address": customer.email}
    if customer.phone:
        body["PrimaryPhone"] = {"FreeFormNumber": customer.phone}
    address = customer.billing_address
    if address is not None:
        fields = {"Line1": address.line1, "Line2": address.line2, "City": address.city,
                  "CountrySubDivisionCode": address.region, "PostalCode": address.postal_code,
                  "Country": address.country}
        body["BillAddr"] = {key: value for key, value in fields.items() if value}
    return body


def income_account(item: Item, mappings: ConnectionMappings) -> str:
    """`engine.income_account_for`: the connection's mapping, the item's own, the default."""
    account = income_account_for(mappings, item, PLATFORM)
    if not account:
        raise Unmapped(f"item '{item.name}' has no income account for QuickBooks — map one",
                       kind="income_account", key=item.id, field="income_account")
    return account


def item_body(item: Item, mappings: ConnectionMappings) -> Body:
    account = income_account(item, mappings)
    # Items have no private note: the purchase description, which sales forms never show,
    # carries our mark so that find() can tell our item from a namesake.
    return {"Name": item.name, "Sku": item.sku, "Type": "Service",
            "UnitPrice": amount(item.unit_price), "Taxable": item.taxable,
            "IncomeAccountRef": {"value": account}, "PurchaseDesc": marker(item.id)}


def invoice_body(invoice: Invoice, request: PushRequest, tax: TaxSetup) -> Body:
    body = _sales_body(invoice, request, invoice.issue_date.isoformat(), tax)
    if invoice.due_date is not None:
        body["DueDate"] = invoice.due_date.isoformat()
    return body


def credit_memo_body(note: CreditNote, request: PushRequest, tax: TaxSetup) -> Body:
    return _sales_body(note, request, note.date.isoformat(), tax)


def payment_body(payment: Payment, request: PushRequest) -> Body:
    body: Body = {
        "CustomerRef": {"value": _ref(request, Entity.CUSTOMER, payment.customer_id).remote_id},
        "TotalAmt": amount(payment.amount),
        "TxnDate": payment.date.isoformat(),
        "CurrencyRef": {"value": payment.currency},
        "PaymentRefNum": payment_ref(payment),
        "PrivateNote": marker(payment.id),
        "Line": [{"Amount": amount(a.amount), "LinkedTxn": [{
            "TxnId": _ref(request, Entity.INVOICE, a.invoice_id).remote_id,
            "TxnType": "Invoice"}]} for a in payment.allocations],
    }
    mappings = request.mappings
    method = mappings.payment_methods.get(payment.method)
    if method is not None:
        body["PaymentMethodRef"] = {"value": method}
    elif payment.method != "other":
        raise unmapped("payment_method", payment.method, f"payment {payment.id}'s method")
    if mappings.deposit_account:
        body["DepositToAccountRef"] = {"value": mappings.deposit_account}
    return body


def method_name(name: str) -> str:
    """How a payment method's name compares: case and `_` against a space do not count."""
    return name.replace("_", " ").casefold().strip()


def payment_ref(payment: Payment) -> str:
    """The reference a person sees on the QBO payment: theirs, or the local id."""
    return (payment.reference or payment.id)[:PAYMENT_REF_MAX]


def credit_application_body(note: CreditNote, memo_id: str, request: PushRequest) -> Body:
    """A zero-amount Payment that takes credit from the memo and applies it to invoices.

    This is how QBO applies a credit memo through the API: the payment's lines link the
    invoices (amounts applied) and the credit memo (the credit used), netting to zero.
    """
    lines = [{"Amount": amount(a.amount), "LinkedTxn": [{
        "TxnId": _ref(request, Entity.INVOICE, a.invoice_id).remote_id, "TxnType": "Invoice"}]}
        for a in note.allocations]
    lines.append({"Amount": amount(note.allocated),
                  "LinkedTxn": [{"TxnId": memo_id, "TxnType": "CreditMemo"}]})
    return {
        "CustomerRef": {"value": _ref(request, Entity.CUSTOMER, note.customer_id).remote_id},
        "TotalAmt": 0,
        "TxnDate": note.date.isoformat(),
        "CurrencyRef": {"value": note.currency},
        "PrivateNote": marker(note.id, CREDIT_PURPOSE),
        "Line": lines,
    }


def _sales_body(document: Invoice | CreditNote, request: PushRequest, txn_date: str,
                tax: TaxSetup) -> Body:
    codes, tax_fields = _taxes(document, request.mappings, tax.us)
    nets: list[Decimal | None] = [None] * len(document.lines)
    if tax.us and needs_rates(document):
        nets = list(_without_tax(document, codes, tax_fields, tax.rates))
    body: Body = {
        "CustomerRef": {"value": _ref(request, Entity.CUSTOMER, document.customer_id).remote_id},
        "DocNumber": document.number,
        "TxnDate": txn_date,
        "CurrencyRef": {"value": document.currency},
        "PrivateNote": marker(document.id),
        "Line": [_sales_line(line, document.currency, request, code, net)
                 for line, code, net in zip(document.lines, codes, nets, strict=True)],
        **tax_fields,
    }
    location = _location(document, request.mappings)
    if location is not None:
        body["DepartmentRef"] = {"value": location}
    return body


def _describe(document: Invoice | CreditNote) -> str:
    return f"{'invoice' if isinstance(document, Invoice) else 'credit note'} {document.number}"


def _taxes(document: Invoice | CreditNote, mappings: ConnectionMappings,
           us: bool) -> tuple[list[str | None], Body]:
    """Each line's TaxCodeRef value, and the document's own tax fields."""
    mapped = [_tax_code(line, mappings) for line in document.lines]
    taxed = any(line.tax_code for line in document.lines)
    if us:
        groups = list(dict.fromkeys(code for code in mapped if code not in (None, "TAX", "NON")))
        if len(groups) > 1:
            raise Unsupported(f"{_describe(document)} charges more than one sales tax "
                              f"(QuickBooks codes {', '.join(groups)}), and a QuickBooks US "
                              "transaction charges one: split it, or map its codes to one "
                              "combined tax group")
        codes: list[str | None] = ["NON" if code in (None, "NON") else "TAX" for code in mapped]
        # Always sent, empty when untaxed: a sparse update would keep a sales tax it drops.
        return codes, {"TxnTaxDetail": {"TxnTaxCodeRef": {"value": groups[0]}}
                       if groups else {}}
    untaxed = mappings.no_tax_code
    if not taxed and untaxed is None:
        return [None] * len(mapped), {"GlobalTaxCalculation": "NotApplicable"}
    if untaxed is None:
        raise Unmapped(f"{_describe(document)} has lines without tax beside taxed ones, and "
                       "QuickBooks needs a tax code on every line: map the code for untaxed "
                       "lines ('no_tax_code') for this connection", kind="no_tax_code",
                       field="no_tax_code")
    calculation = "TaxInclusive" if document.tax_inclusive else "TaxExcluded"
    return [code or untaxed for code in mapped], {"GlobalTaxCalculation": calculation}


def _without_tax(document: Invoice | CreditNote, codes: list[str | None], tax_fields: Body,
                 rates: Mapping[str, Decimal]) -> list[Decimal]:
    """A US document's tax-inclusive amounts as the tax-exclusive ones QBO takes: each line
    less the tax the ledger charged on it, sent only when QBO's tax on those comes out to
    the ledger's to the cent (then its total is the ledger's too)."""
    code = (tax_fields["TxnTaxDetail"].get("TxnTaxCodeRef") or {}).get("value")
    refusal = (f"{_describe(document)} has amounts that include tax, and QuickBooks US "
               "companies add sales tax on top of line amounts")
    if code is None or code not in rates:
        raise Unsupported(f"{refusal}; its tax code maps to no QuickBooks sales-tax rate to "
                          "take the tax out at: record it with tax-exclusive amounts")
    nets = [line.amount(document.currency) - line.tax_amount for line in document.lines]
    taxable = sum((net for coded, net in zip(codes, nets, strict=True) if coded == "TAX"),
                  Decimal(0))
    cents = Decimal(1).scaleb(-MINOR_UNITS[document.currency])
    charged = (taxable * rates[code] / 100).quantize(cents, rounding=ROUND_HALF_UP)
    if charged != document.tax_total:
        raise Unsupported(f"{refusal}; without their tax QuickBooks would charge {charged:.2f} "
                          f"at {rates[code].normalize():f} %, the ledger charged "
                          f"{document.tax_total:.2f}: record it with tax-exclusive amounts")
    return nets


def _tax_code(line: Line, mappings: ConnectionMappings) -> str | None:
    if not line.tax_code:
        return None
    code = mappings.tax_codes.get(line.tax_code)
    if code is None:
        raise unmapped("tax_code", line.tax_code, "tax code")
    return code


def _location(document: Invoice | CreditNote, mappings: ConnectionMappings) -> str | None:
    """QBO keeps one location (Department) per transaction, not per line."""
    named = list(dict.fromkeys(line.location for line in document.lines))
    if named == [None]:
        return None
    if len(named) > 1:
        shown = ", ".join(f"'{name}'" if name else "none" for name in named)
        raise Unsupported(f"{_describe(document)} has lines in different locations ({shown}), "
                          "and QuickBooks puts a whole transaction in one location: split it "
                          "by location")
    location = str(named[0])
    department = mappings.locations.get(location)
    if department is None:
        raise unmapped("location", location, "location")
    return department


def _sales_line(line: Line, currency: str, request: PushRequest, tax_code: str | None,
                net: Decimal | None) -> Body:
    """`net`: the line less its tax, where the ledger's amount includes it (US)."""
    line_amount, unit_price = line.amount(currency), line.unit_price
    if net is not None:
        # QBO checks Amount against Qty × UnitPrice (6070): the price follows the amount.
        line_amount, unit_price = net, (net / line.quantity).quantize(UNIT_PRICE_PLACES)
    detail: Body = {"Qty": amount(line.quantity), "UnitPrice": amount(unit_price)}
    if line.item_id:
        ref = request.refs.get((Entity.ITEM, line.item_id))
        if ref is None:
            item = request.items.get(line.item_id)
            if item is not None:
                income_account(item, request.mappings)  # an unmapped item says so first
            raise Unmapped(f"item '{line.item_id}' is not on QuickBooks yet — sync it first",
                           field="item_id")
        detail["ItemRef"] = {"value": ref.remote_id}
    if line.class_:
        class_id = request.mappings.classes.get(line.class_)
        if class_id is None:
            raise unmapped("class", line.class_, "class")
        detail["ClassRef"] = {"value": class_id}
    if tax_code:
        detail["TaxCodeRef"] = {"value": tax_code}
    body: Body = {"DetailType": "SalesItemLineDetail", "Amount": amount(line_amount),
                  "SalesItemLineDetail": detail}
    if line.description:
        body["Description"] = line.description
    return body


def _ref(request: PushRequest, entity: Entity, local_id: str) -> RemoteRef:
    ref = request.refs.get((entity, local_id))
    if ref is None:
        raise Unmapped(f"{entity.label} '{local_id}' is not on QuickBooks yet — sync it first",
                       field=f"{entity.value}_id")
    return ref
