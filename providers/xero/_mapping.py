"""Domain records as Xero's wire JSON, and Xero's answers back as `RemoteRef`s.

Everything here is pure: it raises `Unmapped` before any request when Xero would need a
mapping syncdesk lacks (an income account for a line), and never touches the network.
Amounts leave as JSON numbers: a float's repr of a decimal with at most 15 significant
digits reads back as the same decimal, and Xero's own SDKs send doubles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine import (
    CreditNote,
    Customer,
    Entity,
    Invoice,
    InvoiceStatus,
    Item,
    Line,
    Payment,
    PushRequest,
    RemoteRef,
    Unmapped,
)

PLATFORM_NAME = "xero"
CONTACT_NUMBER_MAX = 50
"""Contact.ContactNumber holds at most 50 characters (spec `maxLength`)."""

Json = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """Where one entity lives in the Accounting API and which fields identify it."""

    collection: str
    id_field: str
    number_field: str

    def ref(self, element: Mapping[str, Any]) -> RemoteRef:
        number = element.get(self.number_field)
        return RemoteRef(remote_id=str(element[self.id_field]),
                         number=str(number) if number is not None else None)


RESOURCES: dict[Entity, Resource] = {
    Entity.CUSTOMER: Resource("Contacts", "ContactID", "Name"),
    Entity.ITEM: Resource("Items", "ItemID", "Code"),
    Entity.INVOICE: Resource("Invoices", "InvoiceID", "InvoiceNumber"),
    Entity.PAYMENT: Resource("Payments", "PaymentID", "Reference"),
    Entity.CREDIT_NOTE: Resource("CreditNotes", "CreditNoteID", "CreditNoteNumber"),
}


def mark(record_id: str, limit: int | None = None) -> str:
    """What proves an object is syncdesk's copy of `record_id`: written on every create and
    update, and the only thing `find` accepts as proof (a number or name proves nothing).

    Where the field is shorter than `syncdesk:<id>` (ids run to 64), the id's SHA-256 stands
    in for it: still one value per record, and still nothing a person would type.
    """
    text = f"syncdesk:{record_id}"
    if limit is None or len(text) <= limit:
        return text
    digest = hashlib.sha256(record_id.encode()).hexdigest()
    return f"syncdesk:#{digest}"[:limit]


def marked_id(text: object) -> str | None:
    """The record id in the mark a field ends with (`mark`'s inverse; a payment's Reference
    may start with the business's own reference), or None when the field carries no mark.
    A contact id too long for ContactNumber comes back as `#` and the start of its digest."""
    if not isinstance(text, str):
        return None
    last = text.rpartition(" ")[2]
    if not last.startswith("syncdesk:"):
        return None
    return last.removeprefix("syncdesk:") or None


MARK_FIELDS: dict[Entity, str] = {
    Entity.CUSTOMER: "ContactNumber",
    Entity.ITEM: "PurchaseDescription",
    Entity.INVOICE: "Reference",
    Entity.CREDIT_NOTE: "Reference",
    Entity.PAYMENT: "Reference",
}
"""Where each entity carries its mark (see `mark`, `payment_reference`)."""


def mark_of(entity: Entity, record_id: str) -> str:
    """The mark `find` looks for on an `entity` object of local record `record_id`."""
    return mark(record_id, CONTACT_NUMBER_MAX if entity is Entity.CUSTOMER else None)


def number(value: Decimal) -> float:
    return float(value)


def where_equals(field: str, value: str) -> str:
    """A `where` filter on one text field; Xero's filter syntax is C#, escapes included."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}=="{escaped}"'


def contact(customer: Customer) -> Json:
    # ContactNumber is Xero's field for "the id in an external system": set through the API
    # only, read-only on Xero's contact screen (max 50).
    body: Json = {"Name": customer.display_name,
                  "ContactNumber": mark_of(Entity.CUSTOMER, customer.id)}
    if customer.email:
        body["EmailAddress"] = customer.email
    if customer.phone:
        body["Phones"] = [{"PhoneType": "DEFAULT", "PhoneNumber": customer.phone}]
    address = customer.billing_address
    if address is not None:
        # POBOX is the postal/billing address Xero prints on invoices.
        body["Addresses"] = [{
            "AddressType": "POBOX", "AddressLine1": address.line1,
            "AddressLine2": address.line2, "City": address.city, "Region": address.region,
            "PostalCode": address.postal_code, "Country": address.country,
        }]
    return body


def item(record: Item) -> Json:
    account = record.income_account_for(PLATFORM_NAME)
    if account is None:
        raise _no_income_account(record)
    # An item has no private field. Code is our SKU, and a stranger's item may hold it, so
    # the mark goes in PurchaseDescription: shown only on bills and purchase orders, never
    # on the sales documents syncdesk writes (Description would print on every invoice line
    # that names the item without a description of its own).
    return {
        "Code": record.sku,
        "Name": record.name,
        "IsSold": True,
        "SalesDetails": {"UnitPrice": number(record.unit_price), "AccountCode": account},
        "PurchaseDescription": mark_of(Entity.ITEM, record.id),
    }


def invoice(request: PushRequest, record: Invoice, default_account: str | None) -> Json:
    """`default_account` is the income account for lines without an item (none: Unmapped)."""
    body = _document(request, record, "ACCREC", default_account)
    body["InvoiceNumber"] = record.number
    body["Date"] = record.issue_date.isoformat()
    if record.due_date is not None:
        body["DueDate"] = record.due_date.isoformat()
    body["Status"] = "DRAFT" if record.status is InvoiceStatus.DRAFT else "AUTHORISED"
    return body


def credit_note(request: PushRequest, record: CreditNote,
                default_account: str | None) -> Json:
    body = _document(request, record, "ACCRECCREDIT", default_account)
    body["CreditNoteNumber"] = record.number
    body["Date"] = record.date.isoformat()
    # Only an approved credit note can be allocated to invoices.
    body["Status"] = "AUTHORISED"
    return body


def allocations(request: PushRequest, record: CreditNote) -> list[Json]:
    return [
        {"Invoice": {"InvoiceID": _invoice_id(request, a.invoice_id)},
         "Amount": number(a.amount), "Date": record.date.isoformat()}
        for a in record.allocations
    ]


def payments(request: PushRequest, record: Payment, bank_account: str) -> list[Json]:
    """One Xero Payment per allocation: a Xero Payment applies to exactly one invoice."""
    return [
        {"Invoice": {"InvoiceID": _invoice_id(request, a.invoice_id)},
         "Account": {"Code": bank_account}, "Date": record.date.isoformat(),
         "Amount": number(a.amount), "Reference": payment_reference(record)}
        for a in record.allocations
    ]


def payment_reference(record: Payment) -> str:
    """The payment's Reference: the business's own reference (if any) and our mark.

    A Xero payment has no other free-text field (`Details` is for batch payments), so the
    mark shares Reference; `find` asks for this exact text.
    """
    marked = mark_of(Entity.PAYMENT, record.id)
    return f"{record.reference} {marked}" if record.reference else marked


def _document(request: PushRequest, record: Invoice | CreditNote, kind: str,
              default_account: str | None) -> Json:
    customer = request.refs.get((Entity.CUSTOMER, record.customer_id))
    if customer is None:
        raise Unmapped(f"customer {record.customer_id!r} of {record.number} is not linked to a "
                       "Xero contact yet — sync the customer first")
    return {
        "Type": kind,
        "Contact": {"ContactID": customer.remote_id},
        "LineAmountTypes": "Exclusive",
        "CurrencyCode": record.currency,
        # Reference ("additional reference number", ACCREC/ACCRECCREDIT only) carries the mark.
        "Reference": mark_of(request.entity, record.id),
        "LineItems": [_line(request, line, default_account) for line in record.lines],
    }


def _line(request: PushRequest, line: Line, default_account: str | None) -> Json:
    wire: Json = {"Description": line.description, "Quantity": number(line.quantity),
                  "UnitAmount": number(line.unit_price)}
    if line.item_id is None:
        if default_account is None:
            raise Unmapped(f"line {line.description!r} has no item and Xero has no default "
                           "income account for it — map one")
        wire["AccountCode"] = default_account
        return _taxed(wire, line)
    record = request.items.get(line.item_id)
    linked = request.refs.get((Entity.ITEM, line.item_id))
    if record is not None:
        account = record.income_account_for(PLATFORM_NAME)
        if account is None:
            raise _no_income_account(record)
        wire["ItemCode"] = record.sku
        wire["AccountCode"] = account
        wire["Description"] = line.description or record.name
    elif linked is not None and linked.number:
        # Without the local item, Xero applies the item's own SalesDetails.AccountCode.
        wire["ItemCode"] = linked.number
    else:
        raise Unmapped(f"item {line.item_id!r} is neither known locally nor linked to Xero")
    return _taxed(wire, line)


def _taxed(wire: Json, line: Line) -> Json:
    if line.tax_code:
        wire["TaxType"] = line.tax_code
    return wire


def _invoice_id(request: PushRequest, invoice_id: str) -> str:
    linked = request.refs.get((Entity.INVOICE, invoice_id))
    if linked is None:
        raise Unmapped(f"invoice {invoice_id!r} is not on Xero yet — sync the invoice first")
    return linked.remote_id


def _no_income_account(record: Item) -> Unmapped:
    return Unmapped(f"item {record.name!r} has no income account for Xero — map one")
