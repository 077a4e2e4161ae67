"""What the QuickBooks folder registers with the composition root."""

from __future__ import annotations

from engine import Capabilities, Entity, Limits, Operation
from providers._platform import ProviderPlatform

from ._auth import QuickBooksOAuth
from ._client import BATCH_MAX, QuickBooksProvider
from ._webhooks import QuickBooksWebhooks

_EDIT = frozenset({Operation.CREATE, Operation.UPDATE})
_EDIT_AND_RETIRE = _EDIT | {Operation.VOID, Operation.DELETE}

CAPABILITIES = Capabilities(
    sub_customers=True,
    operations={
        # Name-list objects cannot be deleted or voided on QBO, only made inactive.
        Entity.CUSTOMER: _EDIT,
        Entity.ITEM: _EDIT,
        # A draft invoice is deleted, a sent one voided; either is refused while payments
        # are applied (`QuickBooksProvider._retire`).
        Entity.INVOICE: _EDIT_AND_RETIRE,
        Entity.PAYMENT: _EDIT_AND_RETIRE,
        # A CreditMemo has no void operation in the v3 API, only delete.
        Entity.CREDIT_NOTE: _EDIT | {Operation.DELETE},
    },
    limits=Limits(per_minute=500, per_second=10, concurrency=10, batch_size=BATCH_MAX,
                  batch_per_minute=40),
    idempotency_keys=True,
    # QBO's /batch takes any entity's create (BatchItemRequest in IntuitRestServiceDef.xsd).
    batched=frozenset(Entity),
)

QuickBooksPlatform = ProviderPlatform[QuickBooksOAuth, QuickBooksProvider]
"""Implements `engine.Platform` for QuickBooks Online."""

PLATFORM = QuickBooksPlatform(name="quickbooks", title="QuickBooks Online",
                              capabilities=CAPABILITIES, make_oauth=QuickBooksOAuth,
                              make_provider=QuickBooksProvider,
                              make_webhooks=QuickBooksWebhooks)
