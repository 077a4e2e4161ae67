"""One Xero organisation's books: contacts, items, invoices, payments, credit notes and
overpayments (RECEIVE-OVERPAYMENT bank transactions).

Objects are kept as Xero-shaped dicts holding Python values (Decimal, date, datetime);
`_routes` renders them to JSON. Every write goes through `save_*`, which answers with the
stored object or the list of validation messages Xero would give, so batch handlers can mix
successes and failures element by element. Computed fields follow Xero: LineAmount,
TaxAmount (the line's TaxType rate, per line; a line without one takes its item's or its
account's default tax, as Xero does), SubTotal, TotalTax, Total,
AmountDue/AmountPaid/AmountCredited, PAID when nothing is due, RemainingCredit on credit notes
and overpayments. A document with payments, credit or overpayments applied is neither voided
nor deleted; an overpayment with allocations is not deleted. Line tracking names an active
tracking category and option.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from providers._sandbox import Clock

from .._dates import parse_wire_date
from . import _rules as rules

Json = dict[str, Any]

CENT = Decimal("0.01")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Status transitions a client may ask for (PAID is set by Xero alone).
_NEXT_STATUS = {
    "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "SUBMITTED": {"SUBMITTED", "DRAFT", "AUTHORISED", "DELETED"},
    "AUTHORISED": {"AUTHORISED", "VOIDED"},
    "PAID": set(),
    "VOIDED": set(),
    "DELETED": set(),
}

_CATEGORIES = {"ContactID": "CONTACT", "InvoiceID": "INVOICE", "CreditNoteID": "CREDITNOTE"}
"""The webhook category of an object, by the id it carries at its top (Xero has no PAYMENT or
ITEM category: a payment is seen through the invoice it changes)."""

# What a payment is, by the document it pays (spec Payment.PaymentType).
_PAYMENT_TYPES = {"ACCREC": "ACCRECPAYMENT", "ACCPAY": "ACCPAYPAYMENT",
                  "ACCRECCREDIT": "ARCREDITPAYMENT", "ACCPAYCREDIT": "APCREDITPAYMENT"}


@dataclass
class Outcome:
    """What saving one element gave: the stored object, or Xero's messages for it."""

    element: Json
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Company:
    clock: Clock
    name: str = "Demo Company (US)"
    currency: str = "USD"
    contacts: dict[str, Json] = field(default_factory=dict)
    items: dict[str, Json] = field(default_factory=dict)
    invoices: dict[str, Json] = field(default_factory=dict)
    payments: dict[str, Json] = field(default_factory=dict)
    credit_notes: dict[str, Json] = field(default_factory=dict)
    bank_transactions: dict[str, Json] = field(default_factory=dict)
    batch_payments: dict[str, Json] = field(default_factory=dict)
    overpayments: dict[str, Json] = field(default_factory=dict)
    accounts: list[Json] = field(default_factory=list)
    tax_rates: list[Json] = field(default_factory=list)
    tracking_categories: list[Json] = field(default_factory=list)
    _sequence: dict[str, int] = field(default_factory=dict)
    changes: list[tuple[str, str, bool]] = field(default_factory=list)
    """(webhook category, object id, created) of every change since the webhook emitter last
    took them, oldest first."""

    def _touch(self, obj: Json, *, created: bool = False) -> None:
        """Stamp UpdatedDateUTC to the millisecond, as Xero keeps and shows it (a feed that
        resumes after a stamp it read back then sees nothing twice), and note the change."""
        now = self.clock.now()
        obj["UpdatedDateUTC"] = now.replace(microsecond=now.microsecond // 1000 * 1000)
        for id_field, category in _CATEGORIES.items():
            if id_field in obj:
                self.changes.append((category, str(obj[id_field]), created))
                return

    def take_changes(self) -> list[tuple[str, str, bool]]:
        taken, self.changes = self.changes, []
        return taken

    # -- contacts --------------------------------------------------------------------------

    def save_contact(self, body: Json, existing: Json | None) -> Outcome:
        contact = {**(existing or {}), **_strip_ids(body, "ContactID")}
        name = str(contact.get("Name") or "").strip()
        errors = []
        if not name:
            errors.append(rules.CONTACT_NAME_EMPTY)
        elif any(c is not existing and c.get("ContactStatus") == "ACTIVE"
                 and c["Name"].lower() == name.lower() for c in self.contacts.values()):
            errors.append(rules.contact_name_taken(name))
        email = contact.get("EmailAddress")
        if email and not _EMAIL.match(str(email)):
            errors.append(rules.EMAIL_INVALID)
        if errors:
            return Outcome(body, errors)
        contact["Name"] = name
        contact.setdefault("ContactID", str(uuid.uuid4()))
        contact.setdefault("ContactStatus", "ACTIVE")
        self._touch(contact, created=existing is None)
        if existing is not None:
            existing.clear()
            existing.update(contact)
            contact = existing
        self.contacts[contact["ContactID"]] = contact
        return Outcome(contact)

    # -- items -----------------------------------------------------------------------------

    def save_item(self, body: Json, existing: Json | None) -> Outcome:
        item = {**(existing or {}), **_strip_ids(body, "ItemID")}
        code = str(item.get("Code") or "").strip()
        errors = []
        if not code:
            errors.append(rules.ITEM_CODE_REQUIRED)
        elif any(i is not existing and i["Code"].lower() == code.lower()
                 for i in self.items.values()):
            errors.append(rules.item_code_taken(code))
        if len(str(item.get("Name") or "")) > 50:
            errors.append(rules.name_too_long("Name", 50))
        sales = item.get("SalesDetails") or {}
        account = sales.get("AccountCode")
        if account is not None and self.account(str(account)) is None:
            errors.append(rules.account_invalid(str(account)))
        tax = sales.get("TaxType")
        if tax is not None and self.tax_rate(str(tax)) is None:
            errors.append(rules.tax_type_invalid(str(tax)))
        if errors:
            return Outcome(body, errors)
        if "UnitPrice" in sales:
            sales = {**sales, "UnitPrice": _decimal(sales["UnitPrice"])}
            item["SalesDetails"] = sales
        item["Code"] = code
        item.setdefault("ItemID", str(uuid.uuid4()))
        item.setdefault("Name", code)
        self._touch(item, created=existing is None)
        if existing is not None:
            existing.clear()
            existing.update(item)
            item = existing
        self.items[item["ItemID"]] = item
        return Outcome(item)

    def item_by_code(self, code: str) -> Json | None:
        return next((i for i in self.items.values() if i["Code"].lower() == code.lower()), None)

    # -- invoices and credit notes ---------------------------------------------------------

    def save_invoice(self, body: Json, existing: Json | None, *, unitdp: int) -> Outcome:
        return self._save_document(body, existing, unitdp=unitdp, credit=False)

    def save_credit_note(self, body: Json, existing: Json | None, *, unitdp: int) -> Outcome:
        return self._save_document(body, existing, unitdp=unitdp, credit=True)

    def _save_document(self, body: Json, existing: Json | None, *, unitdp: int,
                       credit: bool) -> Outcome:
        id_field = "CreditNoteID" if credit else "InvoiceID"
        number_field = "CreditNoteNumber" if credit else "InvoiceNumber"
        store = self.credit_notes if credit else self.invoices
        doc = {**(existing or {}), **_strip_ids(body, id_field)}
        errors: list[str] = []
        kinds = ("ACCRECCREDIT", "ACCPAYCREDIT") if credit else ("ACCREC", "ACCPAY")
        if doc.get("Type") not in kinds:
            errors.append(rules.CREDIT_TYPE_REQUIRED if credit else rules.TYPE_REQUIRED)
        old_status = existing["Status"] if existing else "DRAFT"
        status = str(doc.get("Status") or old_status)
        if existing is not None and status not in _NEXT_STATUS[old_status]:
            errors.append(rules.NOT_MODIFIABLE if not _NEXT_STATUS[old_status]
                          else rules.status_change_refused(old_status, status))
        if status in ("VOIDED", "DELETED") and existing is not None and (
                existing.get("AmountPaid") or existing.get("AmountCredited")
                or existing.get("Allocations") or existing.get("Payments")):
            errors.append(rules.VOID_WITH_PAYMENTS)
        contact = self._contact_of(doc.get("Contact"), errors)
        number = str(doc.get(number_field) or "").strip()
        if number and doc.get("Type") == "ACCREC" and any(
                other is not existing and other.get("Type") == "ACCREC"
                and other.get("Status") != "DELETED" and other["InvoiceNumber"] == number
                for other in store.values()):
            errors.append(rules.INVOICE_NUMBER_UNIQUE)
        lines = self._lines(doc.get("LineItems") or [], doc.get("LineAmountTypes", "Exclusive"),
                            unitdp, require_account=status == "AUTHORISED",
                            selling=doc.get("Type") in ("ACCREC", "ACCRECCREDIT"), errors=errors)
        if status == "AUTHORISED" and not lines:
            errors.append(rules.LINES_REQUIRED)
        try:
            issued = parse_wire_date(str(doc["Date"])) if doc.get("Date") else \
                self.clock.now().date()
            due = parse_wire_date(str(doc["DueDate"])) if doc.get("DueDate") else None
        except ValueError as exc:
            errors.append(str(exc))
            issued, due = self.clock.now().date(), None
        if errors:
            return Outcome(body, errors)
        assert contact is not None
        prefix = "CN" if credit else "INV"
        doc[number_field] = number or self._next_number(prefix, store, number_field)
        doc[id_field] = doc.get(id_field) or str(uuid.uuid4())
        doc.update(Contact={"ContactID": contact["ContactID"]}, Status=status, Date=issued,
                   LineItems=lines, LineAmountTypes=doc.get("LineAmountTypes", "Exclusive"),
                   CurrencyCode=doc.get("CurrencyCode") or self.currency)
        self._touch(doc, created=existing is None)
        if due is not None:
            doc["DueDate"] = due
        doc.setdefault("AmountPaid", Decimal(0))
        doc.setdefault("AmountCredited", Decimal(0))
        doc.setdefault("Payments", [])
        doc.setdefault("Allocations", [])
        if not credit:
            doc.setdefault("CreditNotes", [])
            doc.setdefault("Overpayments", [])
        subtotal = sum((line["LineAmount"] for line in lines), Decimal(0))
        tax = sum((line["TaxAmount"] for line in lines), Decimal(0))
        inclusive = doc["LineAmountTypes"] == "Inclusive"
        doc["SubTotal"] = subtotal - tax if inclusive else subtotal
        doc["TotalTax"] = tax
        doc["Total"] = doc["SubTotal"] + tax
        self._settle(doc, credit)
        if existing is not None:
            existing.clear()
            existing.update(doc)
            doc = existing
        store[doc[id_field]] = doc
        return Outcome(doc)

    def _contact_of(self, ref: Any, errors: list[str]) -> Json | None:
        if not isinstance(ref, Mapping):
            errors.append(rules.contact_missing(""))
            return None
        contact_id = ref.get("ContactID")
        if contact_id:
            found = self.contacts.get(str(contact_id))
            if found is None:
                errors.append(rules.contact_missing(str(contact_id)))
            return found
        name = str(ref.get("Name") or "").strip()
        match = next((c for c in self.contacts.values()
                      if c.get("ContactStatus") == "ACTIVE" and c["Name"].lower() == name.lower()),
                     None)
        if match is not None or not name:
            if match is None:
                errors.append(rules.CONTACT_NAME_EMPTY)
            return match
        # Xero creates a contact named on a document when none by that name exists.
        return self.save_contact({"Name": name}, None).element

    def _lines(self, raw: Iterable[Any], amount_types: str, unitdp: int, *,
               require_account: bool, selling: bool, errors: list[str]) -> list[Json]:
        """Each line as Xero stores it. The tax is the TaxType's rate on the line (rounded per
        line); a line without one takes its item's, then its account's default tax, as Xero
        does. A rate that cannot apply to sales (INPUT) is refused on sales documents."""
        lines = []
        places = Decimal(1).scaleb(-unitdp) if unitdp in (2, 4) else CENT
        for given in raw:
            line: Json = dict(given)
            item = None
            if line.get("ItemCode"):
                item = self.item_by_code(str(line["ItemCode"]))
                if item is None:
                    errors.append(rules.item_code_invalid(str(line["ItemCode"])))
            sales = (item or {}).get("SalesDetails") or {}
            account = line.get("AccountCode") or sales.get("AccountCode")
            if account is not None and self.account(str(account)) is None:
                errors.append(rules.account_invalid(str(account)))
            elif account is None and require_account:
                errors.append(rules.ACCOUNT_REQUIRED)
            tax_type = line.get("TaxType") or sales.get("TaxType") or (
                self.account(str(account)) or {}).get("TaxType") or "NONE"
            rate = self.tax_rate(str(tax_type))
            if rate is None or (selling and not rate["CanApplyToRevenue"]):
                errors.append(rules.tax_type_invalid(str(tax_type)))
                continue
            tracking = self._tracking(line.get("Tracking") or [], errors)
            try:
                quantity = _decimal(line.get("Quantity", 1))
                unit = _decimal(line.get("UnitAmount", sales.get("UnitPrice", 0)))
            except (InvalidOperation, ValueError):
                errors.append("Quantity and UnitAmount must be numbers.")
                continue
            unit = unit.quantize(places, rounding=ROUND_HALF_UP)
            amount = (quantity * unit).quantize(CENT, rounding=ROUND_HALF_UP)
            percent = rate["EffectiveRate"] / 100
            if amount_types == "NoTax":
                tax = Decimal(0)
            elif amount_types == "Inclusive":
                tax = (amount - amount / (1 + percent)).quantize(CENT, ROUND_HALF_UP)
            else:
                tax = (amount * percent).quantize(CENT, rounding=ROUND_HALF_UP)
            line.update(Quantity=quantity, UnitAmount=unit, LineAmount=amount, TaxAmount=tax,
                        TaxType=tax_type, LineItemID=str(uuid.uuid4()), Tracking=tracking)
            if account is not None:
                line["AccountCode"] = str(account)
            if item is not None and not line.get("Description"):
                line["Description"] = item.get("Description") or item.get("Name", "")
            lines.append(line)
        return lines

    def _tracking(self, given: Iterable[Any], errors: list[str]) -> list[Json]:
        """A line's tracking, by category and option name (or ids), as Xero stores it."""
        chosen: list[Json] = []
        for raw in given:
            wanted: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
            category = next((c for c in self.tracking_categories if c["Status"] == "ACTIVE" and (
                c["TrackingCategoryID"] == wanted.get("TrackingCategoryID")
                or c["Name"] == wanted.get("Name"))), None)
            if category is None:
                errors.append(rules.tracking_category_invalid(str(wanted.get("Name"))))
                continue
            option = next((o for o in category["Options"] if o["Status"] == "ACTIVE" and (
                o["TrackingOptionID"] == wanted.get("TrackingOptionID")
                or o["Name"] == wanted.get("Option"))), None)
            if option is None:
                errors.append(rules.tracking_option_invalid(category["Name"],
                                                            str(wanted.get("Option"))))
                continue
            chosen.append({"TrackingCategoryID": category["TrackingCategoryID"],
                           "TrackingOptionID": option["TrackingOptionID"],
                           "Name": category["Name"], "Option": option["Name"]})
        if len(chosen) > 2 or len({c["Name"] for c in chosen}) != len(chosen):
            errors.append(rules.TRACKING_TWO_AT_MOST)
        return chosen

    def _next_number(self, prefix: str, store: Mapping[str, Json], number_field: str) -> str:
        taken = {doc.get(number_field) for doc in store.values()}
        while True:
            self._sequence[prefix] = self._sequence.get(prefix, 0) + 1
            candidate = f"{prefix}-{self._sequence[prefix]:04d}"
            if candidate not in taken:
                return candidate

    def _settle(self, doc: Json, credit: bool) -> None:
        """Recompute what is left to pay (or credit) and let Xero's PAID status follow it."""
        if credit:
            # Refunds are payments of the credit note: they use its credit as allocations do.
            used = sum((a["Amount"] for a in (*doc["Allocations"], *doc["Payments"])),
                       Decimal(0))
            doc["RemainingCredit"] = doc["Total"] - used
            left = doc["RemainingCredit"]
        else:
            doc["AmountDue"] = doc["Total"] - doc["AmountPaid"] - doc["AmountCredited"]
            left = doc["AmountDue"]
        if doc["Status"] == "AUTHORISED" and left <= 0 and doc["Total"] > 0:
            doc["Status"] = "PAID"
            doc["FullyPaidOnDate"] = self.clock.now().date()
        elif doc["Status"] == "PAID" and left > 0:
            doc["Status"] = "AUTHORISED"
            doc.pop("FullyPaidOnDate", None)

    # -- payments --------------------------------------------------------------------------

    def save_payment(self, body: Json) -> Outcome:
        checked = self._check_payment(body)
        return checked if isinstance(checked, Outcome) else self._record_payment(body, *checked)

    def _check_payment(self, body: Json) -> Outcome | tuple[Json, Json, Decimal, date]:
        """The document a payment pays, its account, amount and date; or the refusal."""
        errors: list[str] = []
        if body.get("PaymentID"):
            return Outcome(body, [rules.PUT_WITH_ID])
        # A payment of a credit note is a refund of its credit (ARCREDITPAYMENT), taken from
        # RemainingCredit as a payment of an invoice is from AmountDue.
        refunding = isinstance(body.get("CreditNote"), Mapping)
        invoice = self._credit_note_of(body["CreditNote"], errors) if refunding else \
            self._invoice_of(body.get("Invoice"), body.get("InvoiceNumber"), errors)
        account = self._paying_account(body.get("Account"), body.get("Code"), errors)
        try:
            amount = _decimal(body.get("Amount", 0))
        except (InvalidOperation, ValueError):
            amount = Decimal(0)
        if amount <= 0:
            errors.append(rules.AMOUNT_POSITIVE)
        if invoice is not None:
            if invoice["Status"] != "AUTHORISED":
                errors.append(rules.PAYMENT_NOT_AUTHORISED)
            elif amount > invoice["RemainingCredit" if refunding else "AmountDue"]:
                errors.append(rules.PAYMENT_EXCEEDS_DUE)
        paid_on = self._body_date(body, errors)
        if errors:
            return Outcome(body, errors)
        assert invoice is not None and account is not None
        return invoice, account, amount, paid_on

    def _record_payment(self, body: Json, invoice: Json, account: Json, amount: Decimal,
                        paid_on: date, batch: Json | None = None) -> Outcome:
        refunding = "CreditNoteID" in invoice
        payment: Json = {
            "PaymentID": str(uuid.uuid4()), "Date": paid_on, "Amount": amount,
            "Reference": body.get("Reference", ""), "Status": "AUTHORISED",
            "PaymentType": _PAYMENT_TYPES[invoice["Type"]],
            "IsReconciled": bool(body.get("IsReconciled", False)),
            "Account": {"AccountID": account["AccountID"], "Code": account.get("Code")},
        }
        if batch is not None:
            payment["BatchPaymentID"] = batch["BatchPaymentID"]
            payment["BatchPayment"] = {k: batch[k] for k in ("BatchPaymentID", "Type", "Status",
                                                             "Date", "Account")}
        self._touch(payment, created=True)
        if refunding:
            payment["CreditNote"] = {"CreditNoteID": invoice["CreditNoteID"],
                                     "CreditNoteNumber": invoice["CreditNoteNumber"]}
        else:
            payment["Invoice"] = {"InvoiceID": invoice["InvoiceID"]}
            invoice["AmountPaid"] += amount
        self.payments[payment["PaymentID"]] = payment
        invoice["Payments"].append({"PaymentID": payment["PaymentID"], "Date": paid_on,
                                    "Amount": amount, "Reference": payment["Reference"]})
        self._touch(invoice)
        self._settle(invoice, credit=refunding)
        return Outcome(payment)

    def delete_payment(self, payment: Json) -> Outcome:
        if payment["Status"] == "DELETED":
            return Outcome(payment)
        refund = "CreditNote" in payment
        invoice = self.credit_notes.get(payment["CreditNote"]["CreditNoteID"]) if refund else \
            self.invoices.get(payment["Invoice"]["InvoiceID"])
        payment["Status"] = "DELETED"
        self._touch(payment)
        if invoice is not None:
            if not refund:
                invoice["AmountPaid"] -= payment["Amount"]
            invoice["Payments"] = [p for p in invoice["Payments"]
                                   if p["PaymentID"] != payment["PaymentID"]]
            self._touch(invoice)
            self._settle(invoice, credit=refund)
        return Outcome(payment)

    def redo_payment(self, payment: Json, invoice_id: str) -> Outcome:
        """Xero's "Remove and Redo" of a payment, done by a person to move it to another
        invoice: the payment is deleted and a new one made with its date, amount, account
        and Reference on `invoice_id` (Xero cannot edit a payment's invoice)."""
        body = {"Invoice": {"InvoiceID": invoice_id}, "Amount": payment["Amount"],
                "Date": payment["Date"].isoformat(), "Reference": payment.get("Reference", ""),
                "Account": {"AccountID": payment["Account"]["AccountID"]}}
        if payment.get("BatchPaymentID"):
            return Outcome(body, [rules.PAYMENT_IN_BATCH])
        checked = self._check_payment(body)
        if isinstance(checked, Outcome):
            return checked
        if payment.get("Invoice", {}).get("InvoiceID") == invoice_id:
            return Outcome(body, ["The payment is already on that invoice."])
        self.delete_payment(payment)
        return self.save_payment(body)

    def save_batch_payment(self, body: Json, existing: Json | None) -> Outcome:
        """One deposit paying several invoices, as a person records it in Xero: one Payment
        per invoice, each naming the batch. Whole or not at all; once made it can only be
        deleted (spec `deleteBatchPayment`), which deletes its payments."""
        if existing is not None:
            if body.get("Status") != "DELETED":
                return Outcome(body, [rules.BATCH_PAYMENT_NOT_MODIFIABLE])
            for part in existing["Payments"]:
                self.delete_payment(self.payments[part["PaymentID"]])
            existing["Status"] = "DELETED"
            self._touch(existing)
            return Outcome(existing)
        parts = [{**part, "Account": body.get("Account"), "Date": body.get("Date")}
                 for part in body.get("Payments") or [] if isinstance(part, Mapping)]
        checks = [self._check_payment(part) for part in parts]
        errors = [m for c in checks if isinstance(c, Outcome) for m in c.errors]
        if not parts:
            errors.append(rules.BATCH_PAYMENT_EMPTY)
        if errors:
            return Outcome(body, list(dict.fromkeys(errors)))
        valid = [c for c in checks if not isinstance(c, Outcome)]
        batch: Json = {
            "BatchPaymentID": str(uuid.uuid4()), "Type": "RECBATCH", "Status": "AUTHORISED",
            "Date": valid[0][3], "Reference": body.get("Reference", ""),
            "Account": {"AccountID": valid[0][1]["AccountID"], "Code": valid[0][1].get("Code")},
            "TotalAmount": sum((c[2] for c in valid), Decimal(0)), "IsReconciled": False,
        }
        made = [self._record_payment(part, *check, batch).element
                for part, check in zip(parts, valid, strict=True)]
        batch["Payments"] = [{"PaymentID": p["PaymentID"], "Invoice": p["Invoice"],
                              "Amount": p["Amount"]} for p in made]
        self._touch(batch, created=True)
        self.batch_payments[batch["BatchPaymentID"]] = batch
        return Outcome(batch)

    def _credit_note_of(self, ref: Json, errors: list[str]) -> Json | None:
        found = self.credit_notes.get(str(ref.get("CreditNoteID"))) or next(
            (c for c in self.credit_notes.values()
             if c["CreditNoteNumber"] == ref.get("CreditNoteNumber")), None)
        if found is None:
            errors.append(rules.document_missing(
                "CreditNote", str(ref.get("CreditNoteID") or ref.get("CreditNoteNumber"))))
        return found

    def _invoice_of(self, ref: Any, number: Any, errors: list[str]) -> Json | None:
        ref = ref if isinstance(ref, Mapping) else {}
        wanted_id, wanted_number = ref.get("InvoiceID"), ref.get("InvoiceNumber") or number
        found = self.invoices.get(str(wanted_id)) if wanted_id else next(
            (i for i in self.invoices.values() if i["InvoiceNumber"] == wanted_number), None)
        if found is None:
            errors.append(rules.document_missing("Invoice", str(wanted_id or wanted_number)))
        return found

    # -- credit-note allocations -----------------------------------------------------------

    def _body_date(self, body: Json, errors: list[str]) -> date:
        """A money movement's `Date`, today when it has none; a date Xero cannot read is
        one more validation error (the movement is refused), never a crash."""
        try:
            return parse_wire_date(str(body["Date"])) if body.get("Date") else \
                self.clock.now().date()
        except ValueError as exc:
            errors.append(str(exc))
            return self.clock.now().date()

    def _allocation(self, source: Json, body: Json, not_authorised: str, exceeds: str
                    ) -> tuple[Json, Decimal, Json] | Outcome:
        """Xero's checks on applying a credit (a credit note's, an overpayment's) to an
        invoice: the invoice, the amount and the new allocation, or the refusal."""
        errors: list[str] = []
        invoice = self._invoice_of(body.get("Invoice"), None, errors)
        try:
            amount = _decimal(body.get("Amount", 0))
        except (InvalidOperation, ValueError):
            amount = Decimal(0)
        if amount <= 0:
            errors.append(rules.AMOUNT_POSITIVE)
        if source["Status"] != "AUTHORISED":
            errors.append(not_authorised)
        elif amount > source["RemainingCredit"]:
            errors.append(exceeds)
        if invoice is not None:
            if invoice["Status"] != "AUTHORISED":
                errors.append(rules.PAYMENT_NOT_AUTHORISED)
            elif amount > invoice["AmountDue"]:
                errors.append(rules.PAYMENT_EXCEEDS_DUE)
            if invoice["Contact"] != source["Contact"]:
                errors.append(rules.CONTACT_MISMATCH)
        applied_on = self._body_date(body, errors)
        if errors:
            return Outcome(body, errors)
        assert invoice is not None
        return invoice, amount, {
            "AllocationID": str(uuid.uuid4()), "Amount": amount, "Date": applied_on,
            "Invoice": {"InvoiceID": invoice["InvoiceID"],
                        "InvoiceNumber": invoice["InvoiceNumber"]},
        }

    def allocate(self, credit_note: Json, body: Json) -> Outcome:
        checked = self._allocation(credit_note, body, rules.CREDIT_NOT_AUTHORISED,
                                   rules.ALLOCATION_EXCEEDS_CREDIT)
        if isinstance(checked, Outcome):
            return checked
        invoice, amount, allocation = checked
        allocation["CreditNote"] = {"CreditNoteID": credit_note["CreditNoteID"],
                                    "CreditNoteNumber": credit_note["CreditNoteNumber"]}
        credit_note["Allocations"].append(allocation)
        invoice["AmountCredited"] += amount
        invoice["CreditNotes"].append({"CreditNoteID": credit_note["CreditNoteID"],
                                       "CreditNoteNumber": credit_note["CreditNoteNumber"],
                                       "AppliedAmount": amount})
        for doc, credit in ((credit_note, True), (invoice, False)):
            self._touch(doc)
            self._settle(doc, credit)
        return Outcome(allocation)

    def _paying_account(self, ref: Any, code: Any, errors: list[str]) -> Json | None:
        """The account money lands in: a bank account, or one enabled for payments."""
        ref = ref if isinstance(ref, Mapping) else {}
        code = ref.get("Code") or code
        account = self.account(str(code)) if code else next(
            (a for a in self.accounts if a["AccountID"] == ref.get("AccountID")), None)
        if account is None or not (account["Type"] == "BANK"
                                   or account.get("EnablePaymentsToAccount")):
            errors.append(rules.account_invalid(str(code or ref.get("AccountID", ""))))
            return None
        return account

    # -- overpayments (RECEIVE-OVERPAYMENT bank transactions) -------------------------------

    def save_bank_transaction(self, body: Json, existing: Json | None) -> Outcome:
        """Only what syncdesk writes is modelled: a RECEIVE-OVERPAYMENT, created, then
        deleted once nothing is allocated from it. Any other type is refused as such."""
        if existing is not None:
            return self._end_bank_transaction(existing, body)
        errors: list[str] = []
        if body.get("Type") != "RECEIVE-OVERPAYMENT":
            return Outcome(body, [rules.bank_transaction_type_unsupported(str(body.get("Type")))])
        contact = self._contact_of(body.get("Contact"), errors)
        account = self._paying_account(body.get("BankAccount"), None, errors)
        total = Decimal(0)
        lines: list[Json] = []
        for given in body.get("LineItems") or []:
            try:
                amount = _decimal(given.get("LineAmount") if given.get("LineAmount") is not None
                                  else _decimal(given.get("Quantity", 1))
                                  * _decimal(given.get("UnitAmount", 0)))
            except (InvalidOperation, ValueError):
                errors.append("LineAmount must be a number.")
                continue
            amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
            total += amount
            lines.append({**given, "LineAmount": amount, "TaxAmount": Decimal(0),
                          "TaxType": "NONE", "LineItemID": str(uuid.uuid4()), "Tracking": []})
        if total <= 0:
            errors.append(rules.AMOUNT_POSITIVE)
        paid_on = self._body_date(body, errors)
        if errors:
            return Outcome(body, errors)
        assert contact is not None and account is not None
        overpayment: Json = {
            "OverpaymentID": str(uuid.uuid4()), "Type": "RECEIVE-OVERPAYMENT",
            "Contact": {"ContactID": contact["ContactID"]}, "Date": paid_on,
            "Status": "AUTHORISED", "LineAmountTypes": "NoTax", "LineItems": lines,
            "SubTotal": total, "TotalTax": Decimal(0), "Total": total, "RemainingCredit": total,
            "Allocations": [], "CurrencyCode": body.get("CurrencyCode") or self.currency,
        }
        self._touch(overpayment)
        # Reference is "only supported for SPEND and RECEIVE transactions" (spec): dropped.
        transaction: Json = {
            "BankTransactionID": str(uuid.uuid4()), "Type": "RECEIVE-OVERPAYMENT",
            "Contact": {"ContactID": contact["ContactID"]},
            "BankAccount": {"AccountID": account["AccountID"], "Code": account.get("Code")},
            "Date": paid_on, "Status": "AUTHORISED", "LineAmountTypes": "NoTax",
            "LineItems": lines, "SubTotal": total, "TotalTax": Decimal(0), "Total": total,
            "CurrencyCode": overpayment["CurrencyCode"], "IsReconciled": False,
            "OverpaymentID": overpayment["OverpaymentID"],
        }
        self._touch(transaction)
        self.overpayments[overpayment["OverpaymentID"]] = overpayment
        self.bank_transactions[transaction["BankTransactionID"]] = transaction
        return Outcome(transaction)

    def _end_bank_transaction(self, transaction: Json, body: Json) -> Outcome:
        if body.get("Status") not in ("DELETED", "VOIDED"):
            return Outcome(body, [rules.BANK_TRANSACTION_NOT_MODIFIABLE])
        overpayment = self.overpayments.get(str(transaction.get("OverpaymentID")))
        if overpayment is not None and overpayment["Allocations"]:
            return Outcome(body, [rules.OVERPAYMENT_ALLOCATED])
        transaction["Status"] = "DELETED"
        self._touch(transaction)
        if overpayment is not None:
            overpayment["Status"] = "VOIDED"
            overpayment["RemainingCredit"] = Decimal(0)
        return Outcome(transaction)

    def allocate_overpayment(self, overpayment: Json, body: Json) -> Outcome:
        checked = self._allocation(overpayment, body, rules.OVERPAYMENT_NOT_AUTHORISED,
                                   rules.ALLOCATION_EXCEEDS_OVERPAYMENT)
        if isinstance(checked, Outcome):
            return checked
        invoice, amount, allocation = checked
        allocation["Overpayment"] = {"OverpaymentID": overpayment["OverpaymentID"]}
        overpayment["Allocations"].append(allocation)
        overpayment["RemainingCredit"] -= amount
        invoice["AmountCredited"] += amount
        invoice["Overpayments"].append({"OverpaymentID": overpayment["OverpaymentID"],
                                        "AppliedAmount": amount})
        self._settle_overpayment(overpayment)
        self._touch(invoice)
        self._settle(invoice, credit=False)
        return Outcome(allocation)

    def delete_overpayment_allocation(self, overpayment: Json, allocation_id: str) -> Json | None:
        allocation = next((a for a in overpayment["Allocations"]
                           if a["AllocationID"] == allocation_id), None)
        if allocation is None:
            return None
        overpayment["Allocations"].remove(allocation)
        overpayment["RemainingCredit"] += allocation["Amount"]
        invoice = self.invoices.get(allocation["Invoice"]["InvoiceID"])
        if invoice is not None:
            invoice["AmountCredited"] -= allocation["Amount"]
            applied = next((o for o in invoice["Overpayments"]
                            if o["OverpaymentID"] == overpayment["OverpaymentID"]
                            and o["AppliedAmount"] == allocation["Amount"]), None)
            if applied is not None:
                invoice["Overpayments"].remove(applied)
            self._touch(invoice)
            self._settle(invoice, credit=False)
        self._settle_overpayment(overpayment)
        return {**allocation, "IsDeleted": True}

    def _settle_overpayment(self, overpayment: Json) -> None:
        self._touch(overpayment)
        if overpayment["Status"] in ("AUTHORISED", "PAID"):
            overpayment["Status"] = "PAID" if overpayment["RemainingCredit"] <= 0 \
                else "AUTHORISED"

    # -- reference data --------------------------------------------------------------------

    def account(self, code: str) -> Json | None:
        return next((a for a in self.accounts if a.get("Code") == code), None)

    def tax_rate(self, tax_type: str) -> Json | None:
        return next((t for t in self.tax_rates if t["TaxType"] == tax_type), None)


def _strip_ids(body: Json, id_field: str) -> Json:
    """A body's writable fields: the id is the store's business, not the client's."""
    return {k: v for k, v in body.items() if k != id_field}


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("not a number")
    return value if isinstance(value, Decimal) else Decimal(str(value))


def seed_chart(company: Company) -> None:
    """What every Xero organisation has: a chart of accounts and its tax rates."""
    for code, name, kind, tax, payments in (
        ("090", "Business Bank Account", "BANK", "NONE", True),
        # Xero lets a bank account go without a code; it is then known by its AccountID.
        ("", "Business Savings Account", "BANK", "NONE", True),
        ("200", "Sales", "REVENUE", "OUTPUT", False),
        ("260", "Other Revenue", "REVENUE", "OUTPUT", False),
        ("400", "Advertising", "EXPENSE", "INPUT", False),
        ("610", "Accounts Receivable", "CURRENT", "NONE", False),
    ):
        account: Json = {
            "AccountID": _seed_id(f"account/{code or name}"),
            "Name": name, "Type": kind, "TaxType": tax, "Status": "ACTIVE",
            "Class": {"BANK": "ASSET", "REVENUE": "REVENUE", "EXPENSE": "EXPENSE",
                      "CURRENT": "ASSET"}[kind],
            "EnablePaymentsToAccount": payments,
        }
        if code:
            account["Code"] = code
        company.accounts.append(account)
    for tax_type, name, rate in (("OUTPUT", "Tax on Sales", "10.0000"),
                                 ("INPUT", "Tax on Purchases", "10.0000"),
                                 ("TAX001", "Sales Tax", "8.8750"),
                                 ("NONE", "Tax Exempt", "0.0000")):
        company.tax_rates.append({"TaxType": tax_type, "Name": name, "Status": "ACTIVE",
                                  "EffectiveRate": Decimal(rate), "DisplayTaxRate": Decimal(rate),
                                  "CanApplyToRevenue": tax_type != "INPUT"})
    for category, options in (("Region", ("North", "South")),
                              ("Service", ("Residential", "Commercial"))):
        company.tracking_categories.append({
            "TrackingCategoryID": _seed_id(f"tracking/{category}"), "Name": category,
            "Status": "ACTIVE",
            "Options": [{"TrackingOptionID": _seed_id(f"tracking/{category}/{option}"),
                         "Name": option, "Status": "ACTIVE"} for option in options],
        })


def _seed_id(path: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"xero-sandbox/{path}"))


DEMO_CUSTOMER = "Riverside Property Group LLC"
DEMO_INVOICE_NUMBER = "INV-1042"


def seed_demo(company: Company) -> None:
    """Someone else's contact and invoice, so the demo's colliding records fail for real."""
    contact = company.save_contact({"Name": DEMO_CUSTOMER,
                                    "EmailAddress": "accounts@riverside.example"}, None).element
    company.save_invoice({
        "Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]},
        "InvoiceNumber": DEMO_INVOICE_NUMBER, "Date": date(2026, 1, 12).isoformat(),
        "DueDate": date(2026, 2, 11).isoformat(), "Status": "AUTHORISED",
        "LineItems": [{"Description": "Quarterly gutter maintenance", "Quantity": 1,
                       "UnitAmount": Decimal("450.00"), "AccountCode": "200",
                       "TaxType": "NONE"}],
    }, None, unitdp=2)
