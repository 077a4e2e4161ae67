"""Money: `Decimal` amounts in ISO 4217 currencies, exact to the currency's minor unit.

Amounts are stored as integers of minor units (cents), so that sums in SQL are exact.
Every number the ledger takes (amounts, unit prices, quantities) is at most `MAX_NUMBER`.
"""

from __future__ import annotations

import re
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


MAX_NUMBER = Decimal(10) ** 12
"""The largest amount, unit price, quantity or line amount the ledger takes: one trillion.

Amounts are stored as SQLite INTEGER minor units, which stop at 2**63 - 1 (about 9.2e18),
and summed in SQL (an invoice's allocations). At three decimals (KWD) a trillion is 1e15
minor units, so more than 9,000 of the largest amounts still add up without overflow; at two
decimals, more than 92,000. It also keeps every product and rounding inside `Decimal`'s 28
digits. No small business books a trillion on one document: 1e12 VND is about US$40 million.
"""

_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
"""A number as files and APIs write it: no thousands separators, underscores or non-ASCII
digits (which `Decimal` would otherwise read as 1000 or as Arabic-Indic numerals)."""


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def check_currency(code: str) -> str:
    code = code.strip().upper()
    if code not in MINOR_UNITS:
        raise MoneyError(f"unknown currency {code!r}: expected an ISO 4217 code such as USD or EUR")
    return code


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS[check_currency(currency)])


def parse_decimal(value: object) -> Decimal:
    """A ledger number from text, an int or a Decimal, exactly, without going through float.

    Non-finite and out-of-range values are refused (`MAX_NUMBER`). An exponent form such as
    1E+3 becomes 1000 and -0 becomes 0, so platforms are sent plain numbers.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise MoneyError(f"must be a number, got {value!r}")
    if isinstance(value, Decimal):
        parsed = value
    elif isinstance(value, int):
        parsed = Decimal(value)  # str() of a huge int would hit Python's 4300-digit limit
    else:
        text = repr(value) if isinstance(value, float) else value.strip()
        if not _NUMBER_TEXT.fullmatch(text):
            if text.lstrip("+-").lower() in ("inf", "infinity", "nan", "snan"):
                raise MoneyError(f"must be a finite number, got {value!r}")
            raise MoneyError(f"must be a number, got {value!r}")
        try:
            parsed = Decimal(text)
        except InvalidOperation:  # an exponent beyond what Decimal can hold
            raise MoneyError(f"{_shown(value)} is out of range (at most {MAX_NUMBER:f})") from None
    if not parsed.is_finite():
        raise MoneyError(f"must be a finite number, got {value!r}")
    check_range(parsed, _shown(value))
    if parsed.is_zero():
        return parsed.copy_abs()
    exponent = parsed.as_tuple().exponent
    return parsed.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else parsed


def check_range(value: Decimal, shown: str | None = None) -> Decimal:
    """Refuse a number beyond `MAX_NUMBER` either way, naming it as given (`shown`)."""
    if value.copy_abs() > MAX_NUMBER:  # abs() would round, and overflow past Emax
        raise MoneyError(f"{shown or value} is out of range (at most {MAX_NUMBER:f})")
    return value


def _shown(value: object) -> str:
    # Decimal's str has no digit limit, unlike int's (4300 digits).
    text = value.strip() if isinstance(value, str) else str(Decimal(value)) \
        if isinstance(value, int) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


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
