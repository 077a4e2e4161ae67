"""Money: `Decimal` amounts in ISO 4217 currencies, exact to the currency's minor unit.

Amounts are stored as integers of minor units (cents), so that sums in SQL are exact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 exponents for the currencies a small business is likely to invoice in.
# Anything not listed is rejected rather than guessed: a wrong exponent corrupts every amount.
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        "AED AUD BRL CAD CHF CNY CZK DKK EUR GBP HKD ILS INR MXN MYR NOK NZD PHP PLN "
        "SAR SEK SGD THB TRY TWD USD ZAR".split(),
        2,
    ),
    **dict.fromkeys("CLP ISK JPY KRW VND".split(), 0),
    **dict.fromkeys("BHD JOD KWD OMR TND".split(), 3),
}

PRICE_PLACES = 4
"""Unit prices may carry up to 4 decimal places (Xero's `unitdp=4`); line amounts are rounded."""


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def check_currency(code: str) -> str:
    code = code.strip().upper()
    if code not in MINOR_UNITS:
        raise MoneyError(f"unknown currency {code!r}: expected an ISO 4217 code such as USD or EUR")
    return code


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS[check_currency(currency)])


def parse_decimal(value: object, what: str = "amount") -> Decimal:
    """Parse an amount from text or a number without going through float."""
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"{what} must be a number, got {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        raise MoneyError(f"{what} must be a number, got {value!r}") from None
    if not parsed.is_finite():
        raise MoneyError(f"{what} must be a finite number, got {value!r}")
    return parsed


def check_amount(amount: Decimal, currency: str, what: str = "amount") -> Decimal:
    """Reject amounts finer than the currency's minor unit (0.001 USD) and negatives."""
    if amount < 0:
        raise MoneyError(f"{what} must not be negative, got {amount}")
    unit = minor_unit(currency)
    if amount != amount.quantize(unit, rounding=ROUND_HALF_UP):
        raise MoneyError(f"{what} {amount} has more decimals than {currency} allows ({unit})")
    return amount.quantize(unit)


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def to_minor(amount: Decimal, currency: str) -> int:
    return int(round_money(amount, currency).scaleb(MINOR_UNITS[currency]))


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-MINOR_UNITS[currency])
