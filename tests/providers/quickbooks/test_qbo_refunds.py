"""QuickBooks refuses a credit note's refunds, with the reason, before anything is sent: a
RefundReceipt cannot be tied to a credit memo. Without refunds the same note lands."""

from __future__ import annotations

from dataclasses import replace

from engine import ConnectionMappings, CreditNote, Entity, RemoteRef
from providers.quickbooks import QuickBooksProvider
from tests.providers._refunds import REFUNDED, refused_before_sending
from tests.providers._support import Ledger

from .conftest import Recorder, customer


async def test_refunds_are_refused_naming_them_and_the_note_lands_without(
        provider: QuickBooksProvider, ledger: Ledger, recorder: Recorder) -> None:
    mappings = ConnectionMappings(default_income_account="79")
    await ledger.push(provider, Entity.CUSTOMER, customer())

    async def push(record: CreditNote) -> RemoteRef:
        request = replace(ledger.request(Entity.CREDIT_NOTE, record), mappings=mappings)
        return await provider.push(request)

    await refused_before_sending(push, recorder, "QuickBooks",
                                 "RefundReceipt .* cannot be tied to a credit memo")
    ref = await push(REFUNDED.model_copy(update={"refunds": []}))
    assert await provider.fetch(Entity.CREDIT_NOTE, ref.remote_id) == ref
