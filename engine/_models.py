"""The business's own records, as they arrive from its app (the ledger).

These are the boundary models: every file import, API call and demo record passes through
them, so each rule here is a message a user may read. Money is `Decimal`, dates are dates.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ._money import (
    PRICE_PLACES,
    check_amount,
    check_currency,
    check_range,
    parse_decimal,
    round_money,
)


class Entity(StrEnum):
    """What kind of record a sync job pushes, in dependency order."""

    CUSTOMER = "customer"
    ITEM = "item"
    INVOICE = "invoice"
    PAYMENT = "payment"
    CREDIT_NOTE = "credit_note"

    @property
    def stage(self) -> int:
        """Jobs of a lower stage go first: an invoice needs its customer and items."""
        return _STAGES[self]

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


_STAGES = {
    Entity.CUSTOMER: 0,
    Entity.ITEM: 0,
    Entity.INVOICE: 1,
    Entity.PAYMENT: 2,
    Entity.CREDIT_NOTE: 2,
}


class Classification(StrEnum):
    HOMEOWNER = "homeowner"
    BUSINESS = "business"
    BUILDER = "builder"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    VOID = "void"


class EntryStatus(StrEnum):
    """A payment's or credit note's life: a void or deleted one applies to no invoice."""

    ACTIVE = "active"
    VOID = "void"
    DELETED = "deleted"


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}$")


Number = Annotated[Decimal, BeforeValidator(parse_decimal)]
"""Every number of the ledger: exact, finite and within `MAX_NUMBER` before any rule sees it."""


def _check_price(value: Decimal, what: str) -> Decimal:
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    if value != round(value, PRICE_PLACES):
        raise ValueError(f"{what} {value} has more than {PRICE_PLACES} decimal places")
    return value


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    id: str = Field(description="The record's id in the business's own app; upserts key on it.")

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _RECORD_ID.match(value):
            raise ValueError(
                "must be 1-64 letters, digits or . _ : / # - and start with a letter or digit"
            )
        return value


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


class Customer(_Record):
    display_name: str = Field(min_length=1, max_length=100)
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    billing_address: Address | None = None
    classification: Classification = Classification.HOMEOWNER
    parent_id: str | None = Field(
        default=None, description="The customer this one is a sub-customer (job) of.")

    @field_validator("display_name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        # QuickBooks rejects ':' tabs and newlines in names; catching it here names the record.
        if any(ch in value for ch in ":\t\n\r"):
            raise ValueError("must not contain ':', tabs or line breaks")
        return value

    @model_validator(mode="after")
    def _not_its_own_parent(self) -> Customer:
        if self.parent_id == self.id:
            raise ValueError("parent_id: a customer cannot be its own parent")
        return self

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value


class Item(_Record):
    sku: str = Field(min_length=1, max_length=30)
    name: str = Field(min_length=1, max_length=100)
    unit_price: Number = Decimal(0)
    income_account: str | None = Field(
        default=None, description="Default income account code, used where no platform mapping."
    )
    income_accounts: dict[str, str] = Field(
        default_factory=dict, description="Income account code per platform name."
    )
    taxable: bool = False

    @field_validator("unit_price")
    @classmethod
    def _price(cls, value: Decimal) -> Decimal:
        return _check_price(value, "unit price")

    def income_account_for(self, platform: str) -> str | None:
        return self.income_accounts.get(platform) or self.income_account


class Line(BaseModel):
    """One line of an invoice or credit note."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True,
                              populate_by_name=True)

    item_id: str | None = None
    description: str = ""
    quantity: Number = Decimal(1)
    unit_price: Number
    tax_code: str | None = None
    """The business's own tax code; each connection maps it to a platform tax code."""
    tax_amount: Number = Decimal(0)
    """The tax the business's app charged on this line, in the document's currency. The
    platform computes its own from the mapped code; the two must agree to the cent."""
    location: str | None = None
    class_: str | None = Field(default=None, alias="class")

    @field_validator("quantity")
    @classmethod
    def _quantity(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError(f"must be greater than zero, got {value}")
        return value

    @field_validator("unit_price")
    @classmethod
    def _price(cls, value: Decimal) -> Decimal:
        return _check_price(value, "unit price")

    @field_validator("tax_amount")
    @classmethod
    def _tax(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value

    @model_validator(mode="after")
    def _says_what(self) -> Line:
        if not self.item_id and not self.description:
            raise ValueError("a line needs an item_id or a description")
        if self.tax_amount and not self.tax_code:
            raise ValueError(f"tax_amount {self.tax_amount} needs the tax_code it was charged at")
        check_range(self.quantity * self.unit_price,
                    f"quantity × unit price ({self.quantity} × {self.unit_price})")
        return self

    def amount(self, currency: str) -> Decimal:
        return round_money(self.quantity * self.unit_price, currency)


class _Document(_Record):
    number: str = Field(min_length=1, max_length=21)
    customer_id: str
    currency: str = "USD"
    lines: list[Line]
    tax_inclusive: bool = False
    """True when each line's quantity × unit price already includes its tax."""

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("lines")
    @classmethod
    def _has_lines(cls, value: list[Line]) -> list[Line]:
        if not value:
            raise ValueError("must have at least one line")
        return value

    @model_validator(mode="after")
    def _total_in_range(self) -> _Document:
        for number, line in enumerate(self.lines, 1):
            check_amount(line.tax_amount, self.currency, f"line {number} tax_amount")
        check_range(self.total, f"the lines' total {self.total}")
        return self

    @property
    def tax_total(self) -> Decimal:
        return sum((line.tax_amount for line in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        """What the customer owes: the lines, plus their tax unless it is already in them."""
        lines = sum((line.amount(self.currency) for line in self.lines), Decimal(0))
        return lines if self.tax_inclusive else lines + self.tax_total


class Invoice(_Document):
    issue_date: date
    due_date: date | None = None
    status: InvoiceStatus = InvoiceStatus.DRAFT

    @model_validator(mode="after")
    def _due_after_issue(self) -> Invoice:
        if self.due_date is not None and self.due_date < self.issue_date:
            raise ValueError(
                f"due_date {self.due_date} is before issue_date {self.issue_date}"
            )
        return self


class Allocation(BaseModel):
    """Part of a payment or credit note applied to one invoice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    invoice_id: str
    amount: Number

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError(f"must be greater than zero, got {value}")
        return value


class _Allocating(_Record):
    currency: str = "USD"
    allocations: list[Allocation] = Field(default_factory=list)
    status: EntryStatus = EntryStatus.ACTIVE
    """Void and deleted entries keep their allocations as history; they pay nothing."""

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @model_validator(mode="after")
    def _allocations_exact(self) -> _Allocating:
        for allocation in self.allocations:
            check_amount(allocation.amount, self.currency, "allocation amount")
        invoices = [a.invoice_id for a in self.allocations]
        if len(set(invoices)) != len(invoices):
            raise ValueError("allocates to the same invoice twice; merge those allocations")
        return self

    @property
    def allocated(self) -> Decimal:
        return sum((a.amount for a in self.allocations), Decimal(0))

    @property
    def live(self) -> bool:
        return self.status is EntryStatus.ACTIVE


class Payment(_Allocating):
    customer_id: str
    date: date
    amount: Number
    method: str = "other"
    reference: str | None = None

    @model_validator(mode="after")
    def _covers_allocations(self) -> Payment:
        check_amount(self.amount, self.currency, "amount")
        if self.amount <= 0:
            raise ValueError("amount must be greater than zero")
        # An overpayment (amount > allocations) is allowed; the rest stays unapplied credit.
        if self.allocated > self.amount:
            raise ValueError(
                f"allocations add up to {self.allocated}, more than the payment's {self.amount}"
            )
        return self

    @property
    def unapplied(self) -> Decimal:
        return self.amount - self.allocated


class Refund(BaseModel):
    """Money paid back to the customer out of a credit note's unapplied credit.

    A refund is known by its place in the credit note's `refunds` (the first is 1): each
    platform copy carries that position in its mark, so refunds are only ever appended.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    amount: Number
    date: date
    method: str = "other"
    reference: str | None = None

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError(f"must be greater than zero, got {value}")
        return value


class CreditNote(_Document, _Allocating):
    date: date
    refunds: list[Refund] = Field(default_factory=list)
    """Void and deleted credit notes keep their refunds as history; they refund nothing."""

    @model_validator(mode="after")
    def _allocations_within_total(self) -> CreditNote:
        for refund in self.refunds:
            check_amount(refund.amount, self.currency, "refund amount")
        if self.allocated > self.total:
            raise ValueError(
                f"allocations add up to {self.allocated}, more than the credit note's {self.total}"
            )
        if self.allocated + self.refunded > self.total:
            raise ValueError(
                f"allocations ({self.allocated}) and refunds ({self.refunded}) add up to "
                f"{self.allocated + self.refunded}, more than the credit note's {self.total}"
            )
        return self

    @property
    def refunded(self) -> Decimal:
        return sum((r.amount for r in self.refunds), Decimal(0))

    @property
    def live_refunds(self) -> list[Refund]:
        """The refunds a platform must hold: none once the credit note is void or deleted."""
        return self.refunds if self.live else []


Record = Customer | Item | Invoice | Payment | CreditNote

MODEL_OF: dict[Entity, type[Customer | Item | Invoice | Payment | CreditNote]] = {
    Entity.CUSTOMER: Customer,
    Entity.ITEM: Item,
    Entity.INVOICE: Invoice,
    Entity.PAYMENT: Payment,
    Entity.CREDIT_NOTE: CreditNote,
}
