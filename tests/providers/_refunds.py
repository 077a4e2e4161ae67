"""The check every platform without refunds of credit notes shares: refused, each refund
named, with the platform's reason, before any request is sent."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal

import pytest

from engine import CreditNote, Line, Refund, RemoteRef, Unsupported
from tests.providers._support import Recording

DAY = date(2026, 3, 2)
REFUNDED = CreditNote(
    id="cn-refund", number="CN-RF1", customer_id="c1", date=DAY,
    lines=[Line(description="Returned gutter guards", unit_price=Decimal(50))],
    refunds=[Refund(amount=Decimal(20), date=DAY, method="check", reference="chq 7"),
             Refund(amount=Decimal(5), date=DAY)])


async def refused_before_sending(push: Callable[[CreditNote], Awaitable[RemoteRef]],
                                 recording: Recording, platform: str, reason: str) -> None:
    before = len(recording.requests)
    with pytest.raises(Unsupported) as caught:
        await push(REFUNDED)
    assert str(caught.value).startswith(
        "credit note CN-RF1 refunds 25 (refund 1: 20 on 2026-03-02 by check (chq 7); "
        f"refund 2: 5 on 2026-03-02 by other), which {platform} cannot take: ")
    assert re.search(reason, str(caught.value))
    assert len(recording.requests) == before
