"""Domain records as Xero's wire JSON, and Xero's answers back as `RemoteRef`s.

Everything here is pure: it raises `Unmapped` before any request when Xero would need a
mapping the connection lacks (a tax code, an income account, a tracking option, the code of
a linked item), and never touches the network.
Amounts leave as JSON numbers: a float's repr of a decimal with at most 15 significant
digits reads back as the same decimal, and Xero's own SDKs send doubles.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine import (
    ConnectionMappings,
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
    Transient,
    Unmapped,
)

PLATFORM_NAME = "xero"
CONTACT_NUMBER_MAX = 50
"""Contact.ContactNumber holds at most 50 characters (spec `maxLength`)."""

Json = dict[str, Any]

NO_TAX = "NONE"
"""The TaxType of every Xero organisation's zero rate ("Tax Exempt")."""
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
TRACKING_SEPARATOR = ": "
ITEM_CODE = "item_code"
"""`Unmapped.field` when a line's linked item has no known Code (the provider reads them)."""
"""Between a tracking category and its option in the names `list_classes` gives."""


@dataclass(frozen=True)
class Resource:
    """Where one entity lives in the Accounting API and which fields identify it."""

    collection: str
    id_field: str
    number_field: str

    def ref(self, element: Mapping[str, Any]) -> RemoteRef:
        number = element.get(self.number_field)
        contact = (element.get("Contact") or {}).get("Name")
        date = element.get("DateString") or element.get("Date")
        shown = [f"{self.collection[:-1]} {element[self.id_field]}",
                 str(number) if number is not None else "", str(contact or ""),
                 str(date or "")[:10], f"total {element['Total']}" if "Total" in element else ""]
        return RemoteRef(remote_id=str(element[self.id_field]),
                         number=str(number) if number is not None else None,
                         shown=" · ".join(part for part in shown if part))


PAGE_SIZE = 100
"""Xero pages Contacts, Invoices, Payments, CreditNotes and BankTransactions by 100."""
OVERPAYMENT = "overpayment:"
"""Prefix of an overpayment's remote id; the BankTransactionID follows."""
SALES_TYPE = {Entity.INVOICE: "ACCREC", Entity.CREDIT_NOTE: "ACCRECCREDIT"}
"""The sales kind of each document: invoice numbers are unique only among sales documents
(bills may reuse them), and only sales documents are the ledger's."""
RECEIVE_OVERPAYMENT = 'Type=="RECEIVE-OVERPAYMENT"'
"""The `where` of the bank transactions that are overpayments received."""

RESOURCES: dict[Entity, Resource] = {
    Entity.CUSTOMER: Resource("Contacts", "ContactID", "Name"),
    Entity.ITEM: Resource("Items", "ItemID", "Code"),
    Entity.INVOICE: Resource("Invoices", "InvoiceID", "InvoiceNumber"),
    Entity.PAYMENT: Resource("Payments", "PaymentID", "Reference"),
    Entity.CREDIT_NOTE: Resource("CreditNotes", "CreditNoteID", "CreditNoteNumber"),
}


def elements(payload: Json, collection: str) -> list[Json]:
    """The `collection` array of an answer; an answer without one is Xero misbehaving."""
    found = payload.get(collection)
    if not isinstance(found, list):
        raise Transient(f"Xero's answer has no {collection} array: {str(payload)[:120]!r}")
    return found


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


def item(request: PushRequest, record: Item, fallback_account: str | None) -> Json:
    account = income_account(request.mappings, record.id, record, fallback_account)
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


def income_account(mappings: ConnectionMappings, item_id: str | None, record: Item | None,
                   fallback: str | None) -> str | None:
    """The income account of a line or item: the connection's mapping for the item, the
    item's own account for Xero, the connection's default, then `fallback` (the connection
    option `income_account`, kept for configurations written before mappings existed)."""
    if item_id is not None and item_id in mappings.income_accounts:
        return mappings.income_accounts[item_id]
    own = record.income_account_for(PLATFORM_NAME) if record is not None else None
    return own or mappings.default_income_account or fallback


def tax_type(mappings: ConnectionMappings, line: Line) -> str:
    """The TaxType every line carries: without one Xero applies the account's default tax
    (OUTPUT on Sales), so a line the ledger leaves untaxed would come back taxed."""
    if line.tax_code is None:
        return mappings.no_tax_code or NO_TAX
    mapped = mappings.tax_codes.get(line.tax_code)
    if mapped is None:
        raise Unmapped(f"tax code {line.tax_code!r} is not mapped to a Xero tax rate: map it "
                       "to one of the organisation's tax rates (TaxType), then the record is "
                       "sent again", field="tax_code", kind="tax_code", key=line.tax_code)
    return mapped


def tracking(mappings: ConnectionMappings, line: Line) -> list[Json]:
    """The line's Tracking: its class and location, each mapped to a tracking option.

    A mapping's value is `Category: Option` as `XeroProvider.list_classes` names it (split at
    the first ": "); Xero takes the category and option by name.
    """
    chosen: list[Json] = []
    for what, value, table in (("class", line.class_, mappings.classes),
                               ("location", line.location, mappings.locations)):
        if value is None:
            continue
        option = table.get(value)
        if option is None:
            raise Unmapped(f"{what} {value!r} is not mapped to a Xero tracking option: map it "
                           "to one of the organisation's tracking options (Category: Option)",
                           field=what, kind=what, key=value)
        category, separator, name = option.partition(TRACKING_SEPARATOR)
        if not separator or not category or not name:
            raise Unmapped(f"{what} {value!r} maps to {option!r}, which is not a Xero tracking "
                           "option (Category: Option): map it again", field=what, kind=what,
                           key=value)
        if any(t["Name"] == category for t in chosen):
            raise Unmapped(f"class {line.class_!r} and location {line.location!r} both map to "
                           f"Xero tracking category {category!r}, and a line carries one option "
                           "per category: map them to different categories", field=what,
                           kind=what, key=value)
        chosen.append({"Name": category, "Option": name})
    return chosen


def invoice(request: PushRequest, record: Invoice, item_codes: Mapping[str, str],
            fallback_account: str | None) -> Json:
    """`item_codes`: the Code of each linked Xero item, by ItemID."""
    body = _document(request, record, "ACCREC", item_codes, fallback_account)
    body["InvoiceNumber"] = record.number
    body["Date"] = record.issue_date.isoformat()
    if record.due_date is not None:
        body["DueDate"] = record.due_date.isoformat()
    body["Status"] = "DRAFT" if record.status is InvoiceStatus.DRAFT else "AUTHORISED"
    return body


def credit_note(request: PushRequest, record: CreditNote, item_codes: Mapping[str, str],
                fallback_account: str | None) -> Json:
    body = _document(request, record, "ACCRECCREDIT", item_codes, fallback_account)
    body["CreditNoteNumber"] = record.number
    body["Date"] = record.date.isoformat()
    # Only an approved credit note can be allocated to invoices.
    body["Status"] = "AUTHORISED"
    return body


def allocations(request: PushRequest, record: CreditNote | Payment) -> list[Json]:
    return [
        {"Invoice": {"InvoiceID": _invoice_id(request, a.invoice_id)},
         "Amount": number(a.amount), "Date": record.date.isoformat()}
        for a in record.allocations
    ]


def payments(request: PushRequest, record: Payment, account: str) -> list[Json]:
    """One Xero Payment per allocation: a Xero Payment applies to exactly one invoice."""
    return [
        {"Invoice": {"InvoiceID": _invoice_id(request, a.invoice_id)},
         "Account": account_ref(account), "Date": record.date.isoformat(),
         "Amount": number(a.amount), "Reference": payment_reference(record)}
        for a in record.allocations
    ]


def overpayment(request: PushRequest, record: Payment, account: str) -> Json:
    """A payment that leaves money unapplied, as Xero records one: a RECEIVE-OVERPAYMENT bank
    transaction for the whole amount, whose credit is then allocated to the invoices.

    Such a transaction takes no Reference (spec: "Only supported for SPEND and RECEIVE"), so
    the mark is its one line's Description; NoTax, as money received carries no tax.
    """
    return {
        "Type": "RECEIVE-OVERPAYMENT",
        "Contact": {"ContactID": _customer_id(request, record.customer_id, "payment")},
        "BankAccount": account_ref(account),
        "Date": record.date.isoformat(),
        "CurrencyCode": record.currency,
        "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": payment_reference(record),
                       "LineAmount": number(record.amount)}],
    }


def account_ref(account: str) -> Json:
    """An account by its code, or by its AccountID where it has none (a bank account may
    not: `XeroProvider.list_accounts` names such an account by its id)."""
    return {"AccountID": account} if _UUID.fullmatch(account) else {"Code": account}


def payment_reference(record: Payment) -> str:
    """The payment's Reference: the business's own reference (if any) and our mark.

    A Xero payment has no other free-text field (`Details` is for batch payments), so the
    mark shares Reference; `find` asks for this exact text.
    """
    marked = mark_of(Entity.PAYMENT, record.id)
    return f"{record.reference} {marked}" if record.reference else marked


def refund_mark(record: CreditNote, position: int) -> str:
    """The mark of the credit note's refund at `position` (from 1): the ledger knows a refund
    by its place among the note's refunds, which are only ever appended."""
    return mark(f"{record.id}/refund/{position}")


def refund(record: CreditNote, position: int, credit_note_id: str, account: str) -> Json:
    """A refund of a credit note, as Xero records one: a Payment of the credit note (an
    ARCREDITPAYMENT) out of `account`, its mark in Reference as a payment's is."""
    paid = record.refunds[position - 1]
    marked = refund_mark(record, position)
    return {"CreditNote": {"CreditNoteID": credit_note_id}, "Account": account_ref(account),
            "Date": paid.date.isoformat(), "Amount": number(paid.amount),
            "Reference": f"{paid.reference} {marked}" if paid.reference else marked}


def _document(request: PushRequest, record: Invoice | CreditNote, kind: str,
              item_codes: Mapping[str, str], fallback_account: str | None) -> Json:
    return {
        "Type": kind,
        "Contact": {"ContactID": _customer_id(request, record.customer_id, record.number)},
        "LineAmountTypes": "Inclusive" if record.tax_inclusive else "Exclusive",
        "CurrencyCode": record.currency,
        # Reference ("additional reference number", ACCREC/ACCRECCREDIT only) carries the mark.
        "Reference": mark_of(request.entity, record.id),
        "LineItems": [_line(request, line, item_codes, fallback_account)
                      for line in record.lines],
    }


def _line(request: PushRequest, line: Line, item_codes: Mapping[str, str],
          fallback_account: str | None) -> Json:
    wire: Json = {"Description": line.description, "Quantity": number(line.quantity),
                  "UnitAmount": number(line.unit_price),
                  "TaxType": tax_type(request.mappings, line)}
    options = tracking(request.mappings, line)
    if options:
        wire["Tracking"] = options
    record = request.items.get(line.item_id) if line.item_id is not None else None
    account = income_account(request.mappings, line.item_id, record, fallback_account)
    if account is not None:
        wire["AccountCode"] = account
    elif line.item_id is None:
        raise Unmapped(f"line {line.description!r} has no item, and this Xero connection has "
                       "no default income account: map one", field="income_account",
                       kind="default_income_account")
    elif record is not None:
        raise _no_income_account(record)
    # Otherwise Xero applies the linked item's own SalesDetails.AccountCode.
    if line.item_id is None:
        return wire
    if record is not None and not line.description:
        wire["Description"] = record.name
    # The linked item's own Code, never the local SKU: an item linked at setup by its name
    # may have another code on Xero, and Xero refuses a code it does not know.
    linked = request.refs.get((Entity.ITEM, line.item_id))
    if linked is None:
        raise Unmapped(f"item {line.item_id!r} is not linked to a Xero item yet — sync the "
                       "item first")
    code = item_codes.get(linked.remote_id)
    if code is None:
        raise Unmapped(f"item {line.item_id!r} is linked to Xero item {linked.remote_id}, "
                       "which the organisation no longer lists: re-link the item or sync it "
                       "again", field=ITEM_CODE)
    wire["ItemCode"] = code
    return wire


def _customer_id(request: PushRequest, customer_id: str, what: str) -> str:
    customer = request.refs.get((Entity.CUSTOMER, customer_id))
    if customer is None:
        raise Unmapped(f"customer {customer_id!r} of {what} is not linked to a Xero contact "
                       "yet — sync the customer first")
    return customer.remote_id


def _invoice_id(request: PushRequest, invoice_id: str) -> str:
    linked = request.refs.get((Entity.INVOICE, invoice_id))
    if linked is None:
        raise Unmapped(f"invoice {invoice_id!r} is not on Xero yet — sync the invoice first")
    return linked.remote_id


def _no_income_account(record: Item) -> Unmapped:
    return Unmapped(f"item {record.name!r} has no income account for Xero: map one for the "
                    "item, or a default income account for the connection",
                    field="income_account", kind="income_account", key=record.id)
