"""Domain records as FreshBooks' wire JSON, and FreshBooks' answers back as `RemoteRef`s.

Pure functions: no network. They raise `Unmapped` before any request when a referenced
customer, item or invoice is not on FreshBooks yet.

Choices where FreshBooks leaves room:
- A client's `organization` is the customer's display name (what FreshBooks shows as the
  client's name on invoices); a person without a company also gets `fname`/`lname`.
- Every object syncdesk writes carries the marker `[syncdesk:<id>]`, so `find` tells our
  objects from ones a person made (a number, name, date or total proves nothing): a
  client's internal `note`, an item's `description` (invoice lines send their own, so it
  never reaches an invoice), an invoice's or credit note's `po_number` (shown as its
  "Reference": FreshBooks documents have no private field, and their notes and terms are
  printed in full), a payment's `note`.
- Money goes out as strings (`{"amount": "20.00", "code": "USD"}`), as FreshBooks sends it.
- Credit notes (UNCERTAIN shape, PLATFORMS.md §4.2): `{"credit_note": {"clientid",
  "create_date", "credit_number", "currency_code", "lines": [...]}}`, lines like an
  invoice's; applying one to an invoice is a payment of `type` "Credit" carrying `creditid`.

Books that agree with the ledger:
- A line's tax code goes out as the FreshBooks tax the connection maps it to
  (`mappings.tax_codes`: local code → tax name), with that tax's rate as read from the
  account (`taxAmount1` is the percentage FreshBooks computes with). An unmapped code, or
  one mapped to a tax the account no longer has, is `Unmapped` naming the account's taxes.
  An untaxed line carries no tax fields, so FreshBooks charges none.
- FreshBooks lines are always before tax. A tax-inclusive document is sent with each
  line's price before tax, and only when FreshBooks' own rounding gives back the ledger's
  amount and tax to the cent (`providers._tax`); otherwise it is refused with the sums.
- FreshBooks has no classes or locations: a line carrying one is refused (`Unsupported`),
  never sent without it.
- A payment's `type` is the connection's mapping of its method, else the FreshBooks type
  of the same meaning (`DEFAULT_TYPES`), else it is `Unmapped`; FreshBooks' types are a
  fixed list (`PAYMENT_TYPES`), so a mapping outside it is refused before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine import (
    Classification,
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
)
from providers._tax import exclusive_price

from ._dates import parse_eastern

Json = dict[str, Any]

PAYMENT_TYPES = ("Check", "Credit", "Cash", "Bank Transfer", "Credit Card", "Debit", "PayPal",
                 "2Checkout", "VISA", "MASTERCARD", "DISCOVER", "NOVA", "AMEX", "DINERS",
                 "EUROCARD", "JCB", "ACH", "Other")
"""FreshBooks' fixed list of payment `type`s. "Check", "Credit" and "Cash" are in its payments
page (PLATFORMS.md §4.2); the rest is the list of its older API, UNCERTAIN for the new one."""
DEFAULT_TYPES = {"check": "Check", "card": "Credit Card", "bank_transfer": "Bank Transfer",
                 "cash": "Cash", "other": "Other"}
"""The ledger's own method names, as the FreshBooks type of the same meaning."""
CREDIT_PAYMENT_TYPE = "Credit"
REFUNDS_UNSUPPORTED = (
    "FreshBooks' public API records payments against invoices only and has no refund of a "
    "credit note. Refund the credit in FreshBooks by "
    "hand, or take the refunds off this credit note in the ledger"
)
"""Why a credit note's refunds are refused on FreshBooks (`providers._refunds`): PLATFORMS.md
§4 lists payments applied to invoices and credit_notes, and no refund of either."""
UNIT_COST_PLACES = 4
"""FreshBooks keeps unit costs to 4 decimals (the sandbox refuses more)."""


@dataclass(frozen=True)
class Resource:
    """Where one entity lives under `/accounting/account/{accountId}/`."""

    path: str
    single: str
    plural: str
    number_field: str | None

    def ref(self, element: Mapping[str, Any]) -> RemoteRef:
        number = element.get(self.number_field) if self.number_field else None
        return RemoteRef(remote_id=str(element["id"]), version=updated_utc(element),
                         number=str(number) if number not in (None, "") else None)


RESOURCES: dict[Entity, Resource] = {
    Entity.CUSTOMER: Resource("users/clients", "client", "clients", "organization"),
    Entity.ITEM: Resource("items/items", "item", "items", "name"),
    Entity.INVOICE: Resource("invoices/invoices", "invoice", "invoices", "invoice_number"),
    Entity.PAYMENT: Resource("payments/payments", "payment", "payments", None),
    Entity.CREDIT_NOTE: Resource("credit_notes/credit_notes", "credit_note", "credit_notes",
                                 "credit_number"),
}
TAXES = Resource("taxes/taxes", "tax", "taxes", "name")


def updated_utc(element: Mapping[str, Any]) -> str | None:
    """FreshBooks' `updated` (US/Eastern) as UTC ISO text: when it last changed the object."""
    text = element.get("updated")
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_eastern(text).isoformat()
    except ValueError:
        return None


def marker(local_id: str) -> str:
    return f"[syncdesk:{local_id}]"


_MARKER = re.compile(r"\[syncdesk:([^\]\s]+)\]")


def marked_id(text: object) -> str | None:
    """The record id of the `marker` in a field (a note may hold other text too), or None."""
    found = _MARKER.search(text) if isinstance(text, str) else None
    return found.group(1) if found else None


def money(amount: Decimal, currency: str) -> Json:
    return {"amount": format(amount, "f"), "code": currency}


def amount_of(value: Any) -> Decimal:
    """`{"amount": "12.50", "code": "USD"}` (or a bare number) as a Decimal."""
    raw = value.get("amount") if isinstance(value, Mapping) else value
    return Decimal(str(raw if raw not in (None, "") else 0))


def client(customer: Customer) -> Json:
    body: Json = {"organization": customer.display_name, "note": marker(customer.id),
                  "email": customer.email or ""}
    if customer.classification is Classification.HOMEOWNER and not customer.company:
        first, _, last = customer.display_name.partition(" ")
        body.update(fname=first, lname=last)
    if customer.phone:
        body["bus_phone"] = customer.phone
    address = customer.billing_address
    if address is not None:
        body.update(p_street=address.line1, p_street2=address.line2, p_city=address.city,
                    p_province=address.region, p_code=address.postal_code,
                    p_country=address.country)
    return body


def item(record: Item) -> Json:
    # FreshBooks books sales to its own income category: no account to map per item.
    return {"name": record.name, "sku": record.sku, "description": marker(record.id),
            "unit_cost": money(record.unit_price, "USD")}


def invoice(request: PushRequest, record: Invoice, rates: Mapping[str, Decimal]) -> Json:
    body = _document(request, record, rates)
    body.update(invoice_number=record.number, create_date=record.issue_date.isoformat(),
                customerid=body.pop("clientid"))
    if record.due_date is not None:
        body["due_offset_days"] = (record.due_date - record.issue_date).days
    return body


def credit_note(request: PushRequest, record: CreditNote, rates: Mapping[str, Decimal]) -> Json:
    body = _document(request, record, rates)
    body.update(credit_number=record.number, create_date=record.date.isoformat())
    return body


def payment(invoice_id: str, amount: Decimal, record: Payment, kind: str) -> Json:
    return {"invoiceid": int(invoice_id), "amount": money(amount, record.currency),
            **payment_details(record, kind)}


def payment_details(record: Payment, kind: str) -> Json:
    """What FreshBooks edits in place on a payment: everything but its money and invoice."""
    note = f"{record.reference} {marker(record.id)}" if record.reference else marker(record.id)
    return {"date": record.date.isoformat(), "type": kind, "note": note}


def payment_type(request: PushRequest, record: Payment) -> str:
    """The FreshBooks `type` of the payment's method; `Unmapped` when it has none."""
    mapped = request.mappings.payment_methods.get(record.method)
    kind = mapped or DEFAULT_TYPES.get(record.method) or next(
        (t for t in PAYMENT_TYPES if t.casefold() == record.method.casefold()), None)
    listed = ", ".join(t for t in PAYMENT_TYPES if t != CREDIT_PAYMENT_TYPE)
    how = f"(`syncdesk map set payment_method {record.method} <type>`)"
    if kind is None:
        raise Unmapped(f"payment {record.id}: method {record.method!r} has no FreshBooks "
                       f"payment type — map it to one of FreshBooks' types {how}: {listed}",
                       kind="payment_method", key=record.method, field="method")
    if kind not in PAYMENT_TYPES or kind == CREDIT_PAYMENT_TYPE:
        raise Unmapped(f"payment {record.id}: method {record.method!r} is mapped to {kind!r}, "
                       f"which FreshBooks does not take for money received — map it to one "
                       f"of {listed} {how}", kind="payment_method", key=record.method,
                       field="method")
    return kind


def credit_application(invoice_id: str, credit_id: str, amount: Decimal,
                       record: CreditNote) -> Json:
    return {"invoiceid": int(invoice_id), "creditid": int(credit_id),
            "amount": money(amount, record.currency), "date": record.date.isoformat(),
            "type": CREDIT_PAYMENT_TYPE, "note": marker(record.id)}


def linked(request: PushRequest, entity: Entity, local_id: str) -> RemoteRef:
    ref = request.refs.get((entity, local_id))
    if ref is None:
        raise Unmapped(f"{entity.label} {local_id!r} is not on FreshBooks yet — sync it first")
    return ref


def taxed(record: Invoice | CreditNote) -> bool:
    return any(line.tax_code for line in record.lines)


def total(element: Mapping[str, Any]) -> Decimal:
    """A document's total as FreshBooks computed it: its lines plus their taxes."""
    return amount_of(element.get("amount"))


def _document(request: PushRequest, record: Invoice | CreditNote,
              rates: Mapping[str, Decimal]) -> Json:
    return {
        "clientid": int(linked(request, Entity.CUSTOMER, record.customer_id).remote_id),
        "po_number": marker(record.id),
        "currency_code": record.currency,
        "lines": [_line(request, record, number, line, rates)
                  for number, line in enumerate(record.lines, 1)],
    }


def _line(request: PushRequest, record: Invoice | CreditNote, number: int, line: Line,
          rates: Mapping[str, Decimal]) -> Json:
    where = f"line {number} of {record.number}"
    for dimension, value in (("class", line.class_), ("location", line.location)):
        if value:
            raise Unsupported(f"{where} has {dimension} {value!r}, and FreshBooks has no "
                              "classes or locations to put it in — remove it from the line "
                              "to sync this document to FreshBooks", field=dimension)
    name = line.description
    if line.item_id is not None:
        local = request.items.get(line.item_id)
        ref = request.refs.get((Entity.ITEM, line.item_id))
        if local is not None:
            name = local.name
        elif ref is not None and ref.number:
            name = ref.number
        else:
            raise Unmapped(f"item {line.item_id!r} is neither known locally nor on FreshBooks")
    tax = _tax(request, where, line, rates)
    price = line.unit_price
    if record.tax_inclusive:
        price = exclusive_price(line, tax[1] if tax else None, currency=record.currency,
                                places=UNIT_COST_PLACES, where=where, platform="FreshBooks")
    wire: Json = {"type": 0, "name": name[:100], "description": line.description,
                  "qty": format(line.quantity, "f"), "unit_cost": money(price, record.currency)}
    if tax is not None:
        # FreshBooks calls the rate `taxAmount1` (a percentage), beside the tax's name.
        wire.update(taxName1=tax[0], taxAmount1=format(tax[1], "f"))
    return wire


def _tax(request: PushRequest, where: str, line: Line,
         rates: Mapping[str, Decimal]) -> tuple[str, Decimal] | None:
    """The FreshBooks tax (name, rate) the line's tax code is mapped to; None if untaxed."""
    if not line.tax_code:
        return None
    taxes = ", ".join(f"{name} {rate}%" for name, rate in rates.items()) or "none"
    how = f"(`syncdesk map set tax_code {line.tax_code} <tax>`)"
    name = request.mappings.tax_codes.get(line.tax_code)
    if name is None:
        raise Unmapped(f"{where}: tax code {line.tax_code!r} is not mapped to a FreshBooks "
                       f"tax — map it to one of this account's taxes ({taxes}) {how}",
                       kind="tax_code", key=line.tax_code, field="tax_code")
    rate = rates.get(name)
    if rate is None:
        raise Unmapped(f"{where}: tax code {line.tax_code!r} is mapped to {name!r}, which is "
                       f"not a tax of this FreshBooks account — map it to one of {taxes} "
                       f"{how}", kind="tax_code", key=line.tax_code, field="tax_code")
    return name, rate
