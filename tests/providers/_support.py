"""Test doubles every platform's tests share: a recording transport, tokens got through the
sandbox's real OAuth flow, and a ledger of what a test has pushed.

Each platform's `conftest.py` (and `wave_support` / `xero_support`) keeps only what differs:
its sandbox and settings fixtures, its record builders, its own views of recorded requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine import (
    ConnectionSettings,
    Customer,
    Entity,
    Grant,
    Invoice,
    Item,
    OAuthClient,
    Operation,
    Platform,
    Provider,
    PushRequest,
    Record,
    RemoteRef,
    TokenSet,
)

REDIRECT_URI = "https://syncdesk.example/callback"
SPECS = Path(__file__).resolve().parent.parent / "specs"


def tiling_business(income_accounts: dict[str, str] | None = None,
                    *others: Customer) -> list[Record]:
    """The way-back and audit tests' ledger: customer C-1 (and `others`), item TILE and four
    sent invoices of 200.00 (INV-1..INV-4) for a person to pay on the platform."""
    invoices = [Invoice.model_validate({
        "id": f"INV-{n}", "number": f"INV-{n}", "customer_id": "C-1",
        "issue_date": "2026-09-01", "status": "sent",
        "lines": [{"item_id": "TILE", "quantity": "10", "unit_price": "20.00"}]})
        for n in range(1, 5)]
    return [Customer(id="C-1", display_name="Marlow Tiling", email="ap@marlow.example"),
            *others,
            Item(id="TILE", sku="TILE", name="Tile", unit_price=Decimal("20.00"),
                 income_accounts=income_accounts or {}),
            *invoices]


def spec(relative: str) -> Path:
    """A published spec stored in `tests/specs` (see its SOURCES.md).

    A missing file fails the test that needs it: a check that quietly skipped would let a
    fresh clone pass without validating anything.
    """
    path = SPECS / relative
    if not path.is_file():
        pytest.fail(f"published spec {path} is missing; restore it from tests/specs/SOURCES.md",
                    pytrace=False)
    return path


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox and keeps every one, for assertions on the wire."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


class SandboxTokens:
    """A TokenSource that got its tokens through the sandbox's authorization-code flow."""

    def __init__(self, oauth: OAuthClient, transport: httpx.AsyncBaseTransport,
                 grant: Grant) -> None:
        self.oauth = oauth
        self.transport = transport
        self.grant = grant
        self.tokens: TokenSet = grant.tokens
        self.refreshes = 0

    @property
    def current(self) -> str:
        return self.tokens.access_token

    @property
    def refresh_token(self) -> str | None:
        return self.tokens.refresh_token

    async def access_token(self) -> str:
        return self.tokens.access_token

    async def refreshed(self, rejected: str) -> str:
        if rejected == self.tokens.access_token:
            assert self.tokens.refresh_token is not None
            self.tokens = await self.oauth.refresh(self.tokens.refresh_token)
            self.refreshes += 1
        return self.tokens.access_token


async def connect(platform: Platform,
                  settings: ConnectionSettings) -> tuple[SandboxTokens, Grant]:
    """The real authorization-code flow: consent redirect, then code exchange."""
    oauth = platform.oauth(settings)
    async with httpx.AsyncClient(transport=settings.transport) as client:
        consent = await client.get(oauth.authorization_url(REDIRECT_URI, "state-1"))
    assert consent.status_code == 302
    grant = await oauth.exchange_code(consent.headers["location"], REDIRECT_URI)
    return SandboxTokens(oauth, settings.transport, grant), grant


@dataclass
class Ledger:
    """Remote refs of what a test has pushed, so later pushes can reference them."""

    refs: dict[tuple[Entity, str], RemoteRef] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)

    def request(self, entity: Entity, record: Record, *, operation: Operation = Operation.CREATE,
                key: str | None = None, link: RemoteRef | None = None) -> PushRequest:
        return PushRequest(entity=entity, operation=operation, record=record,
                           idempotency_key=key or f"k-{entity.value}-{record.id}-1",
                           link=link, refs=dict(self.refs), items=dict(self.items))

    async def push(self, provider: Provider, entity: Entity, record: Record,
                   **options: Any) -> RemoteRef:
        ref = await provider.push(self.request(entity, record, **options))
        self.refs[(entity, record.id)] = ref
        if isinstance(record, Item):
            self.items[record.id] = record
        return ref


async def state(control: httpx.AsyncClient) -> dict[str, Any]:
    """The sandbox's whole state, from its control API."""
    response = await control.get("/_sandbox/state")
    return dict(response.json())
