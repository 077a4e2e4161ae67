"""The package's public surface and capability table, pinned."""

from __future__ import annotations

import providers.freshbooks as freshbooks
from console._wiring import platforms
from engine import Entity, Operation, Platform


def test_exported_members() -> None:
    assert sorted(freshbooks.__all__) == sorted([
        "CAPABILITIES", "PLATFORM", "FreshBooksOAuth", "FreshBooksPlatform",
        "FreshBooksProvider", "create_sandbox_app",
    ])


def test_platform_is_discovered() -> None:
    assert platforms()["freshbooks"] is freshbooks.PLATFORM


def test_capabilities() -> None:
    platform: Platform = freshbooks.PLATFORM
    assert (platform.name, platform.title) == ("freshbooks", "FreshBooks")
    caps = platform.capabilities
    assert not caps.idempotency_keys
    assert caps.limits.batch_size == 1
    assert caps.entities == frozenset(Entity)
    assert caps.supports(Entity.INVOICE, Operation.VOID)
    assert caps.supports(Entity.PAYMENT, Operation.VOID)
    assert caps.supports(Entity.PAYMENT, Operation.UPDATE)  # delete + record again
    assert caps.supports(Entity.CREDIT_NOTE, Operation.UPDATE)  # while none of it is applied
    assert caps.supports(Entity.INVOICE, Operation.DELETE)
    assert not caps.supports(Entity.CUSTOMER, Operation.VOID)
    assert caps.unsupported == {}
