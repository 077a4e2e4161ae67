"""What the Wave tests share beyond `tests.providers._support`: GraphQL operations on the
wire, Wave's records, and the customer and item an invoice needs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from engine import (
    Address,
    ConnectionMappings,
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
from providers.wave import WaveProvider
from tests.providers import _support as support

BASE_URL = "http://wave.sandbox"


class Recording(support.Recording):
    """Records the wire; reads back which GraphQL operations were sent."""

    def operations(self) -> list[str]:
        """The root field each GraphQL request asked for, in order ("customerCreate", …)."""
        names = []
        for request in self.requests:
            if request.url.path == "/graphql/public":
                query = json.loads(request.content)["query"]
                names.append(query.split("{", 2)[1].split("(")[0].strip())
        return names


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
class Ledger(support.Ledger):
    """What a test has pushed, the customer and item an invoice needs, and the connection's
    mappings every push carries."""

    mappings: ConnectionMappings = field(default_factory=ConnectionMappings)

    def request(self, entity: Entity, record: Record, *, operation: Operation = Operation.CREATE,
                key: str | None = None, link: RemoteRef | None = None) -> PushRequest:
        return replace(super().request(entity, record, operation=operation, key=key, link=link),
                       mappings=self.mappings)

    async def basics(self, provider: WaveProvider) -> None:
        """The customer c1 and item i1 an invoice needs."""
        await self.push(provider, Entity.CUSTOMER, customer())
        await self.push(provider, Entity.ITEM, item())
