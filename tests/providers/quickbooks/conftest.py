"""Fixtures: an in-process QuickBooks sandbox, a provider connected through real OAuth."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from engine import ConnectionSettings, Customer, Invoice, Item, Line
from providers._sandbox import Clock
from providers.quickbooks import PLATFORM, QuickBooksProvider, create_sandbox_app
from providers.quickbooks.sandbox import DEFAULT_REALM
from tests.providers._support import Ledger, Recording, SandboxTokens, connect

BASE = "http://quickbooks.sandbox"
REALM = DEFAULT_REALM


class Recorder(Recording):
    """Records the wire; reads the QuickBooks API writes back with their bodies."""

    def api_writes(self) -> list[tuple[httpx.Request, Any]]:
        return [(r, json.loads(r.content)) for r in self.requests
                if r.method == "POST" and "/v3/company/" in r.url.path and r.content]


@pytest.fixture
def app(clock: Clock) -> Any:
    # Tests run far faster than 10 requests/s; the limits have tests of their own.
    return create_sandbox_app(clock=clock, limits_enabled=False)


@pytest.fixture
def recorder(app: Any) -> Recorder:
    return Recorder(httpx.ASGITransport(app=app))


@pytest.fixture
def settings(recorder: Recorder) -> ConnectionSettings:
    return ConnectionSettings(platform="quickbooks", tenant_id=REALM, client_id="syncdesk-test",
                              client_secret="secret", base_url=BASE, timeout=2.0,
                              transport=recorder)


@pytest.fixture
async def tokens(settings: ConnectionSettings) -> SandboxTokens:
    source, _ = await connect(PLATFORM, settings)
    return source


@pytest.fixture
async def provider(settings: ConnectionSettings,
                   tokens: SandboxTokens) -> AsyncIterator[QuickBooksProvider]:
    client = QuickBooksProvider(settings, tokens)
    yield client
    await client.aclose()


@pytest.fixture
async def control(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's control API and raw HTTP access, for setting up and checking state."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


# -- ledger records and pushes ------------------------------------------------------------


def customer(local_id: str = "c1", name: str = "Harbor View Dental", **extra: Any) -> Customer:
    return Customer(id=local_id, display_name=name, **extra)


def item(local_id: str = "i1", name: str = "Gutter cleaning", account: str | None = "80",
         **extra: Any) -> Item:
    return Item(id=local_id, sku=f"SKU-{local_id}", name=name, unit_price=Decimal("120.00"),
                income_account=account, **extra)


def invoice(local_id: str = "inv1", number: str = "SD-1001", customer_id: str = "c1",
            lines: list[Line] | None = None) -> Invoice:
    return Invoice(id=local_id, number=number, customer_id=customer_id,
                   issue_date=date(2026, 1, 15), due_date=date(2026, 2, 14),
                   lines=lines or [Line(item_id="i1", quantity=Decimal(2),
                                        unit_price=Decimal("120.00"), description="Front"),
                                   Line(description="Call-out fee", unit_price=Decimal("35.50"))])


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


class Api:
    """Raw calls to the v3 API with the test's access token, for the sandbox's own rules."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def post(self, path: str, body: Any, **params: str) -> httpx.Response:
        return await self.client.post(f"/v3/company/{REALM}/{path}", json=body, params=params,
                                      headers=self.headers)

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.client.get(f"/v3/company/{REALM}/{path}", params=params,
                                     headers=self.headers)

    async def query(self, statement: str) -> Any:
        return (await self.get("query", query=statement)).json()


@pytest.fixture
def api(control: httpx.AsyncClient, tokens: SandboxTokens) -> Api:
    return Api(control, tokens.tokens.access_token)


async def raw_get(control: httpx.AsyncClient, tokens: SandboxTokens, path: str) -> Any:
    response = await control.get(f"/v3/company/{REALM}/{path}", headers={
        "Authorization": f"Bearer {tokens.tokens.access_token}", "Accept": "application/json"})
    return response.json()
