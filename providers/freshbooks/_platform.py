"""FreshBooks as the engine sees it: what it can do, its limits, and how to connect."""

from __future__ import annotations

from engine import Capabilities, Entity, Limits, Operation
from providers._platform import ProviderPlatform

from ._auth import FreshBooksOAuth
from ._client import FreshBooksProvider

_EDIT = frozenset({Operation.CREATE, Operation.UPDATE})

PER_MINUTE = 600
"""FreshBooks publishes no limit (PLATFORMS.md §4.5, UNCERTAIN); 10 a second is a polite
pace its SDKs' retry-on-429 tolerates, and the sandbox enforces the same by default."""
CONCURRENCY = 5

CAPABILITIES = Capabilities(
    operations={
        Entity.CUSTOMER: _EDIT,
        Entity.ITEM: _EDIT,
        # Voiding is FreshBooks' soft delete (DELETE → vis_state 1).
        Entity.INVOICE: _EDIT | {Operation.VOID},
        # One local payment may be several FreshBooks payments: created and deleted whole.
        Entity.PAYMENT: frozenset({Operation.CREATE, Operation.VOID}),
        # Applied at creation; changing an applied credit note means void and re-issue.
        Entity.CREDIT_NOTE: frozenset({Operation.CREATE, Operation.VOID}),
    },
    limits=Limits(per_minute=PER_MINUTE, concurrency=CONCURRENCY),
    idempotency_keys=False,
)

FreshBooksPlatform = ProviderPlatform[FreshBooksOAuth, FreshBooksProvider]
"""Implements `engine.Platform` for FreshBooks."""

PLATFORM = FreshBooksPlatform(name="freshbooks", title="FreshBooks", capabilities=CAPABILITIES,
                              make_oauth=FreshBooksOAuth, make_provider=FreshBooksProvider)
