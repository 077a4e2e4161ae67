"""Fixtures: an in-process FreshBooks sandbox and a provider connected through real OAuth."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from engine import (
    ConnectionMappings,
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
)
from providers._sandbox import Clock, SandboxContext
from providers.freshbooks import PLATFORM, FreshBooksProvider, create_sandbox_app
from providers.freshbooks.sandbox import DEMO_ACCOUNT_ID
from tests.providers import _support as support
from tests.providers._support import Recording, SandboxTokens, connect

BASE = "http://freshbooks.sandbox"
ACCOUNT = DEMO_ACCOUNT_ID
API = f"/accounting/account/{ACCOUNT}"


class Recorder(Recording):
    """Records the wire; reads FreshBooks' accounting requests back."""

    def api(self, method: str | None = None) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.startswith("/accounting/")
                and (method is None or r.method == method)]

    def bodies(self, method: str) -> list[Any]:
        return [json.loads(r.content) for r in self.api(method) if r.content]


@pytest.fixture
def app(clock: Clock) -> Any:
    # Tests run faster than any polite pace; the limiter has tests of its own.
    return create_sandbox_app(clock=clock, limits_enabled=False)


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
    source, _ = await connect(PLATFORM, settings)
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
class Ledger(support.Ledger):
    """What a test has pushed, the customer and item an invoice needs, and the connection's
    mappings every push carries (local tax code "TAX" is the account's "Sales Tax")."""

    mappings: ConnectionMappings = field(default_factory=lambda: ConnectionMappings(
        tax_codes={"TAX": "Sales Tax", "GST": "GST"}))

    def request(self, entity: Entity, record: Record, *, operation: Operation = Operation.CREATE,
                key: str | None = None, link: RemoteRef | None = None) -> PushRequest:
        return replace(super().request(entity, record, operation=operation, key=key, link=link),
                       mappings=self.mappings)

    async def basics(self, provider: FreshBooksProvider) -> None:
        await self.push(provider, Entity.CUSTOMER, customer())
        await self.push(provider, Entity.ITEM, item())


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


async def raw(control: httpx.AsyncClient, tokens: SandboxTokens, method: str, path: str,
              **kwargs: Any) -> httpx.Response:
    """A request straight to the sandbox's accounting API, with the test's access token."""
    return await control.request(method, f"{API}/{path}", headers={
        "Authorization": f"Bearer {tokens.tokens.access_token}"}, **kwargs)
