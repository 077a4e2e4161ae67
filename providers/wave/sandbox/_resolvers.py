"""Resolvers: the root value graphql-core executes queries and mutations against.

graphql-core's default resolver reads a dict key or calls a method of the same name with
the field's arguments, so `WaveRoot` answers the root fields, `BusinessNode` the business's
fields, and the books' dicts everything below them.

Tenancy: every business field checks that the caller's token was granted that business;
one it was not granted is `NOT_FOUND`, as an unknown id is (Wave does not tell a stranger
which businesses exist).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from graphql import GraphQLResolveInfo

from providers._sandbox import TokenAuthority

from ._state import Books, Json, Missing, Outcome

Info = GraphQLResolveInfo["RequestContext"]


@dataclass(frozen=True)
class RequestContext:
    """What one request's resolvers may see: its bearer token."""

    authorization: str


class BusinessNode:
    """The `Business` type over one set of books."""

    def __init__(self, books: Books) -> None:
        self.books = books
        self.id = books.id
        self.name = books.name
        self.isPersonal = False
        self.isArchived = False
        self.isClassicAccounting = books.is_classic_accounting
        self.isClassicInvoicing = books.is_classic_invoicing
        self.currency = books.currency
        self.createdAt = self.modifiedAt = books.clock.now()

    def customer(self, info: Info, id: str) -> Json:
        return self.books.get("customers", "Customer", id)

    def customers(self, info: Info, page: int, pageSize: int, sort: list[str],
                  email: str | None = None, modifiedAtAfter: datetime | None = None,
                  modifiedAtBefore: datetime | None = None) -> Json:
        chosen = [c for c in self.books.customers.values()
                  if (email is None or (c.get("email") or "").lower() == email.lower())
                  and _modified(c, modifiedAtAfter, modifiedAtBefore)]
        return connection(_sorted(chosen, sort), page, pageSize)

    def product(self, info: Info, id: str) -> Json:
        return self.books.get("products", "Product", id)

    def products(self, info: Info, page: int, pageSize: int, sort: list[str],
                 isSold: bool | None = None, isBought: bool | None = None,
                 isArchived: bool | None = None, modifiedAtAfter: datetime | None = None,
                 modifiedAtBefore: datetime | None = None) -> Json:
        wanted = {"isSold": isSold, "isBought": isBought, "isArchived": isArchived}
        chosen = [p for p in self.books.products.values()
                  if all(v is None or p[k] == v for k, v in wanted.items())
                  and _modified(p, modifiedAtAfter, modifiedAtBefore)]
        return connection(_sorted(chosen, sort), page, pageSize)

    def invoice(self, info: Info, id: str) -> Json:
        return self.books.get("invoices", "Invoice", id)

    def invoices(self, info: Info, page: int, pageSize: int, sort: list[str],
                 status: str | None = None, customerId: str | None = None,
                 currency: str | None = None, invoiceDateStart: date | None = None,
                 invoiceDateEnd: date | None = None, invoiceNumber: str | None = None,
                 modifiedAtAfter: datetime | None = None,
                 modifiedAtBefore: datetime | None = None) -> Json:
        def wanted(invoice: Json) -> bool:
            return ((status is None or invoice["status"] == status)
                    and (customerId is None or invoice["customer"]["id"] == customerId)
                    and (currency is None or invoice["currency"]["code"] == currency)
                    and (invoiceDateStart is None or invoice["invoiceDate"] >= invoiceDateStart)
                    and (invoiceDateEnd is None or invoice["invoiceDate"] <= invoiceDateEnd)
                    and (invoiceNumber is None or invoice["invoiceNumber"] == invoiceNumber)
                    and _modified(invoice, modifiedAtAfter, modifiedAtBefore))

        chosen = [i for i in self.books.invoices.values() if wanted(i)]
        return connection(_sorted(chosen, sort), page, pageSize)

    def account(self, info: Info, id: str) -> Json:
        return self.books.get("accounts", "Account", id)

    def accounts(self, info: Info, page: int, pageSize: int,
                 types: list[str] | None = None, subtypes: list[str] | None = None,
                 isArchived: bool | None = None) -> Json:
        chosen = [a for a in self.books.accounts.values()
                  if (types is None or a["type"]["value"] in types)
                  and (subtypes is None or a["subtype"]["value"] in subtypes)
                  and (isArchived is None or a["isArchived"] == isArchived)]
        return connection(chosen, page, pageSize)

    def salesTax(self, info: Info, id: str) -> Json:
        return self.books.get("sales_taxes", "Sales tax", id)

    def salesTaxes(self, info: Info, page: int, pageSize: int,
                   isArchived: bool | None = None) -> Json:
        chosen = [t for t in self.books.sales_taxes.values()
                  if isArchived is None or t["isArchived"] == isArchived]
        return connection(chosen, page, pageSize)


class WaveRoot:
    """Query and Mutation root fields."""

    def __init__(self, books: Books, authority: TokenAuthority) -> None:
        self.books = books
        self.authority = authority

    # -- queries -----------------------------------------------------------------------------

    def user(self, info: Info) -> Json:
        return {"id": "VXNlcjox", "firstName": "Dana", "lastName": "Whitfield",
                "defaultEmail": "dana@example.com"}

    def businesses(self, info: Info, page: int, pageSize: int) -> Json:
        granted = [self._node()] if self._granted(info, self.books.id) else []
        return connection(granted, page, pageSize)

    def business(self, info: Info, id: str | None = None) -> BusinessNode:
        # Without an id Wave answers with the token's default business.
        return self._business(info, id or self.books.id)

    # -- mutations ---------------------------------------------------------------------------

    def customerCreate(self, info: Info, input: Json) -> Json:
        books = self._business(info, input["businessId"]).books
        return _output("customer", books.create_customer(input))

    def customerPatch(self, info: Info, input: Json) -> Json:
        return _output("customer", self._books(info).patch_customer(input))

    def customerDelete(self, info: Info, input: Json) -> Json:
        books = self._books(info)
        books.get("customers", "Customer", input["id"])
        del books.customers[input["id"]]
        return _output(None, Outcome())

    def productCreate(self, info: Info, input: Json) -> Json:
        books = self._business(info, input["businessId"]).books
        return _output("product", books.create_product(input))

    def productPatch(self, info: Info, input: Json) -> Json:
        return _output("product", self._books(info).patch_product(input))

    def productArchive(self, info: Info, input: Json) -> Json:
        return _output("product",
                       self._books(info).archive_product(input["id"]))

    def invoiceCreate(self, info: Info, input: Json) -> Json:
        books = self._business(info, input["businessId"]).books
        return _output("invoice", books.create_invoice(input))

    def invoicePatch(self, info: Info, input: Json) -> Json:
        return _output("invoice", self._books(info).patch_invoice(input))

    def invoiceDelete(self, info: Info, input: Json) -> Json:
        return _output(None, self._books(info)
                       .delete_invoice(input["invoiceId"]))

    def invoiceApprove(self, info: Info, input: Json) -> Json:
        return _output("invoice", self._books(info)
                       .approve_invoice(input["invoiceId"]))

    def invoiceMarkSent(self, info: Info, input: Json) -> Json:
        books = self._books(info)
        return _output("invoice", books.mark_sent(input["invoiceId"], input["sendMethod"],
                                                  input.get("sentAt")))

    def moneyTransactionCreate(self, info: Info, input: Json) -> Json:
        books = self._business(info, input["businessId"]).books
        return _output("transaction", books.create_money_transaction(input))

    # -- tenancy -----------------------------------------------------------------------------

    def _node(self) -> BusinessNode:
        return BusinessNode(self.books)

    def _granted(self, info: Info, business_id: str) -> bool:
        context: RequestContext = info.context
        return self.authority.check(context.authorization, business_id) is None

    def _business(self, info: Info, business_id: str) -> BusinessNode:
        if business_id != self.books.id or not self._granted(info, business_id):
            raise Missing("Business", business_id)
        return self._node()

    def _books(self, info: Info) -> Books:
        """The books an object id belongs to (the sandbox keeps one business)."""
        return self._business(info, self.books.id).books


def connection(nodes: list[Any], page: int, page_size: int) -> Json:
    size = max(page_size, 1)
    start = (max(page, 1) - 1) * size
    return {"pageInfo": {"currentPage": page, "totalPages": math.ceil(len(nodes) / size),
                         "totalCount": len(nodes)},
            "edges": [{"node": node} for node in nodes[start:start + size]]}


def _output(name: str | None, outcome: Outcome) -> Json:
    result: Json = {"didSucceed": not outcome.errors, "inputErrors": outcome.errors}
    if name is not None:
        result[name] = outcome.value if not outcome.errors else None
    return result


_SORT_KEYS: Mapping[str, Callable[[Json], Any]] = {
    "CREATED_AT": lambda o: o["createdAt"],
    "MODIFIED_AT": lambda o: o["modifiedAt"],
    "NAME": lambda o: str(o["name"]).lower(),
    "AMOUNT_DUE": lambda o: o["amountDue"]["_amount"],
    "CUSTOMER_NAME": lambda o: str(o["customer"]["name"]).lower(),
    "DUE_AT": lambda o: o["dueDate"],
    "INVOICE_DATE": lambda o: o["invoiceDate"],
    "INVOICE_NUMBER": lambda o: str(o["invoiceNumber"]),
    "STATUS": lambda o: o["status"],
}


def _sorted(nodes: Iterable[Json], sort: list[str]) -> list[Json]:
    ordered = list(nodes)
    for key in reversed(sort):  # the first sort key is the most significant
        field, _, direction = key.rpartition("_")
        ordered.sort(key=_SORT_KEYS[field], reverse=direction == "DESC")
    return ordered


def _modified(node: Json, after: datetime | None, before: datetime | None) -> bool:
    return (after is None or node["modifiedAt"] > after) and \
        (before is None or node["modifiedAt"] < before)
