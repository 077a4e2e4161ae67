"""What the QuickBooks folder registers with the composition root."""

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

from ._auth import QuickBooksOAuth
from ._client import BATCH_MAX, QuickBooksProvider

_EDIT = frozenset({Operation.CREATE, Operation.UPDATE})
_EDIT_AND_VOID = _EDIT | {Operation.VOID}

CAPABILITIES = Capabilities(
    operations={
        # Name-list objects cannot be deleted or voided on QBO, only made inactive.
        Entity.CUSTOMER: _EDIT,
        Entity.ITEM: _EDIT,
        Entity.INVOICE: _EDIT_AND_VOID,
        Entity.PAYMENT: _EDIT_AND_VOID,
        # A CreditMemo has no void operation in the v3 API (only delete).
        Entity.CREDIT_NOTE: _EDIT,
    },
    limits=Limits(per_minute=500, per_second=10, concurrency=10, batch_size=BATCH_MAX,
                  batch_per_minute=40),
    idempotency_keys=True,
)


@dataclass(frozen=True)
class QuickBooksPlatform:
    """Implements `engine.Platform` for QuickBooks Online."""

    name: str = "quickbooks"
    title: str = "QuickBooks Online"
    capabilities: Capabilities = field(default=CAPABILITIES)

    def oauth(self, settings: ConnectionSettings) -> QuickBooksOAuth:
        return QuickBooksOAuth(settings)

    def provider(self, settings: ConnectionSettings, tokens: TokenSource) -> QuickBooksProvider:
        return QuickBooksProvider(settings, tokens)


PLATFORM = QuickBooksPlatform()
