"""FreshBooks as the engine sees it: what it can do, its limits, and how to connect."""

from __future__ import annotations

from engine import Capabilities, Entity, Limits, Operation
from providers._platform import ProviderPlatform

from ._auth import FreshBooksOAuth
from ._client import FreshBooksProvider
from ._webhooks import FreshBooksWebhooks

_EDIT = frozenset({Operation.CREATE, Operation.UPDATE})
_ALL = frozenset(Operation)

PER_MINUTE = 600
"""FreshBooks publishes no limit (PLATFORMS.md §4.5, UNCERTAIN); 10 a second is a polite
pace its SDKs' retry-on-429 tolerates, and the sandbox enforces the same by default."""
CONCURRENCY = 5

CAPABILITIES = Capabilities(
    operations={
        # Clients and items are kept with their history: archived in FreshBooks by hand.
        Entity.CUSTOMER: _EDIT,
        Entity.ITEM: _EDIT,
        # Void and delete are both FreshBooks' soft delete (its API has no void); refused
        # while payments are applied.
        Entity.INVOICE: _ALL,
        # One local payment may be several FreshBooks payments: deleted whole, and an edit
        # of its money deletes and records it again.
        Entity.PAYMENT: _ALL,
        # Changed only while none of its credit is applied; deleting it takes the credit back.
        Entity.CREDIT_NOTE: _ALL,
    },
    limits=Limits(per_minute=PER_MINUTE, concurrency=CONCURRENCY),
    idempotency_keys=False,
)

FreshBooksPlatform = ProviderPlatform[FreshBooksOAuth, FreshBooksProvider]
"""Implements `engine.Platform` for FreshBooks."""

PLATFORM = FreshBooksPlatform(name="freshbooks", title="FreshBooks", capabilities=CAPABILITIES,
                              make_oauth=FreshBooksOAuth, make_provider=FreshBooksProvider,
                              make_webhooks=FreshBooksWebhooks)
