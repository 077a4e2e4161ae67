"""Model validation: every rule is a message a user may read, naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from engine import Customer, Invoice, Item, Payment
from engine._models import CreditNote

LINE = {"item_id": "TILE", "quantity": "2", "unit_price": "12.50"}


def invoice(**changes: object) -> Invoice:
    data: dict[str, object] = {"id": "INV-1", "number": "INV-1", "customer_id": "C-1",
                               "issue_date": "2026-09-01", "lines": [LINE], **changes}
    return Invoice.model_validate(data)


def test_invoice_total_is_exact_decimal() -> None:
    lines = [{"description": "a", "quantity": "3", "unit_price": "0.10"},
             {"description": "b", "quantity": "1", "unit_price": "0.20"}]
    assert invoice(lines=lines).total == Decimal("0.50")


@pytest.mark.parametrize(("changes", "message"), [
    ({"lines": []}, "at least one line"),
    ({"currency": "XYZ"}, "unknown currency 'XYZ'"),
    ({"issue_date": "2026-02-30"}, "issue_date"),
    ({"due_date": "2026-08-01"}, "before issue_date"),
    ({"lines": [{**LINE, "quantity": "0"}]}, "greater than zero"),
    ({"lines": [{**LINE, "unit_price": "-1"}]}, "must not be negative"),
    ({"lines": [{**LINE, "unit_price": "1.00001"}]}, "more than 4 decimal places"),
    ({"lines": [{"quantity": "1", "unit_price": "1"}]}, "item_id or a description"),
    ({"lines": [{**LINE, "unit_price": "NaN"}]}, "finite"),
    ({"id": "bad id with spaces"}, "letters, digits"),
])
def test_invoice_rejections_name_the_problem(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        invoice(**changes)


def test_floats_never_leak_binary_error() -> None:
    item = Item(id="X", sku="X", name="X", unit_price=0.1)  # type: ignore[arg-type]
    assert item.unit_price == Decimal("0.1")


@pytest.mark.parametrize(("amount", "currency", "ok"), [
    ("10.00", "USD", True), ("10.001", "USD", False), ("10", "JPY", True),
    ("10.5", "JPY", False), ("1.234", "KWD", True), ("0", "USD", False), ("-5", "USD", False),
])
def test_payment_amount_respects_minor_units(amount: str, currency: str, ok: bool) -> None:
    data = {"id": "P-1", "customer_id": "C-1", "date": "2026-09-02", "amount": amount,
            "currency": currency}
    if ok:
        assert Payment.model_validate(data).amount == Decimal(amount)
    else:
        with pytest.raises(ValidationError):
            Payment.model_validate(data)


def test_overpayment_is_allowed_but_over_allocation_is_not() -> None:
    base = {"id": "P-1", "customer_id": "C-1", "date": "2026-09-02", "amount": "100.00"}
    paid = Payment.model_validate({**base, "allocations": [{"invoice_id": "I", "amount": "60"}]})
    assert paid.unapplied == Decimal("40.00")
    with pytest.raises(ValidationError, match="more than the payment"):
        Payment.model_validate({**base, "allocations": [{"invoice_id": "I", "amount": "160"}]})


def test_customer_name_rules() -> None:
    with pytest.raises(ValidationError, match="must not contain ':'"):
        Customer(id="C-1", display_name="Acme: Builders")
    with pytest.raises(ValidationError, match="not an email"):
        Customer(id="C-1", display_name="Acme", email="nope")


def test_credit_note_allocations_within_total() -> None:
    data = {"id": "CN-1", "number": "CN-1", "customer_id": "C-1", "date": "2026-09-03",
            "lines": [{"description": "refund", "unit_price": "10"}]}
    with pytest.raises(ValidationError, match="more than the credit note"):
        CreditNote.model_validate({**data, "allocations": [{"invoice_id": "I", "amount": "11"}]})
