"""The package's public surface, pinned."""

from __future__ import annotations

import providers.quickbooks as quickbooks
from engine import Entity, Operation, Platform


def test_exported_members() -> None:
    assert sorted(quickbooks.__all__) == [
        "CAPABILITIES", "PLATFORM", "QuickBooksOAuth", "QuickBooksPlatform",
        "QuickBooksProvider", "create_sandbox_app",
    ]


def test_platform_and_capabilities() -> None:
    platform: Platform = quickbooks.PLATFORM
    assert (platform.name, platform.title) == ("quickbooks", "QuickBooks Online")
    caps = platform.capabilities
    assert caps.idempotency_keys
    assert caps.limits.batch_size == 30 and caps.limits.per_minute == 500
    assert caps.supports(Entity.INVOICE, Operation.VOID)
    assert caps.supports(Entity.PAYMENT, Operation.VOID)
    assert not caps.supports(Entity.CUSTOMER, Operation.VOID)
    assert not caps.supports(Entity.CREDIT_NOTE, Operation.VOID)
    assert caps.entities == frozenset(Entity)
