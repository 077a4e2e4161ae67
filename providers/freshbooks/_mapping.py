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
)

from ._dates import parse_eastern

Json = dict[str, Any]

PAYMENT_TYPES = {"check": "Check", "card": "Credit Card", "bank_transfer": "Bank Transfer",
                 "cash": "Cash"}
"""Local payment methods as FreshBooks' payment `type`s; anything else is "Other"."""
CREDIT_PAYMENT_TYPE = "Credit"


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


def payment(invoice_id: str, amount: Decimal, record: Payment) -> Json:
    note = f"{record.reference} {marker(record.id)}" if record.reference else marker(record.id)
    return {"invoiceid": int(invoice_id), "amount": money(amount, record.currency),
            "date": record.date.isoformat(), "type": PAYMENT_TYPES.get(record.method, "Other"),
            "note": note}


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


def taxed_codes(record: Invoice | CreditNote) -> set[str]:
    return {line.tax_code for line in record.lines if line.tax_code}


def _document(request: PushRequest, record: Invoice | CreditNote,
              rates: Mapping[str, Decimal]) -> Json:
    return {
        "clientid": int(linked(request, Entity.CUSTOMER, record.customer_id).remote_id),
        "po_number": marker(record.id),
        "currency_code": record.currency,
        "lines": [_line(request, line, record.currency, rates) for line in record.lines],
    }


def _line(request: PushRequest, line: Line, currency: str,
          rates: Mapping[str, Decimal]) -> Json:
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
    wire: Json = {"type": 0, "name": name[:100], "description": line.description,
                  "qty": format(line.quantity, "f"), "unit_cost": money(line.unit_price, currency)}
    if line.tax_code:
        rate = rates.get(line.tax_code)
        if rate is None:
            raise Unmapped(f"tax {line.tax_code!r} is not a FreshBooks tax of this account — "
                           "create it in FreshBooks or map the line's tax code")
        # FreshBooks calls the rate `taxAmount1` (a percentage), beside the tax's name.
        wire.update(taxName1=line.tax_code, taxAmount1=format(rate, "f"))
    return wire
