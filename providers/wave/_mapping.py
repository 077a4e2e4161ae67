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
- a line without an item: every Wave invoice line needs a product (`productId: ID!`);
- a line's class or location: Wave has neither, so such a line is refused (`Unsupported`),
  never sent without it.

Income account of a product: the connection's mapping for the item
(`mappings.income_accounts`), else the item's own account for Wave, else the connection's
`default_income_account`; with none of them the product is created without one and Wave
books it to its default "Sales" account (`incomeAccountId` is optional in the public
ProductCreateInput), so an item is never `Unmapped` for lacking one.

Taxes: a line's tax code goes out as the Wave sales tax the connection maps it to
(`mappings.tax_codes`: local code → salesTax id), without an amount, so Wave computes it from
the tax's rate; an unmapped code, or one mapped to a tax the business does not have, is
`Unmapped` naming the business's taxes. Wave lines are before tax: a tax-inclusive document
goes out with each line's price before tax, only when Wave's rounding gives back the ledger's
amount and tax to the cent (`providers._tax`), and is refused with the sums otherwise.
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
    RemoteTaxCode,
    Unmapped,
    Unsupported,
)
from providers._tax import exclusive_price

PLATFORM_NAME = "wave"
UNIT_PRICE_PLACES = 4
"""Decimals a unit price keeps; Wave's `Decimal` scalar takes more, the ledger has no more."""

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
REFUNDS_UNSUPPORTED = (
    "Wave's public API has no credit notes, so none of their refunds: its money transactions "
    "are deposits tied to no document — record the credit and its refunds in Wave"
)
"""Why a credit note's refunds are refused on Wave (`providers._refunds`): PLATFORMS.md §3, no
credit-note entity in the mutation list, money transactions create-only and unlinked."""

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


def product(request: PushRequest, record: Item) -> Json:
    fields: Json = {"name": record.name, "unitPrice": amount(record.unit_price),
                    "description": mark(record.id)}
    mappings = request.mappings
    account = mappings.income_accounts.get(record.id) or \
        record.income_account_for(PLATFORM_NAME) or mappings.default_income_account
    if account is not None:
        fields["incomeAccountId"] = account
    return fields


def invoice(request: PushRequest, record: Invoice, taxes: Mapping[str, RemoteTaxCode]) -> Json:
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
        "items": [_item(request, record, number, line, taxes)
                  for number, line in enumerate(record.lines, 1)],
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


def total(node: Mapping[str, Any]) -> Decimal:
    """An invoice's total as Wave computed it: its lines plus their taxes."""
    return Decimal(str(node["total"]["value"]))


def taxed(record: Invoice) -> bool:
    return any(line.tax_code for line in record.lines)


def _item(request: PushRequest, record: Invoice, number: int, line: Line,
          taxes: Mapping[str, RemoteTaxCode]) -> Json:
    where = f"line {number} of {record.number}"
    for dimension, value in (("class", line.class_), ("location", line.location)):
        if value:
            raise Unsupported(f"{where} has {dimension} {value!r}, and Wave has no classes or "
                              "locations to put it in — remove it from the line to sync this "
                              "invoice to Wave", field=dimension)
    if line.item_id is None:
        raise Unmapped(f"line {line.description!r} of {record.number} has no item, and every "
                       "Wave invoice line needs a product — give the line an item")
    linked = request.refs.get((Entity.ITEM, line.item_id))
    if linked is None:
        raise Unmapped(f"item {line.item_id!r} of {record.number} is not on Wave yet — "
                       "sync the item first")
    tax = _sales_tax(request, where, line, taxes)
    price = line.unit_price
    if record.tax_inclusive:
        price = exclusive_price(line, taxes[tax].rate if tax else None, currency=record.currency,
                                places=UNIT_PRICE_PLACES, where=where, platform="Wave")
    # Always a description of its own ("" for none): without one Wave copies the product's,
    # which is our mark.
    item: Json = {"productId": linked.remote_id, "description": line.description,
                  "quantity": amount(line.quantity), "unitPrice": amount(price)}
    if tax is not None:
        item["taxes"] = [{"salesTaxId": tax}]
    return item


def _sales_tax(request: PushRequest, where: str, line: Line,
               taxes: Mapping[str, RemoteTaxCode]) -> str | None:
    """The Wave sales tax id the line's tax code is mapped to; None when untaxed."""
    if not line.tax_code:
        return None
    listed = "; ".join(f"{tax.name} {tax.rate}% (id {tax.code})" for tax in taxes.values())
    how = f"(`syncdesk map set tax_code {line.tax_code} <sales tax id>`)"
    tax_id = request.mappings.tax_codes.get(line.tax_code)
    if tax_id is None:
        raise Unmapped(f"{where}: tax code {line.tax_code!r} is not mapped to a Wave sales tax "
                       f"— map it to one of this business's sales taxes {how}: "
                       f"{listed or 'none'}", kind="tax_code", key=line.tax_code,
                       field="tax_code")
    if tax_id not in taxes:
        raise Unmapped(f"{where}: tax code {line.tax_code!r} is mapped to {tax_id!r}, which is "
                       f"not a sales tax of this Wave business — map it to one of {how}: "
                       f"{listed or 'none'}", kind="tax_code", key=line.tax_code,
                       field="tax_code")
    return tax_id
