"""Wave as the engine sees it: what its public API can do, its limits, how to connect."""

from __future__ import annotations

from engine import Capabilities, Entity, Limits, Operation
from providers._platform import ProviderPlatform

from ._auth import WaveOAuth
from ._client import WaveProvider
from ._mapping import UNSUPPORTED

PER_MINUTE = 60
"""Wave publishes no limits; ~60 requests a minute per token is the one figure reported
(Apideck, PLATFORMS.md §3.5, UNCERTAIN)."""

CAPABILITIES = Capabilities(
    operations={
        # customerDelete and productArchive exist, but a record is never voided on Wave.
        Entity.CUSTOMER: frozenset({Operation.CREATE, Operation.UPDATE}),
        Entity.ITEM: frozenset({Operation.CREATE, Operation.UPDATE}),
        # Void and delete are both invoiceDelete: Wave's public API has no void. Refused
        # while the invoice has payments recorded in Wave.
        Entity.INVOICE: frozenset(Operation),
    },
    limits=Limits(per_minute=PER_MINUTE, concurrency=2),
    idempotency_keys=False,
    unsupported=UNSUPPORTED,
)

WavePlatform = ProviderPlatform[WaveOAuth, WaveProvider]
"""Implements `engine.Platform` for Wave."""

PLATFORM = WavePlatform(name="wave", title="Wave", capabilities=CAPABILITIES,
                        make_oauth=WaveOAuth, make_provider=WaveProvider)
