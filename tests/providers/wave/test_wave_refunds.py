"""Wave refuses a credit note's refunds, with the reason, before anything is sent: its public
API has no credit notes and so no refunds of one."""

from __future__ import annotations

from wave_support import Ledger

from engine import CreditNote, Entity, RemoteRef
from providers.wave import WaveProvider
from tests.providers._refunds import refused_before_sending
from tests.providers._support import Recording


async def test_refunds_are_refused_naming_them(provider: WaveProvider, ledger: Ledger,
                                               recording: Recording) -> None:
    async def push(record: CreditNote) -> RemoteRef:
        return await provider.push(ledger.request(Entity.CREDIT_NOTE, record))

    await refused_before_sending(push, recording, "Wave", "no credit notes, so none of their "
                                                          "refunds")
