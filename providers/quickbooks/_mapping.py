"""Domain records → QBO v3 JSON bodies, and QBO objects → `RemoteRef`.

Element names are Intuit's (checked against its XSDs in the tests). Every object syncdesk
creates carries a marker in a private field (`PrivateNote`, or `Notes` on a customer), so a
later lookup can tell our objects from ones a person made in QuickBooks. Missing mappings
raise `Unmapped` here, before any request is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine import (
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
)

PLATFORM = "quickbooks"
PAYMENT_REF_MAX = 21
"""Payment.PaymentRefNum holds at most 21 characters."""

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


def marker(record_id: str, purpose: str = "") -> str:
    """The private note that proves an object is syncdesk's copy of `record_id`."""
    return f"{MARK_PREFIX}{record_id}{':' + purpose if purpose else ''}"


def marked_id(note: object) -> str | None:
    """What follows the prefix in a note `marker` wrote (purpose included), else None."""
    if isinstance(note, str) and note.startswith(MARK_PREFIX) and len(note) > len(MARK_PREFIX):
        return note[len(MARK_PREFIX):]
    return None


def remote_ref(entity: Entity, obj: Body) -> RemoteRef:
    number = obj.get(WIRE[entity].number_field)
    return RemoteRef(remote_id=str(obj["Id"]), version=obj.get("SyncToken"),
                     number=str(number) if number is not None else None)


def amount(value: Decimal) -> float:
    """A JSON number for the wire; exact for the 2–4 decimal places syncdesk allows."""
    return float(value)


def body_for(request: PushRequest) -> Body:
    record = request.record
    if isinstance(record, Customer):
        return customer_body(record)
    if isinstance(record, Item):
        return item_body(record)
    if isinstance(record, Invoice):
        return invoice_body(record, request)
    if isinstance(record, CreditNote):
        return credit_memo_body(record, request)
    return payment_body(record, request)


def customer_body(customer: Customer) -> Body:
    body: Body = {"DisplayName": customer.display_name, "Notes": marker(customer.id)}
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


def item_body(item: Item) -> Body:
    account = item.income_account_for(PLATFORM)
    if not account:
        raise Unmapped(f"item '{item.name}' has no income account for QuickBooks — map one",
                       field="income_account")
    # Items have no private note: the purchase description, which sales forms never show,
    # carries our mark so that find() can tell our item from a namesake.
    return {"Name": item.name, "Sku": item.sku, "Type": "Service",
            "UnitPrice": amount(item.unit_price), "Taxable": item.taxable,
            "IncomeAccountRef": {"value": account}, "PurchaseDesc": marker(item.id)}


def invoice_body(invoice: Invoice, request: PushRequest) -> Body:
    body = _sales_body(invoice, request, invoice.issue_date.isoformat())
    if invoice.due_date is not None:
        body["DueDate"] = invoice.due_date.isoformat()
    return body


def credit_memo_body(note: CreditNote, request: PushRequest) -> Body:
    return _sales_body(note, request, note.date.isoformat())


def payment_body(payment: Payment, request: PushRequest) -> Body:
    return {
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


def _sales_body(document: Invoice | CreditNote, request: PushRequest, txn_date: str) -> Body:
    return {
        "CustomerRef": {"value": _ref(request, Entity.CUSTOMER, document.customer_id).remote_id},
        "DocNumber": document.number,
        "TxnDate": txn_date,
        "CurrencyRef": {"value": document.currency},
        "PrivateNote": marker(document.id),
        "Line": [_sales_line(line, document.currency, request) for line in document.lines],
    }


def _sales_line(line: Line, currency: str, request: PushRequest) -> Body:
    detail: Body = {"Qty": amount(line.quantity), "UnitPrice": amount(line.unit_price)}
    item = request.items.get(line.item_id) if line.item_id else None
    if line.item_id:
        ref = request.refs.get((Entity.ITEM, line.item_id))
        if ref is None:
            if item is not None and not item.income_account_for(PLATFORM):
                raise Unmapped(f"item '{item.name}' has no income account for QuickBooks — "
                               "map one", field="income_account")
            raise Unmapped(f"item '{line.item_id}' is not on QuickBooks yet — sync it first",
                           field="item_id")
        detail["ItemRef"] = {"value": ref.remote_id}
    tax_code = line.tax_code or (("TAX" if item.taxable else "NON") if item else None)
    if tax_code:
        detail["TaxCodeRef"] = {"value": tax_code}
    body: Body = {"DetailType": "SalesItemLineDetail",
                  "Amount": amount(line.amount(currency)),
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
