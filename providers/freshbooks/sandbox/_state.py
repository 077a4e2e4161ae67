"""One FreshBooks account's books: clients, items, invoices, payments, credit notes, taxes.

Objects are FreshBooks-shaped dicts holding Python values (Decimal amounts, date and aware
datetime); `_routes` renders them (money as `{"amount": "12.50", "code": "USD"}`, times in
US/Eastern). Keys starting with `_` are the sandbox's own bookkeeping and never rendered.
Every write raises `Refused` with FreshBooks' errors, or returns the stored object.

Computed as FreshBooks does: line `amount` = qty × unit cost (cents), taxes from the
line's `taxAmount1/2` percentages, invoice `amount`, `paid`, `outstanding`,
`payment_status` (unpaid, partial, paid), `status`/`v3_status` (1 draft, 2 sent, 4 paid,
8 partial). A payment larger than what is outstanding pays the invoice and books the rest as
a client credit (`overpaymentid`). Deleting (`vis_state` 1) a payment gives the invoice its
balance back; deleting a credit note takes back what it paid. A payment's `type` must be one
of FreshBooks' fixed payment types (the client's `PAYMENT_TYPES`; refused with 1004 otherwise,
UNCERTAIN wording), and its amount and invoice never change: delete it and record it again.

Deleting an invoice is allowed whatever was paid on it, its payments left in place
(UNCERTAIN: FreshBooks documents no refusal), which is why the client refuses to delete an
invoice with payments applied before it sends anything.

Fields the API does not know are dropped without a word, as FreshBooks' accounting API does
(UNCERTAIN: PLATFORMS.md §4 names no refusal of unknown fields, and FreshBooks' SDKs send
bodies as given): only the fields listed per object below are stored. A line's tax is its
`taxAmount1/2` percentage of the line amount, each rounded to the cent (PLATFORMS.md §4.2).

Credit notes (shape UNCERTAIN, see the client's `_mapping`): `credit_number`, `clientid`,
`create_date`, `lines`, `amount`, `applied`, `balance`, `display_status`. They are applied to
invoices by payments of `type` "Credit" that carry their `creditid`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from providers._sandbox import Clock

from .._mapping import PAYMENT_TYPES
from . import _rules as rules
from ._rules import FbError, Refused

Json = dict[str, Any]

CENT = Decimal("0.01")
CREDIT_TYPE = "Credit"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CLIENT_FIELDS = ("fname", "lname", "organization", "email", "note", "bus_phone", "mob_phone",
                  "home_phone", "fax", "p_street", "p_street2", "p_city", "p_province",
                  "p_code", "p_country", "currency_code", "language", "vat_name", "vat_number")
_ITEM_FIELDS = ("name", "description", "sku", "qty", "inventory", "tax1", "tax2")
_DOCUMENT_FIELDS = ("notes", "terms", "po_number", "currency_code", "language")
_STATUS = {"draft": 1, "sent": 2, "paid": 4, "partial": 8}


@dataclass
class Books:
    clock: Clock
    account_id: str
    business_id: int
    name: str
    currency: str = "USD"
    unique_client_names: bool = True
    clients: dict[int, Json] = field(default_factory=dict)
    items: dict[int, Json] = field(default_factory=dict)
    invoices: dict[int, Json] = field(default_factory=dict)
    payments: dict[int, Json] = field(default_factory=dict)
    credit_notes: dict[int, Json] = field(default_factory=dict)
    overpayments: dict[int, Json] = field(default_factory=dict)
    taxes: dict[int, Json] = field(default_factory=dict)
    listeners: list[Callable[[str, int], None]] = field(default_factory=list)
    """Told `("<noun>.<create|update|delete>", id)` after every write of an object, as
    FreshBooks names its webhook events (`invoice.create`, `payment.delete`, …)."""
    _ids: dict[str, Iterator[int]] = field(default_factory=dict)

    # -- clients ---------------------------------------------------------------------------

    def create_client(self, body: Json) -> Json:
        client = self._stamp("client", {"role": "client", "language": "en",
                                        "currency_code": self.currency, "signup_date":
                                        self.clock.now()}, 100_000)
        client["userid"] = client["id"]
        return self._save_client(client, body, new=True)

    def update_client(self, client: Json, body: Json) -> Json:
        return self._save_client(client, body, new=False)

    def _save_client(self, client: Json, body: Json, *, new: bool) -> Json:
        merged = {**client, **_pick(body, _CLIENT_FIELDS)}
        if not any(str(merged.get(k) or "").strip() for k in ("fname", "lname", "organization",
                                                              "email")):
            raise Refused(400, rules.invalid("client", "organization", rules.NO_CLIENT_NAME))
        email = str(merged.get("email") or "")
        if email and not _EMAIL.match(email):
            raise Refused(400, rules.invalid("client", "email", "Invalid email address.",
                                             email))
        organization = str(merged.get("organization") or "").strip()
        if self.unique_client_names and organization and _vis(merged, body) == 0 and any(
                other["id"] != client["id"] and other["vis_state"] == 0
                and str(other.get("organization") or "").lower() == organization.lower()
                for other in self.clients.values()):
            raise Refused(400, rules.duplicate_client(organization))
        merged["vis_state"] = _vis(merged, body)
        return self._commit(self.clients, client, merged, new, "client")

    # -- items -----------------------------------------------------------------------------

    def create_item(self, body: Json) -> Json:
        item = self._stamp("item", {"qty": "0", "inventory": None, "tax1": 0, "tax2": 0},
                           200_000)
        item["itemid"] = item["id"]
        return self._save_item(item, body, new=True)

    def update_item(self, item: Json, body: Json) -> Json:
        return self._save_item(item, body, new=False)

    def _save_item(self, item: Json, body: Json, *, new: bool) -> Json:
        merged = {**item, **_pick(body, _ITEM_FIELDS)}
        if not str(merged.get("name") or "").strip():
            raise Refused(400, rules.required("item", "name"))
        if "unit_cost" in body or new:
            merged["unit_cost"] = _money(body.get("unit_cost"), "item", "unit_cost",
                                         self.currency, places=4)
        merged["vis_state"] = _vis(merged, body)
        return self._commit(self.items, item, merged, new, "item")

    # -- invoices and credit notes ---------------------------------------------------------

    def create_invoice(self, body: Json) -> Json:
        invoice = self._stamp("invoice", {"created_at": self.clock.now(), "_sent": False,
                                          "paid": Decimal(0), "notes": "", "terms": ""},
                              300_000)
        invoice.update(invoiceid=invoice["id"], accountid=self.account_id)
        return self._save_invoice(invoice, body, new=True)

    def update_invoice(self, invoice: Json, body: Json) -> Json:
        return self._save_invoice(invoice, body, new=False)

    def _save_invoice(self, invoice: Json, body: Json, *, new: bool) -> Json:
        merged = {**invoice, **_pick(body, _DOCUMENT_FIELDS)}
        if new or "customerid" in body:
            # FreshBooks copies the client's name onto the invoice when it is chosen.
            client = self._client_of(body.get("customerid"), "invoice", "customerid")
            merged.update(customerid=client["id"],
                          **{k: client.get(k) for k in ("organization", "fname", "lname")})
        number = str(body.get("invoice_number") or merged.get("invoice_number") or "").strip()
        if number and self._number_taken(self.invoices, "invoice_number", number, invoice):
            raise Refused(400, rules.duplicate_number("invoice", "invoice_number", number))
        merged["invoice_number"] = number or self._next_number(self.invoices,
                                                               "invoice_number", "")
        created = _date(body.get("create_date"), "invoice", "create_date") \
            if body.get("create_date") else merged.get("create_date") or self.clock.now().date()
        offset = body.get("due_offset_days", merged.get("due_offset_days", 0))
        try:
            offset = int(offset or 0)
        except (TypeError, ValueError):
            raise Refused(400, rules.invalid("invoice", "due_offset_days",
                                             "due_offset_days must be a number of days.",
                                             offset)) from None
        merged.update(create_date=created, due_offset_days=offset,
                      due_date=created + timedelta(days=offset))
        if "lines" in body or new:
            merged["lines"] = self._lines(body.get("lines") or [], "invoice",
                                          str(merged.get("currency_code") or self.currency))
        merged.setdefault("currency_code", self.currency)
        if body.get("action_mark_as_sent"):
            merged["_sent"] = True
        merged["vis_state"] = _vis(merged, body)
        merged["amount"] = sum((line["amount"] + line["_tax"] for line in merged["lines"]),
                               Decimal(0))
        saved = self._commit(self.invoices, invoice, merged, new, "invoice")
        self._settle_invoice(saved)
        return saved

    def delete_invoice(self, invoice: Json) -> Json:
        return self.soft_delete("invoice", invoice)

    def soft_delete(self, noun: str, element: Json) -> Json:
        """`vis_state` 1, as FreshBooks deletes: the object stays, listed among the deleted."""
        if element["vis_state"] != 1:
            element.update(vis_state=1, updated=self.clock.now())
            self._emit(noun, "delete", element)
        return element

    def create_credit_note(self, body: Json) -> Json:
        note = self._stamp("credit_note", {"created_at": self.clock.now(), "notes": "",
                                           "applied": Decimal(0)}, 400_000)
        note["creditid"] = note["id"]
        return self._save_credit_note(note, body, new=True)

    def update_credit_note(self, note: Json, body: Json) -> Json:
        if _vis(note, body) == 1 and note["vis_state"] == 0:
            for payment in self._applications(note):
                self.delete_payment(payment)
            return self.soft_delete("credit_note", note)
        if note["applied"] > 0 and ("lines" in body or "clientid" in body):
            raise Refused(400, rules.invalid("credit_note", "lines", rules.CREDIT_APPLIED))
        return self._save_credit_note(note, body, new=False)

    def _save_credit_note(self, note: Json, body: Json, *, new: bool) -> Json:
        merged = {**note, **_pick(body, _DOCUMENT_FIELDS)}
        if new or "clientid" in body:
            merged["clientid"] = self._client_of(body.get("clientid"), "credit_note",
                                                 "clientid")["id"]
        number = str(body.get("credit_number") or merged.get("credit_number") or "").strip()
        if number and self._number_taken(self.credit_notes, "credit_number", number, note):
            raise Refused(400, rules.duplicate_number("credit_note", "credit_number", number))
        merged["credit_number"] = number or self._next_number(self.credit_notes,
                                                              "credit_number", "CN-")
        merged["create_date"] = _date(body.get("create_date"), "credit_note", "create_date") \
            if body.get("create_date") else merged.get("create_date") or self.clock.now().date()
        if "lines" in body or new:
            merged["lines"] = self._lines(body.get("lines") or [], "credit_note",
                                          str(merged.get("currency_code") or self.currency))
        merged.setdefault("currency_code", self.currency)
        merged["vis_state"] = _vis(merged, body)
        merged["amount"] = sum((line["amount"] + line["_tax"] for line in merged["lines"]),
                               Decimal(0))
        saved = self._commit(self.credit_notes, note, merged, new, "credit_note")
        self._settle_credit(saved)
        return saved

    def _lines(self, raw: Any, kind: str, currency: str) -> list[Json]:
        if not isinstance(raw, list):
            raise Refused(400, rules.invalid(kind, "lines", "lines must be a list."))
        lines = []
        for number, given in enumerate(raw, start=1):
            if not isinstance(given, Mapping):
                raise Refused(400, rules.invalid(kind, "lines", "Each line must be an object."))
            qty = _decimal(given.get("qty", 1), kind, "qty")
            unit = _money(given.get("unit_cost"), kind, "unit_cost", currency, places=4)
            amount = (qty * unit["amount"]).quantize(CENT, rounding=ROUND_HALF_UP)
            tax = Decimal(0)
            for slot in ("1", "2"):
                if given.get(f"taxAmount{slot}") not in (None, ""):
                    percent = _decimal(given[f"taxAmount{slot}"], kind, f"taxAmount{slot}")
                    if not 0 <= percent <= 100:
                        raise Refused(400, rules.FbError(
                            1018, f"taxAmount{slot}", "Tax percentage must be between 0 and "
                            "100.", kind, percent))
                    tax += (amount * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
            lines.append({
                "lineid": number, "type": int(given.get("type", 0) or 0),
                "name": str(given.get("name") or ""),
                "description": str(given.get("description") or ""), "qty": qty,
                "unit_cost": unit, "amount": amount,
                "taxName1": given.get("taxName1"), "taxAmount1": given.get("taxAmount1"),
                "taxName2": given.get("taxName2"), "taxAmount2": given.get("taxAmount2"),
                "_tax": tax,
            })
        return lines

    def _settle_invoice(self, invoice: Json) -> None:
        paid = sum((p["_applied"] for p in self.payments.values()
                    if p["invoiceid"] == invoice["id"] and p["vis_state"] == 0), Decimal(0))
        total = invoice["amount"]
        invoice["paid"] = paid
        invoice["outstanding"] = max(total - paid, Decimal(0))
        if paid >= total and total > 0:
            state = "paid"
        elif paid > 0:
            state = "partial"
        else:
            state = "sent" if invoice["_sent"] else "draft"
        invoice["payment_status"] = {"paid": "paid", "partial": "partial"}.get(state, "unpaid")
        invoice.update(status=_STATUS[state], v3_status=state, display_status=state)

    def _settle_credit(self, note: Json) -> None:
        applied = sum((p["_applied"] for p in self._applications(note)), Decimal(0))
        note.update(applied=applied, balance=note["amount"] - applied)
        note["display_status"] = ("applied" if applied >= note["amount"] and applied > 0
                                  else "partially_applied" if applied > 0 else "unapplied")

    def _applications(self, note: Json) -> list[Json]:
        return [p for p in self.payments.values()
                if p.get("creditid") == note["id"] and p["vis_state"] == 0]

    # -- payments --------------------------------------------------------------------------

    def create_payment(self, body: Json) -> Json:
        if not body.get("invoiceid"):
            raise Refused(400, rules.required("payment", "invoiceid"))
        invoice = self._live(self.invoices, body["invoiceid"], "invoice", "invoiceid")
        amount = _money(body.get("amount"), "payment", "amount", invoice["currency_code"])
        if amount["amount"] <= 0:
            raise Refused(400, rules.invalid("payment", "amount", rules.AMOUNT_POSITIVE,
                                             amount["amount"]))
        paid_on = _date(body["date"], "payment", "date") if body.get("date") \
            else self.clock.now().date()
        credit = None
        if body.get("creditid"):
            credit = self._live(self.credit_notes, body["creditid"], "credit_note", "creditid")
            if credit["clientid"] != invoice["customerid"]:
                raise Refused(400, rules.invalid("payment", "creditid",
                                                 rules.CREDIT_OTHER_CLIENT, credit["id"]))
            if amount["amount"] > credit["balance"]:
                raise Refused(400, rules.invalid("payment", "amount", rules.EXCEEDS_CREDIT,
                                                 amount["amount"]))
            if amount["amount"] > invoice["outstanding"]:
                raise Refused(400, rules.invalid("payment", "amount",
                                                 rules.EXCEEDS_OUTSTANDING, amount["amount"]))
        kind = str(body.get("type") or "Check")
        if kind not in PAYMENT_TYPES:
            raise Refused(400, rules.invalid("payment", "type", rules.UNKNOWN_TYPE, kind))
        payment = self._stamp("payment", {}, 500_000)
        applied = min(amount["amount"], invoice["outstanding"])
        payment.update(
            logid=payment["id"], invoiceid=invoice["id"], clientid=invoice["customerid"],
            amount=amount, date=paid_on, type=kind,
            note=str(body.get("note") or ""), creditid=credit["id"] if credit else None,
            from_credit=credit is not None, overpaymentid=None, gateway=None,
            transactionid=None, vis_state=0, _applied=applied,
        )
        excess = amount["amount"] - applied
        if excess > 0:
            overpayment = self._stamp("overpayment", {}, 600_000)
            overpayment.update(clientid=invoice["customerid"], paymentid=payment["id"],
                               amount={"amount": excess, "code": amount["code"]}, vis_state=0)
            self.overpayments[overpayment["id"]] = overpayment
            payment["overpaymentid"] = overpayment["id"]
        self.payments[payment["id"]] = payment
        self._after_payment(payment)
        self._emit("payment", "create", payment)
        return payment

    def update_payment(self, payment: Json, body: Json) -> Json:
        if any(k in body for k in ("amount", "invoiceid", "creditid")):
            raise Refused(400, rules.invalid("payment", "amount", rules.PAYMENT_FIXED))
        if _vis(payment, body) == 1:
            return self.delete_payment(payment)
        if "type" in body and body["type"] not in PAYMENT_TYPES:
            raise Refused(400, rules.invalid("payment", "type", rules.UNKNOWN_TYPE,
                                             body["type"]))
        for name in ("note", "type"):
            if name in body:
                payment[name] = str(body[name] or "")
        if body.get("date"):
            payment["date"] = _date(body["date"], "payment", "date")
        payment["updated"] = self.clock.now()
        self._emit("payment", "update", payment)
        return payment

    def move_payment(self, payment: Json, invoice_id: Any) -> Json:
        """Apply a live payment to another invoice of the same client, as a person does when
        editing it in FreshBooks' app (the API refuses a new `invoiceid`, `PAYMENT_FIXED`).
        UNCERTAIN: whether FreshBooks keeps the payment's id, as here, is not documented."""
        if payment["vis_state"] != 0 or payment.get("creditid"):
            raise Refused(400, rules.invalid("payment", "invoiceid", rules.PAYMENT_FIXED))
        target = self._live(self.invoices, invoice_id, "invoice", "invoiceid")
        if target["customerid"] != payment["clientid"]:
            raise Refused(400, rules.invalid("payment", "invoiceid", rules.OTHER_CLIENT,
                                             invoice_id))
        if payment["amount"]["amount"] > target["outstanding"]:
            raise Refused(400, rules.invalid("payment", "amount", rules.EXCEEDS_OUTSTANDING,
                                             payment["amount"]["amount"]))
        source = self.invoices[payment["invoiceid"]]
        payment.update(invoiceid=target["id"], _applied=payment["amount"]["amount"],
                       updated=self.clock.now())
        source["updated"] = self.clock.now()
        self._settle_invoice(source)
        self._after_payment(payment)
        self._emit("payment", "update", payment)
        return payment

    def delete_payment(self, payment: Json) -> Json:
        if payment["vis_state"] == 0:
            payment.update(vis_state=1, updated=self.clock.now())
            overpayment = self.overpayments.get(payment.get("overpaymentid") or 0)
            if overpayment is not None:
                overpayment["vis_state"] = 1
            self._after_payment(payment)
            self._emit("payment", "delete", payment)
        return payment

    def _after_payment(self, payment: Json) -> None:
        invoice = self.invoices[payment["invoiceid"]]
        invoice["updated"] = self.clock.now()
        self._settle_invoice(invoice)
        credit = self.credit_notes.get(payment.get("creditid") or 0)
        if credit is not None:
            credit["updated"] = self.clock.now()
            self._settle_credit(credit)

    # -- taxes -----------------------------------------------------------------------------

    def add_tax(self, name: str, percent: str) -> Json:
        tax = self._stamp("tax", {"name": name, "amount": Decimal(percent), "number": None,
                                  "compound": False, "vis_state": 0}, 700_000)
        tax["taxid"] = tax["id"]
        self.taxes[tax["id"]] = tax
        return tax

    # -- shared ----------------------------------------------------------------------------

    def _stamp(self, kind: str, defaults: Json, first_id: int) -> Json:
        counter = self._ids.setdefault(kind, itertools.count(first_id + 1))
        return {"id": next(counter), "accounting_systemid": self.account_id,
                "updated": self.clock.now(), "vis_state": 0, **defaults}

    def _commit(self, store: dict[int, Json], old: Json, merged: Json, new: bool,
                noun: str) -> Json:
        merged["updated"] = self.clock.now()
        deleted = merged["vis_state"] == 1 and old["vis_state"] != 1
        action = "create" if new else "delete" if deleted else "update"
        if new:
            store[merged["id"]] = merged
        else:
            old.clear()
            old.update(merged)
        saved = merged if new else old
        self._emit(noun, action, saved)
        return saved

    def _emit(self, noun: str, action: str, element: Json) -> None:
        for listener in self.listeners:
            listener(f"{noun}.{action}", int(element["id"]))

    def _client_of(self, client_id: Any, kind: str, field_name: str) -> Json:
        if client_id in (None, ""):
            raise Refused(400, rules.required(kind, field_name))
        return self._live(self.clients, client_id, "client", field_name)

    def _live(self, store: dict[int, Json], object_id: Any, kind: str,
              field_name: str) -> Json:
        try:
            found = store.get(int(object_id))
        except (TypeError, ValueError):
            found = None
        if found is None or found["vis_state"] != 0:
            raise rules.not_found(kind, object_id, field_name)
        return found

    @staticmethod
    def _number_taken(store: dict[int, Json], field_name: str, number: str, own: Json) -> bool:
        return any(other.get("id") != own.get("id") and other["vis_state"] == 0
                   and other.get(field_name) == number for other in store.values())

    @staticmethod
    def _next_number(store: dict[int, Json], field_name: str, prefix: str) -> str:
        taken = {doc.get(field_name) for doc in store.values()}
        return next(candidate for n in itertools.count(len(store) + 1)
                    if (candidate := f"{prefix}{n:07d}") not in taken)


def _pick(body: Mapping[str, Any], names: tuple[str, ...]) -> Json:
    return {k: body[k] for k in names if k in body}


def _vis(current: Mapping[str, Any], body: Mapping[str, Any]) -> int:
    value = body.get("vis_state", current.get("vis_state", 0))
    if value not in (0, 1, 2):
        raise Refused(400, FbError(rules.INVALID, "vis_state", "vis_state must be 0, 1 or 2.",
                                   "resource", value))
    return int(value)


def _decimal(value: Any, kind: str, field_name: str) -> Decimal:
    if isinstance(value, bool):
        raise Refused(400, rules.invalid(kind, field_name, f"{field_name} must be a number.",
                                         value))
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        parsed = Decimal("NaN")
    if not parsed.is_finite():
        raise Refused(400, rules.invalid(kind, field_name, f"{field_name} must be a number.",
                                         value))
    return parsed


def _money(value: Any, kind: str, field_name: str, currency: str, *, places: int = 2) -> Json:
    """`{"amount": "12.50", "code": "USD"}` (code optional) as Decimal and code."""
    raw = value.get("amount") if isinstance(value, Mapping) else value
    code = value.get("code") if isinstance(value, Mapping) else None
    if raw in (None, ""):
        raise Refused(400, rules.required(kind, field_name))
    amount = _decimal(raw, kind, field_name)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise Refused(400, rules.invalid(kind, field_name,
                                         f"{field_name} has too many decimal places.", raw))
    return {"amount": amount, "code": str(code or currency)}


def _date(value: Any, kind: str, field_name: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise Refused(400, rules.invalid(kind, field_name, f"{field_name} must be a date "
                                         "(YYYY-MM-DD).", value)) from None
