"""Model validation: every rule is a message a user may read, naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


# --- numbers: every one range-checked at the model, never a crash further in ---------------

INT64 = 2**63 - 1


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"lines": [{**LINE, "unit_price": "1e40"}]}, ("lines", 0, "unit_price"),
     "1e40 is out of range (at most 1000000000000)"),
    ({"lines": [{**LINE, "quantity": Decimal("1E+13")}]}, ("lines", 0, "quantity"),
     "out of range"),
    ({"lines": [{**LINE, "quantity": 10**5000}]}, ("lines", 0, "quantity"), "out of range"),
    ({"lines": [{**LINE, "quantity": "1e999999999999999999999999"}]}, ("lines", 0, "quantity"),
     "out of range"),
    ({"lines": [{**LINE, "quantity": "1000000", "unit_price": "10000000"}]}, ("lines", 0),
     "quantity × unit price (1000000 × 10000000) is out of range"),
    ({"lines": [{**LINE, "quantity": "1", "unit_price": "999999999999"}] * 2}, (),
     "the lines' total 1999999999998.00 is out of range"),
    ({"lines": [{**LINE, "unit_price": "-Infinity"}]}, ("lines", 0, "unit_price"), "finite"),
    ({"lines": [{**LINE, "unit_price": Decimal("sNaN")}]}, ("lines", 0, "unit_price"), "finite"),
    ({"lines": [{**LINE, "quantity": "1_000"}]}, ("lines", 0, "quantity"), "must be a number"),
    ({"lines": [{**LINE, "quantity": "١٢"}]}, ("lines", 0, "quantity"), "must be a number"),
    ({"lines": [{**LINE, "quantity": "-0"}]}, ("lines", 0, "quantity"), "greater than zero"),
])
def test_out_of_range_numbers_name_their_field(changes: dict[str, object],
                                                field: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        invoice(**changes)
    errors = caught.value.errors(include_url=False)
    assert [tuple(e["loc"]) for e in errors] == [field], errors
    assert message in errors[0]["msg"]


def test_largest_numbers_are_accepted_and_fit_the_store() -> None:
    from engine._money import MAX_NUMBER, to_minor

    big = invoice(lines=[{**LINE, "quantity": "1", "unit_price": str(MAX_NUMBER)}],
                  currency="KWD")
    assert big.total == MAX_NUMBER
    assert to_minor(big.total, "KWD") * 9_000 < INT64  # room for sums in SQL
    payment = Payment.model_validate({"id": "P-1", "customer_id": "C-1", "date": "2026-09-02",
                                      "amount": "1e12", "currency": "KWD"})
    assert str(payment.amount) == "1000000000000"  # plain digits, no exponent


@pytest.mark.parametrize(("given", "stored"), [
    ("-0", "0"), ("-0.00", "0.00"), ("1E+3", "1000"), ("2.5e1", "25"), ("12.50", "12.50"),
])
def test_exponents_and_negative_zero_become_plain_numbers(given: str, stored: str) -> None:
    item = Item(id="X", sku="X", name="X", unit_price=given)  # type: ignore[arg-type]
    assert str(item.unit_price) == stored


number_texts = (
    st.sampled_from(["NaN", "-nan", "sNaN", "Infinity", "-inf", "+Infinity", "-0", "0e-999",
                     "1e12", "1e12.5", "1e13", "-1e13", "1e40", "1E+999999999",
                     "1e-999999999", "9" * 60, "0." + "0" * 50 + "1", "1e99999999999999999999"])
    | st.builds(lambda m, e: f"{m}e{e}", st.integers(-10**6, 10**6), st.integers(-40, 40))
    | st.decimals(allow_nan=True, allow_infinity=True).map(str)
    | st.integers(-(10**30), 10**30).map(str)
)
numbers = number_texts | st.decimals(allow_nan=True, allow_infinity=True) | st.integers()


@settings(max_examples=300, deadline=None)
@given(quantity=numbers, price=numbers, amount=numbers,
       currency=st.sampled_from(["USD", "JPY", "KWD"]))
def test_any_number_is_accepted_within_range_or_refused_by_name(
        quantity: object, price: object, amount: object, currency: str) -> None:
    """Whatever the numbers, a record is valid and storable, or a ValidationError — nothing else."""
    from engine._money import MAX_NUMBER, to_minor

    data = {"id": "CN-1", "number": "CN-1", "customer_id": "C-1", "date": "2026-09-03",
            "currency": currency, "lines": [{"description": "a", "quantity": quantity,
                                             "unit_price": price}],
            "allocations": [{"invoice_id": "I", "amount": amount}]}
    try:
        note = CreditNote.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            assert error["loc"] or error["type"] == "value_error"
        return
    line = note.lines[0]
    for value in (line.quantity, line.unit_price, note.total, note.allocated):
        assert value.is_finite() and abs(value) <= MAX_NUMBER
        assert "E" not in str(value) or value.adjusted() < 0
    assert abs(to_minor(note.total, currency)) < INT64 // 9_000
