"""Test doubles shared by the Wave tests: a recording transport, tokens, records, pushes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from engine import (
    Address,
    Customer,
    Entity,
    Grant,
    Invoice,
    InvoiceStatus,
    Item,
    Line,
    Operation,
    PushRequest,
    Record,
    RemoteRef,
)
from providers.wave import WaveOAuth, WaveProvider

REDIRECT_URI = "https://syncdesk.example/callback"
BASE_URL = "http://wave.sandbox"


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox and keeps a copy of each one."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    def operations(self) -> list[str]:
        """The root field each GraphQL request asked for, in order ("customerCreate", …)."""
        names = []
        for request in self.requests:
            if request.url.path == "/graphql/public":
                query = json.loads(request.content)["query"]
                names.append(query.split("{", 2)[1].split("(")[0].strip())
        return names


class SandboxTokens:
    """A TokenSource that connects through the real authorization-code flow."""

    def __init__(self, oauth: WaveOAuth, transport: httpx.AsyncBaseTransport) -> None:
        self.oauth = oauth
        self.transport = transport
        self.grant: Grant | None = None
        self.current = ""
        self.refresh_token: str | None = None
        self.refreshes = 0

    async def connect(self) -> Grant:
        url = self.oauth.authorization_url(REDIRECT_URI, "state-1")
        async with httpx.AsyncClient(transport=self.transport) as client:
            consent = await client.get(url, follow_redirects=False)
        self.grant = await self.oauth.exchange_code(consent.headers["location"], REDIRECT_URI)
        self.current = self.grant.tokens.access_token
        self.refresh_token = self.grant.tokens.refresh_token
        return self.grant

    async def access_token(self) -> str:
        return self.current

    async def refreshed(self, rejected: str) -> str:
        if rejected == self.current:
            assert self.refresh_token is not None
            tokens = await self.oauth.refresh(self.refresh_token)
            self.current, self.refresh_token = tokens.access_token, tokens.refresh_token
            self.refreshes += 1
        return self.current


def customer(local_id: str = "c1", name: str = "Harbor View Dental",
             email: str | None = "billing@harborview.example", **extra: Any) -> Customer:
    return Customer(id=local_id, display_name=name, email=email, **extra)


def addressed(local_id: str = "c1") -> Customer:
    return customer(local_id, billing_address=Address(
        line1="12 Alder St", city="Portland", region="OR", postal_code="97201", country="US"))


def item(local_id: str = "i1", name: str = "Gutter cleaning", account: str | None = None,
         price: str = "120.00") -> Item:
    accounts = {"wave": account} if account else {}
    return Item(id=local_id, sku=f"SKU-{local_id}", name=name, unit_price=Decimal(price),
                income_accounts=accounts)


def invoice(local_id: str = "inv1", number: str = "SD-1001", *,
            status: InvoiceStatus = InvoiceStatus.DRAFT,
            lines: list[Line] | None = None) -> Invoice:
    return Invoice(id=local_id, number=number, customer_id="c1", status=status,
                   issue_date=date(2026, 1, 15), due_date=date(2026, 2, 14),
                   lines=lines or [Line(item_id="i1", quantity=Decimal(2),
                                        unit_price=Decimal("120.00"), description="Front"),
                                   Line(item_id="i1", quantity=Decimal("1.5"),
                                        unit_price=Decimal("35.50"))])


@dataclass
class Ledger:
    """Remote refs of what a test has pushed, so later pushes can reference them."""

    refs: dict[tuple[Entity, str], RemoteRef] = field(default_factory=dict)

    def request(self, entity: Entity, record: Record, *,
                operation: Operation = Operation.CREATE,
                link: RemoteRef | None = None) -> PushRequest:
        return PushRequest(entity=entity, operation=operation, record=record,
                           idempotency_key=f"k-{entity.value}-{record.id}",
                           link=link, refs=dict(self.refs))

    async def push(self, provider: WaveProvider, entity: Entity, record: Record,
                   **options: Any) -> RemoteRef:
        ref = await provider.push(self.request(entity, record, **options))
        self.refs[(entity, record.id)] = ref
        return ref

    async def basics(self, provider: WaveProvider) -> None:
        """The customer c1 and item i1 an invoice needs."""
        await self.push(provider, Entity.CUSTOMER, customer())
        await self.push(provider, Entity.ITEM, item())
