"""One Wave business's books: customers, products, invoices, accounts, sales taxes, money.

Objects are Wave-shaped dicts (GraphQL field names, Python values) that the schema's default
resolvers read directly; references (an invoice's customer, a product's income account) are
the referenced dicts themselves, so a patch shows everywhere at once, as in Wave.

Every write answers with an `Outcome`: the stored object, or the `inputErrors` Wave would
give, each `{code, message, path}` with `path` the input field names from `input` down.
Wave does not publish its input-error codes or messages (PLATFORMS.md §3.4, UNCERTAIN); the
ones here are this sandbox's, kept in one place (`_errors`) so they are easy to correct.
A missing object addressed by its own id is not an input error but a `Missing` exception,
which the resolvers turn into Wave's top-level `NOT_FOUND` error.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from providers._sandbox import Clock

from . import _errors as errors

Json = dict[str, Any]
CENT = Decimal("0.01")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SOLD_SUBTYPES = ("INCOME", "DISCOUNTS", "OTHER_INCOME")
"""Account subtypes a product's income account may have."""


class Missing(Exception):
    """The object a request addresses by id does not exist (Wave's NOT_FOUND)."""

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"{kind} '{object_id}' could not be found.")


@dataclass
class Outcome:
    value: Json | None = None
    errors: list[Json] = field(default_factory=list)


@dataclass
class Books:
    clock: Clock
    business_uuid: str
    name: str
    currency_code: str = "USD"
    is_classic_accounting: bool = False
    is_classic_invoicing: bool = False
    customers: dict[str, Json] = field(default_factory=dict)
    products: dict[str, Json] = field(default_factory=dict)
    invoices: dict[str, Json] = field(default_factory=dict)
    accounts: dict[str, Json] = field(default_factory=dict)
    sales_taxes: dict[str, Json] = field(default_factory=dict)
    transactions: dict[str, Json] = field(default_factory=dict)
    _serial: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return _encode(f"Business:{self.business_uuid}")

    @property
    def currency(self) -> Json:
        return currency(self.currency_code)

    def new_id(self, kind: str) -> str:
        """Wave ids are base64 global ids naming the business and the object."""
        serial = self._serial[kind] = self._serial.get(kind, 0) + 1
        return _encode(f"Business:{self.business_uuid};{kind}:{serial}")

    def get(self, store: str, kind: str, object_id: str) -> Json:
        found: Json | None = getattr(self, store).get(object_id)
        if found is None:
            raise Missing(kind, object_id)
        return found

    # -- customers ---------------------------------------------------------------------------

    def create_customer(self, data: Mapping[str, Any]) -> Outcome:
        return self._save_customer({"id": self.new_id("Customer"),
                                    "createdAt": self.clock.now(), "isArchived": False,
                                    "currency": self.currency}, data, creating=True)

    def patch_customer(self, data: Mapping[str, Any]) -> Outcome:
        return self._save_customer(self.get("customers", "Customer", data["id"]), data,
                                   creating=False)

    def _save_customer(self, customer: Json, data: Mapping[str, Any], *,
                       creating: bool) -> Outcome:
        problems = []
        if "name" in data and not str(data["name"] or "").strip():
            problems.append(errors.required("name"))
        email = data.get("email")
        if email and not _EMAIL.match(str(email)):
            problems.append(errors.invalid_email())
        if problems:
            return Outcome(errors=problems)
        fields = {k: v for k, v in data.items() if k not in ("id", "businessId", "address",
                                                              "currency")}
        customer.update(fields)
        if data.get("currency"):
            customer["currency"] = currency(data["currency"])
        if "address" in data:
            customer["address"] = _address(data["address"])
        customer["modifiedAt"] = self.clock.now()
        if creating:
            self.customers[customer["id"]] = customer
        return Outcome(customer)

    # -- products ----------------------------------------------------------------------------

    def create_product(self, data: Mapping[str, Any]) -> Outcome:
        now = self.clock.now()
        product: Json = {"id": self.new_id("Product"), "createdAt": now, "isArchived": False,
                         "isSold": True, "isBought": False, "description": None,
                         "expenseAccount": None, "defaultSalesTaxes": [],
                         # Wave puts a product without an income account on "Sales".
                         "incomeAccount": self.default_income_account()}
        return self._save_product(product, data, creating=True)

    def patch_product(self, data: Mapping[str, Any]) -> Outcome:
        return self._save_product(self.get("products", "Product", data["id"]), data,
                                  creating=False)

    def archive_product(self, product_id: str) -> Outcome:
        product = self.get("products", "Product", product_id)
        product["isArchived"] = True
        product["modifiedAt"] = self.clock.now()
        return Outcome(product)

    def default_income_account(self) -> Json | None:
        return next((a for a in self.accounts.values() if a["name"] == "Sales"), None)

    def _save_product(self, product: Json, data: Mapping[str, Any], *,
                      creating: bool) -> Outcome:
        problems = []
        if "name" in data and not str(data["name"] or "").strip():
            problems.append(errors.required("name"))
        if data.get("unitPrice") is not None and data["unitPrice"] < 0:
            problems.append(errors.negative("unitPrice"))
        income = product["incomeAccount"]
        if data.get("incomeAccountId") is not None:
            income = self.accounts.get(data["incomeAccountId"])
            if income is None or income["subtype"]["value"] not in _SOLD_SUBTYPES:
                problems.append(errors.not_income_account(data["incomeAccountId"]))
        taxes = product["defaultSalesTaxes"]
        if data.get("defaultSalesTaxIds") is not None:
            taxes = [self.sales_taxes.get(t) for t in data["defaultSalesTaxIds"]]
            problems += [errors.unknown("defaultSalesTaxIds", str(i), "Sales tax")
                         for i, t in enumerate(taxes) if t is None]
        if problems:
            return Outcome(errors=problems)
        for name in ("name", "unitPrice", "description"):
            if name in data and data[name] is not None:
                product[name] = data[name]
        product["incomeAccount"] = income
        product["defaultSalesTaxes"] = taxes
        product["modifiedAt"] = self.clock.now()
        if creating:
            self.products[product["id"]] = product
        return Outcome(product)

    # -- invoices ----------------------------------------------------------------------------

    def create_invoice(self, data: Mapping[str, Any]) -> Outcome:
        if self.is_classic_invoicing:
            return Outcome(errors=[errors.classic("invoicing", "businessId")])
        now = self.clock.now()
        serial = len(self.invoices) + 1
        invoice: Json = {
            "id": self.new_id("Invoice"), "createdAt": now, "status": data.get("status", "SAVED"),
            "invoiceDate": self.clock.now().date(), "currency": self.currency,
            "exchangeRate": Decimal(1), "items": [], "lastSentAt": None, "lastSentVia": None,
            "title": "Invoice", "subhead": None, "poNumber": None, "memo": None, "footer": None,
            "pdfUrl": f"https://api.waveapps.com/businesses/{self.business_uuid}/invoices/"
                      f"{serial}/pdf/",
            "viewUrl": f"https://next.waveapps.com/{self.business_uuid}/invoices/{serial}/view",
        }
        if not data.get("invoiceNumber"):
            invoice["invoiceNumber"] = self._next_invoice_number()
        return self._save_invoice(invoice, data, creating=True)

    def patch_invoice(self, data: Mapping[str, Any]) -> Outcome:
        return self._save_invoice(self.get("invoices", "Invoice", data["id"]), data,
                                  creating=False)

    def delete_invoice(self, invoice_id: str) -> Outcome:
        invoice = self.get("invoices", "Invoice", invoice_id)
        if invoice["amountPaid"]["_amount"] > 0:
            # Wave asks for an invoice's payments to be removed before it goes (UNCERTAIN:
            # its public docs say nothing; its app refuses the same).
            return Outcome(errors=[errors.has_payments()])
        del self.invoices[invoice_id]
        return Outcome()

    def record_payment(self, invoice_id: str, amount: Decimal) -> Json:
        """A payment a person records on an invoice in Wave's app: the public API has no
        such mutation (PLATFORMS.md §3.1), so only tests and demos call this."""
        invoice = self.get("invoices", "Invoice", invoice_id)
        code = invoice["currency"]["code"]
        invoice["amountPaid"] = money(invoice["amountPaid"]["_amount"] + amount, code)
        _total(invoice)
        if invoice["amountPaid"]["_amount"] <= 0:  # all of it removed again
            invoice["status"] = "SENT" if invoice["lastSentAt"] else "SAVED"
        else:
            invoice["status"] = "PAID" if invoice["amountDue"]["_amount"] <= 0 else "PARTIAL"
        invoice["modifiedAt"] = self.clock.now()
        return invoice

    def approve_invoice(self, invoice_id: str) -> Outcome:
        invoice = self.get("invoices", "Invoice", invoice_id)
        if invoice["status"] != "DRAFT":
            return Outcome(errors=[errors.not_draft()])
        invoice["status"] = "SAVED"
        invoice["modifiedAt"] = self.clock.now()
        return Outcome(invoice)

    def mark_sent(self, invoice_id: str, method: str, sent_at: datetime | None) -> Outcome:
        invoice = self.get("invoices", "Invoice", invoice_id)
        if invoice["status"] == "DRAFT":
            return Outcome(errors=[errors.draft_cannot_be_sent()])
        invoice["status"] = "SENT"
        invoice["lastSentAt"] = sent_at or self.clock.now()
        invoice["lastSentVia"] = method
        invoice["modifiedAt"] = self.clock.now()
        return Outcome(invoice)

    def _save_invoice(self, invoice: Json, data: Mapping[str, Any], *,
                      creating: bool) -> Outcome:
        problems: list[Json] = []
        customer = invoice.get("customer")
        if data.get("customerId") is not None:
            customer = self.customers.get(data["customerId"])
            if customer is None:
                problems.append(errors.unknown("customerId", None, "Customer"))
        number = data.get("invoiceNumber")
        if number and any(other is not invoice and other["invoiceNumber"] == number
                          for other in self.invoices.values()):
            # Wave's schema: "Unique number assigned to the invoice" (PLATFORMS.md §3).
            problems.append(errors.number_taken(number))
        invoice_date = data.get("invoiceDate") or invoice["invoiceDate"]
        due = data.get("dueDate") or invoice.get("dueDate") or invoice_date
        if due < invoice_date:
            problems.append(errors.due_before_issue())
        code = data.get("currency") or invoice["currency"]["code"]
        lines = invoice["items"]
        if data.get("items") is not None:
            lines = []
            for index, item in enumerate(data["items"]):
                line = self._line(item, index, code, problems)
                if line is not None:
                    lines.append(line)
        if problems:
            return Outcome(errors=problems)
        for name in ("status", "invoiceNumber", "title", "subhead", "poNumber", "memo",
                     "footer", "exchangeRate"):
            if data.get(name) is not None:
                invoice[name] = data[name]
        invoice.update(customer=customer, invoiceDate=invoice_date, dueDate=due,
                       currency=currency(code), items=lines, modifiedAt=self.clock.now())
        _total(invoice)
        if creating:
            self.invoices[invoice["id"]] = invoice
        return Outcome(invoice)

    def _line(self, item: Mapping[str, Any], index: int, code: str,
              problems: list[Json]) -> Json | None:
        product = self.products.get(item["productId"])
        if product is None or product["isArchived"]:
            problems.append(errors.unknown("items", f"{index}.productId", "Product"))
            return None
        quantity = item.get("quantity")
        quantity = Decimal(1) if quantity is None else quantity
        price = item.get("unitPrice")
        price = product["unitPrice"] if price is None else price
        if quantity < 0:
            problems.append(errors.negative("items", f"{index}.quantity"))
        subtotal = (quantity * price).quantize(CENT, ROUND_HALF_UP)
        taxes = []
        for tax_index, tax in enumerate(item.get("taxes") or []):
            sales_tax = self.sales_taxes.get(tax["salesTaxId"])
            if sales_tax is None:
                problems.append(errors.unknown("items", f"{index}.taxes.{tax_index}.salesTaxId",
                                               "Sales tax"))
                continue
            amount = tax.get("amount")
            if amount is None:
                amount = (subtotal * sales_tax["rate"] / 100).quantize(CENT, ROUND_HALF_UP)
            taxes.append({"salesTax": sales_tax, "amount": money(amount, code)})
        tax_sum = sum((t["amount"]["_amount"] for t in taxes), Decimal(0))
        return {"product": product, "description": item.get("description",
                                                             product["description"]),
                "quantity": quantity, "unitPrice": price, "account": product["incomeAccount"],
                "subtotal": money(subtotal, code), "total": money(subtotal + tax_sum, code),
                "taxes": taxes}

    def _next_invoice_number(self) -> str:
        # Wave: "If not provided, will find the current largest invoice number and add 1."
        numbers = [int(i["invoiceNumber"]) for i in self.invoices.values()
                   if str(i["invoiceNumber"]).isdigit()]
        return str(max(numbers, default=0) + 1)

    # -- money transactions ------------------------------------------------------------------

    def create_money_transaction(self, data: Mapping[str, Any]) -> Outcome:
        if self.is_classic_accounting:
            return Outcome(errors=[errors.classic("accounting", "businessId")])
        anchor = data["anchor"]
        problems = []
        if anchor["accountId"] not in self.accounts:
            problems.append(errors.unknown("anchor", "accountId", "Account"))
        for index, line in enumerate(data["lineItems"]):
            if line["accountId"] not in self.accounts:
                problems.append(errors.unknown("lineItems", f"{index}.accountId", "Account"))
            if line.get("customerId") and line["customerId"] not in self.customers:
                problems.append(errors.unknown("lineItems", f"{index}.customerId", "Customer"))
        if sum((line["amount"] for line in data["lineItems"]), Decimal(0)) != anchor["amount"]:
            problems.append(errors.unbalanced())
        if problems:
            return Outcome(errors=problems)
        # Wave's public API can write a transaction but never read it back: only `id`.
        transaction = {"id": self.new_id("Transaction"), **data}
        self.transactions[transaction["id"]] = transaction
        return Outcome(transaction)


def currency(code: str) -> Json:
    return {"code": code, "symbol": "$" if code in ("USD", "CAD", "AUD", "NZD") else code,
            "name": code}


def money(amount: Decimal, code: str) -> Json:
    # `_amount` keeps the exact figure for sums; the schema shows only raw/value/currency.
    return {"raw": int((amount / CENT).to_integral_value(ROUND_HALF_UP)),
            "value": f"{amount:.2f}", "currency": currency(code), "_amount": amount}


def _total(invoice: Json) -> None:
    code = invoice["currency"]["code"]
    subtotal = sum((line["subtotal"]["_amount"] for line in invoice["items"]), Decimal(0))
    tax = sum((t["amount"]["_amount"] for line in invoice["items"] for t in line["taxes"]),
              Decimal(0))
    paid = invoice.get("amountPaid", {}).get("_amount", Decimal(0))
    invoice.update(subtotal=money(subtotal, code), taxTotal=money(tax, code),
                   total=money(subtotal + tax, code), amountPaid=money(paid, code),
                   amountDue=money(subtotal + tax - paid, code))


def _address(data: Mapping[str, Any] | None) -> Json | None:
    if data is None:
        return None
    province = data.get("provinceCode")
    country = data.get("countryCode")
    return {"addressLine1": data.get("addressLine1"), "addressLine2": data.get("addressLine2"),
            "city": data.get("city"), "postalCode": data.get("postalCode"),
            "province": {"code": province, "name": province} if province else None,
            "country": {"code": country, "name": country} if country else None}


def _encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
