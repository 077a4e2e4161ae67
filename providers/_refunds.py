"""Refusing a credit note's refunds where a platform's public API cannot record them.

Such a platform takes no part of the credit note: sending the note without its refunds would
leave its credit open there while the ledger has paid it back, books that quietly disagree.
"""

from __future__ import annotations

from engine import CreditNote, Operation, PushRequest, Unsupported


def refuse_refunds(request: PushRequest, platform: str, why: str) -> None:
    """Raise `Unsupported` naming each refund, before anything is sent, when `request`
    writes a live credit note that has refunds (a void or deleted one refunds nothing)."""
    record = request.record
    if request.operation not in (Operation.CREATE, Operation.UPDATE) \
            or not isinstance(record, CreditNote) or not record.live_refunds:
        return
    named = "; ".join(
        f"refund {n}: {r.amount} on {r.date.isoformat()} by {r.method}"
        + (f" ({r.reference})" if r.reference else "")
        for n, r in enumerate(record.live_refunds, 1))
    raise Unsupported(f"credit note {record.number} refunds {record.refunded} ({named}), which "
                      f"{platform} cannot take: {why}")
