"""Wave as the engine sees it: what its public API can do, its limits, how to connect."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine import (
    Capabilities,
    ConnectionSettings,
    Entity,
    Limits,
    Operation,
    TokenSource,
)

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
        # Void is invoiceDelete: Wave's public API has no void.
        Entity.INVOICE: frozenset({Operation.CREATE, Operation.UPDATE, Operation.VOID}),
    },
    limits=Limits(per_minute=PER_MINUTE, concurrency=2),
    idempotency_keys=False,
    unsupported=UNSUPPORTED,
)


@dataclass(frozen=True)
class WavePlatform:
    """Implements `engine.Platform` for Wave."""

    name: str = "wave"
    title: str = "Wave"
    capabilities: Capabilities = field(default=CAPABILITIES)

    def oauth(self, settings: ConnectionSettings) -> WaveOAuth:
        return WaveOAuth(settings)

    def provider(self, settings: ConnectionSettings, tokens: TokenSource) -> WaveProvider:
        return WaveProvider(settings, tokens)


PLATFORM = WavePlatform()
