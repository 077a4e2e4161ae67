"""Tax arithmetic shared by the platforms whose lines are always tax-exclusive.

FreshBooks and Wave take a line's quantity and unit price *before* tax and compute the tax
themselves from the tax's rate: line amount = quantity × unit price to the cent, tax = that
amount × rate / 100 to the cent (half up; PLATFORMS.md §3.2 and §4.2, and both sandboxes).
Neither has a tax-inclusive flag. A ledger line whose amount already includes its tax can
still land exactly when some exclusive unit price brings the platform's two roundings back to
the ledger's own amount and tax; `exclusive_price` finds it or says why none does, so a
document never lands with a total the ledger does not have.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from engine import Line, Unsupported

CENT = Decimal("0.01")


def platform_tax(net: Decimal, rate: Decimal) -> Decimal:
    """The tax a platform charges on a line amount at `rate` percent."""
    return (net * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def exclusive_price(line: Line, rate: Decimal | None, *, currency: str, places: int,
                    where: str, platform: str) -> Decimal:
    """The unit price before tax that gives back `line`'s amount and tax on the platform.

    `rate` is the platform tax's percentage (None for an untaxed line); `places` how many
    decimals the platform keeps in a unit price; `where` names the line for the message.
    Raises `Unsupported` when no such price exists: sending a rounded one would land a total
    that differs from the ledger's.
    """
    gross = line.amount(currency)
    net = gross - line.tax_amount
    if rate is None:
        return line.unit_price
    price = (net / line.quantity).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    landed = (line.quantity * price).quantize(CENT, rounding=ROUND_HALF_UP)
    tax = platform_tax(landed, rate)
    if landed == net and tax == line.tax_amount:
        # Cents when they suffice, as a person would type the price.
        return price.quantize(CENT) if price == price.quantize(CENT) else price
    raise Unsupported(
        f"{where} is {gross} including {line.tax_amount} tax, but {platform} takes amounts "
        f"before tax and computes {rate}% on them itself: {line.quantity} × {price} = "
        f"{landed} plus {tax} tax comes to {landed + tax}, not {gross} — send this "
        f"document tax-exclusive, or correct its tax_amount to what {rate}% gives",
        code="TAX_INCLUSIVE")
