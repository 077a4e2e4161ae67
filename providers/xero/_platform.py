"""Xero as the engine sees it: what it can do, its limits, and how to connect."""

from __future__ import annotations

from engine import Capabilities, Entity, Limits, Operation
from providers._platform import ProviderPlatform

from ._auth import XeroOAuth
from ._client import BATCH_SIZE, BATCHED, XeroProvider
from ._webhooks import XeroWebhooks

_WRITE = frozenset({Operation.CREATE, Operation.UPDATE})
_DOCUMENT = frozenset(Operation)
"""A draft is deleted and an approved document voided, whichever the ledger asks for."""

CAPABILITIES = Capabilities(
    operations={
        Entity.CUSTOMER: _WRITE,
        Entity.ITEM: _WRITE,
        Entity.INVOICE: _DOCUMENT,
        # A Xero payment cannot be edited, only deleted (spec `deletePayment`): an update is
        # a delete and a create inside one push, and void and delete both delete it.
        Entity.PAYMENT: frozenset(Operation),
        Entity.CREDIT_NOTE: _DOCUMENT,
    },
    # Per tenant: 60/min, 5 concurrent, 5,000/day (developer.xero.com/faq/limits).
    limits=Limits(per_minute=60, concurrency=5, per_day=5000, batch_size=BATCH_SIZE),
    idempotency_keys=True,
    batched=BATCHED,
)

XeroPlatform = ProviderPlatform[XeroOAuth, XeroProvider]
"""Implements `engine.Platform` for Xero."""

PLATFORM = XeroPlatform(name="xero", title="Xero", capabilities=CAPABILITIES,
                        make_oauth=XeroOAuth, make_provider=XeroProvider,
                        make_webhooks=XeroWebhooks)
