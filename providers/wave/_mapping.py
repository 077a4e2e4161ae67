"""Domain records as Wave's mutation inputs, and Wave's objects back as `RemoteRef`s.

Pure functions: they raise `Unmapped` before any request when Wave would need something
syncdesk has not linked yet, and never touch the network. Amounts leave as decimal strings
("49.99"), which Wave's `Decimal` scalar takes without a float in between.

Provably ours: every create and patch writes `syncdesk:<local id>` (`mark`) into a field
Wave stores and returns, and `find` accepts nothing else as proof:
- a customer's `displayId` (Wave's user-defined id; a person's own customers have theirs or
  none, and a namesake proves nothing);
- a product's `description` (its only free-text field; invoice lines always send their own
  description, so the mark never reaches an invoice syncdesk writes);
- an invoice's `footer` (Wave's invoices have no private field; the number alone is not
  proof, since someone else's invoice may hold it).

What Wave cannot hold, and so is not sent:
- an item's SKU: a Wave product has a name, a price and an income account, no code;
- a line without an item: every Wave invoice line needs a product (`productId: ID!`).
A product whose item names no income account for Wave is created without one, and Wave
books it to its default "Sales" account: `incomeAccountId` is optional on Wave
(ProductCreateInput in the public schema), so an item is never `Unmapped` for lacking one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine import (
    Customer,
    Entity,
    Invoice,
    InvoiceStatus,
    Item,
    Line,
    PushRequest,
    RemoteRef,
    Unmapped,
)

PLATFORM_NAME = "wave"

Json = dict[str, Any]

UNSUPPORTED: Mapping[Entity, str] = {
    Entity.PAYMENT: (
        "Wave's public API cannot apply a payment to an invoice: it can only record a bank "
        "deposit (moneyTransactionCreate) that leaves the invoice unpaid and can never be "
        "read back to check it — record the payment in Wave"
    ),
    Entity.CREDIT_NOTE: (
        "Wave's public API has no credit notes — record the credit in Wave"
    ),
}
"""Why Wave cannot take these records, in words the console shows beside them."""

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_REGION = re.compile(r"^[A-Z0-9]{1,3}$")


def mark(record_id: str) -> str:
    """What proves a Wave object is syncdesk's copy of local record `record_id`."""
    return f"syncdesk:{record_id}"


def marked_id(text: object) -> str | None:
    """The record id a field holding `mark` names, or None when it holds anything else."""
    if isinstance(text, str) and text.startswith("syncdesk:"):
        return text.removeprefix("syncdesk:") or None
    return None


def amount(value: Decimal) -> str:
    return str(value)


def customer(record: Customer) -> Json:
    """Every writable field, so a patch replaces what an earlier push set."""
    fields: Json = {
        "name": record.display_name,
        # displayId is Wave's "user defined id": our mark, so `find` can prove an object ours.
        "displayId": mark(record.id),
        "email": record.email,
        "phone": record.phone,
    }
    address = record.billing_address
    if address is not None:
        country = address.country.strip().upper()
        region = address.region.strip().upper()
        fields["address"] = {
            "addressLine1": address.line1 or None,
            "addressLine2": address.line2 or None,
            "city": address.city or None,
            "postalCode": address.postal_code or None,
            # Wave takes ISO 3166 codes only ("US", "US-OR"); free text stays out.
            "countryCode": country if _COUNTRY.match(country) else None,
            "provinceCode": f"{country}-{region}"
            if _COUNTRY.match(country) and _REGION.match(region) else None,
        }
    return fields


def product(record: Item) -> Json:
    fields: Json = {"name": record.name, "unitPrice": amount(record.unit_price),
                    "description": mark(record.id)}
    account = record.income_account_for(PLATFORM_NAME)
    if account is not None:
        fields["incomeAccountId"] = account
    return fields


def invoice(request: PushRequest, record: Invoice) -> Json:
    """The fields invoiceCreate and invoicePatch share (status is create-only)."""
    linked = request.refs.get((Entity.CUSTOMER, record.customer_id))
    if linked is None:
        raise Unmapped(f"customer {record.customer_id!r} of {record.number} is not on Wave yet "
                       "— sync the customer first")
    fields: Json = {
        "customerId": linked.remote_id,
        "invoiceNumber": record.number,
        "invoiceDate": record.issue_date.isoformat(),
        "currency": record.currency,
        "items": [_item(request, record, line) for line in record.lines],
        "footer": mark(record.id),
    }
    if record.due_date is not None:
        fields["dueDate"] = record.due_date.isoformat()
    return fields


def create_status(record: Invoice) -> str:
    """Wave creates DRAFT or SAVED (approved); a sent invoice is approved, then marked sent."""
    return "DRAFT" if record.status is InvoiceStatus.DRAFT else "SAVED"


def ref(node: Mapping[str, Any], number_field: str) -> RemoteRef:
    number = node.get(number_field)
    return RemoteRef(remote_id=str(node["id"]), number=str(number) if number else None)


def _item(request: PushRequest, record: Invoice, line: Line) -> Json:
    if line.item_id is None:
        raise Unmapped(f"line {line.description!r} of {record.number} has no item, and every "
                       "Wave invoice line needs a product — give the line an item")
    linked = request.refs.get((Entity.ITEM, line.item_id))
    if linked is None:
        raise Unmapped(f"item {line.item_id!r} of {record.number} is not on Wave yet — "
                       "sync the item first")
    # Always a description of its own ("" for none): without one Wave copies the product's,
    # which is our mark.
    item: Json = {"productId": linked.remote_id, "description": line.description,
                  "quantity": amount(line.quantity), "unitPrice": amount(line.unit_price)}
    if line.tax_code:
        # A line's tax code on Wave is the id of one of the business's sales taxes.
        item["taxes"] = [{"salesTaxId": line.tax_code}]
    return item
