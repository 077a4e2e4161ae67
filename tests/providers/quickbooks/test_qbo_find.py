"""`find` after a lost answer returns our object for every entity; a failed lookup raises.

None means "looked, and it is not there": the engine then sends a create. So a lookup that
fails (5xx, an HTML page) must raise, never answer None. A credit memo whose push was cut
short before the payment that applies it is applied by `find`, once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from engine import (
    Allocation,
    ConnectionSettings,
    CreditNote,
    Entity,
    Line,
    Payment,
    Record,
    Transient,
)
from providers._sandbox import SandboxContext
from providers.quickbooks import QuickBooksProvider
from tests.providers._support import Ledger, SandboxTokens

from .conftest import customer, invoice, item

PAYMENT = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal(100),
                  allocations=[Allocation(invoice_id="inv1", amount=Decimal(100))])
NOTE = CreditNote(id="cn1", number="CN-1", customer_id="c1", date=date(2026, 2, 2),
                  lines=[Line(description="Goodwill", unit_price=Decimal(50))],
                  allocations=[Allocation(invoice_id="inv1", amount=Decimal(30))])
RECORDS: dict[Entity, Record] = {
    Entity.CUSTOMER: customer("c-lost", "Lost Customer Co"), Entity.ITEM: item("i-lost", "Lost"),
    Entity.INVOICE: invoice("inv-lost", "SD-2001"), Entity.PAYMENT: PAYMENT,
    Entity.CREDIT_NOTE: NOTE}
RESOURCES = {Entity.CUSTOMER: "/customer", Entity.ITEM: "/item", Entity.INVOICE: "/invoice",
             Entity.PAYMENT: "/payment", Entity.CREDIT_NOTE: "/creditmemo"}


@pytest.fixture
async def impatient(settings: ConnectionSettings, tokens: SandboxTokens,
                    context: SandboxContext) -> AsyncIterator[QuickBooksProvider]:
    """Gives up after 0.2 s, before a dropped answer's 0.5 s hang ends."""
    client = QuickBooksProvider(replace(settings, timeout=0.2), tokens)
    yield client
    await client.aclose()


async def basics(provider: QuickBooksProvider, ledger: Ledger) -> None:
    await ledger.push(provider, Entity.CUSTOMER, customer())
    await ledger.push(provider, Entity.ITEM, item())
    await ledger.push(provider, Entity.INVOICE, invoice())


async def marks(control: httpx.AsyncClient) -> dict[str, Any]:
    return dict((await control.get("/_sandbox/marks")).json()["marks"])


@pytest.mark.parametrize("entity", list(RECORDS))
async def test_a_create_whose_answer_was_lost_is_found(
        impatient: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        entity: Entity) -> None:
    await basics(impatient, ledger)
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "POST",
                                                 "path_contains": RESOURCES[entity]})
    with pytest.raises(Transient):
        await impatient.push(ledger.request(entity, RECORDS[entity]))
    found = await impatient.find(entity, RECORDS[entity])
    assert found is not None
    assert await impatient.fetch(entity, found.remote_id) == found
    assert marks_of(await marks(control), entity, RECORDS[entity].id) == 1


def marks_of(report: dict[str, Any], entity: Entity, record_id: str) -> int:
    return int(report[entity.value].get(record_id, 0))


async def test_a_memo_found_without_its_application_is_applied_once(
        impatient: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        app: Any) -> None:
    await basics(impatient, ledger)
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "POST",
                                                 "path_contains": "/creditmemo"})
    with pytest.raises(Transient):
        await impatient.push(ledger.request(Entity.CREDIT_NOTE, NOTE))
    assert "credit_note_payment" not in await marks(control)  # cut short before applying

    found = await impatient.find(Entity.CREDIT_NOTE, NOTE)
    assert found is not None and await impatient.find(Entity.CREDIT_NOTE, NOTE) == found
    assert (await marks(control))["credit_note_payment"] == {"cn1": 1}
    invoice_id = ledger.refs[(Entity.INVOICE, "inv1")].remote_id
    assert app.state.company.objects["Invoice"][invoice_id]["Balance"] == Decimal("245.50")


@pytest.mark.parametrize("kind", ["error", "garbage", "timeout"])
@pytest.mark.parametrize("entity", list(RECORDS))
async def test_a_failed_lookup_raises_instead_of_answering_not_there(
        impatient: QuickBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        entity: Entity, kind: str) -> None:
    await basics(impatient, ledger)
    await ledger.push(impatient, entity, RECORDS[entity])
    await control.post("/_sandbox/faults", json={"kind": kind, "method": "GET",
                                                 "path_contains": "/query"})
    with pytest.raises(Transient):
        await impatient.find(entity, RECORDS[entity])
    assert await impatient.find(entity, RECORDS[entity]) is not None


async def test_a_json_answer_without_a_query_response_is_not_an_empty_result(
        settings: ConnectionSettings, tokens: SandboxTokens) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"time": "2026-02-01T10:00:00.000-07:00"})

    provider = QuickBooksProvider(replace(settings, transport=httpx.MockTransport(answer)),
                                  tokens)
    with pytest.raises(Transient, match="without a QueryResponse"):
        await provider.find(Entity.CUSTOMER, customer())
    await provider.aclose()
