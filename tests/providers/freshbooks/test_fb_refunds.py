"""FreshBooks refuses a credit note's refunds, with the reason, before anything is sent: its
public API has no refund of a credit note. Without refunds the same note lands."""

from __future__ import annotations

from engine import CreditNote, Entity, RemoteRef
from providers.freshbooks import FreshBooksProvider
from tests.providers._refunds import REFUNDED, refused_before_sending

from .conftest import Ledger, Recorder


async def test_refunds_are_refused_naming_them_and_the_note_lands_without(
        provider: FreshBooksProvider, ledger: Ledger, recorder: Recorder) -> None:
    await ledger.basics(provider)

    async def push(record: CreditNote) -> RemoteRef:
        return await provider.push(ledger.request(Entity.CREDIT_NOTE, record))

    await refused_before_sending(push, recorder, "FreshBooks",
                                 "no refund of a credit note")
    ref = await push(REFUNDED.model_copy(update={"refunds": []}))
    assert await provider.fetch(Entity.CREDIT_NOTE, ref.remote_id) is not None
