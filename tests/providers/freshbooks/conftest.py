"""Fixtures: an in-process FreshBooks sandbox and a provider connected through real OAuth."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from engine import (
    ConnectionSettings,
    Customer,
    Entity,
    Invoice,
    InvoiceStatus,
    Item,
    Line,
    Operation,
    PushRequest,
    Record,
    RemoteRef,
    TokenSet,
)
from providers._sandbox import Clock, SandboxContext
from providers.freshbooks import PLATFORM, FreshBooksOAuth, FreshBooksProvider, create_sandbox_app
from providers.freshbooks.sandbox import DEMO_ACCOUNT_ID

BASE = "http://freshbooks.sandbox"
REDIRECT = "https://syncdesk.example/callback"
ACCOUNT = DEMO_ACCOUNT_ID
API = f"/accounting/account/{ACCOUNT}"


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox and keeps every one, for assertions on the wire."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    def api(self, method: str | None = None) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.startswith("/accounting/")
                and (method is None or r.method == method)]

    def bodies(self, method: str) -> list[Any]:
        return [json.loads(r.content) for r in self.api(method) if r.content]


class SandboxTokens:
    """A TokenSource that got its tokens through the sandbox's OAuth flow."""

    def __init__(self, oauth: FreshBooksOAuth, tokens: TokenSet) -> None:
        self.oauth = oauth
        self.tokens = tokens
        self.refreshes = 0

    async def access_token(self) -> str:
        return self.tokens.access_token

    async def refreshed(self, rejected: str) -> str:
        if rejected == self.tokens.access_token:
            assert self.tokens.refresh_token is not None
            self.tokens = await self.oauth.refresh(self.tokens.refresh_token)
            self.refreshes += 1
        return self.tokens.access_token


async def connect(settings: ConnectionSettings) -> tuple[SandboxTokens, Any]:
    """The real authorization-code flow: consent redirect, then code exchange."""
    oauth = PLATFORM.oauth(settings)
    async with httpx.AsyncClient(transport=settings.transport) as client:
        consent = await client.get(oauth.authorization_url(REDIRECT, "state-1"))
    assert consent.status_code == 302
    grant = await oauth.exchange_code(consent.headers["location"], REDIRECT)
    return SandboxTokens(oauth, grant.tokens), grant


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> Any:
    # Tests run faster than any polite pace; the limiter has tests of its own.
    return create_sandbox_app(clock=clock, limits_enabled=False)


@pytest.fixture
def context(app: Any) -> SandboxContext:
    sandbox: SandboxContext = app.state.sandbox
    sandbox.faults.hang_seconds = 0.5
    return sandbox


@pytest.fixture
def recorder(app: Any) -> Recorder:
    return Recorder(httpx.ASGITransport(app=app))


@pytest.fixture
def settings(recorder: Recorder) -> ConnectionSettings:
    return ConnectionSettings(platform="freshbooks", tenant_id=ACCOUNT, client_id="syncdesk",
                              client_secret="secret", base_url=BASE, timeout=0.3,
                              transport=recorder)


@pytest.fixture
async def tokens(settings: ConnectionSettings) -> SandboxTokens:
    source, _ = await connect(settings)
    return source


@pytest.fixture
async def provider(settings: ConnectionSettings,
                   tokens: SandboxTokens) -> AsyncIterator[FreshBooksProvider]:
    client = FreshBooksProvider(settings, tokens)
    yield client
    await client.aclose()


@pytest.fixture
async def control(app: Any, context: SandboxContext) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's control API and raw HTTP access, for setting up and checking state."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


# -- ledger records and pushes ------------------------------------------------------------


def customer(local_id: str = "c1", name: str = "Harbor View Dental", **extra: Any) -> Customer:
    return Customer(id=local_id, display_name=name, **extra)


def item(local_id: str = "i1", name: str = "Gutter cleaning", **extra: Any) -> Item:
    return Item(**{"id": local_id, "sku": f"SKU-{local_id}", "name": name,
                   "unit_price": Decimal("120.00"), **extra})


def invoice(local_id: str = "inv1", number: str = "SD-1001", customer_id: str = "c1",
            lines: list[Line] | None = None,
            status: InvoiceStatus = InvoiceStatus.SENT) -> Invoice:
    return Invoice(id=local_id, number=number, customer_id=customer_id,
                   issue_date=date(2026, 1, 15), due_date=date(2026, 2, 14), status=status,
                   lines=lines or [Line(item_id="i1", quantity=Decimal(2),
                                        unit_price=Decimal("120.00"), description="Front"),
                                   Line(description="Call-out fee", unit_price=Decimal("35.50"))])


@dataclass
class Ledger:
    """Remote refs of what a test has pushed, so later pushes can reference them."""

    refs: dict[tuple[Entity, str], RemoteRef] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)

    def request(self, entity: Entity, record: Record, *, operation: Operation = Operation.CREATE,
                link: RemoteRef | None = None) -> PushRequest:
        return PushRequest(entity=entity, operation=operation, record=record,
                           idempotency_key=f"k-{entity.value}-{record.id}-1",
                           link=link, refs=dict(self.refs), items=dict(self.items))

    async def push(self, provider: FreshBooksProvider, entity: Entity, record: Record,
                   **options: Any) -> RemoteRef:
        ref = await provider.push(self.request(entity, record, **options))
        self.refs[(entity, record.id)] = ref
        if isinstance(record, Item):
            self.items[record.id] = record
        return ref

    async def basics(self, provider: FreshBooksProvider) -> None:
        await self.push(provider, Entity.CUSTOMER, customer())
        await self.push(provider, Entity.ITEM, item())


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


async def state(control: httpx.AsyncClient) -> dict[str, Any]:
    response = await control.get("/_sandbox/state")
    return dict(response.json())


async def raw(control: httpx.AsyncClient, tokens: SandboxTokens, method: str, path: str,
              **kwargs: Any) -> httpx.Response:
    """A request straight to the sandbox's accounting API, with the test's access token."""
    return await control.request(method, f"{API}/{path}", headers={
        "Authorization": f"Bearer {tokens.tokens.access_token}"}, **kwargs)
