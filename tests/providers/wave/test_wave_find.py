"""`find` returns only what syncdesk created: objects carrying the record's mark.

The demo business holds someone else's "Riverside Property Group LLC", a product and invoice
INV-1042; local records with the same name or number are not linked to them. An object the
provider created is found again after its answer was lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from wave_support import Ledger, customer, invoice, item

from engine import ConnectionSettings, Duplicate, Entity, Operation, Record, RemoteRef, Transient
from providers.wave import PLATFORM, WaveProvider

DEMO_CUSTOMER = "Riverside Property Group LLC"


@pytest.fixture
async def impatient(settings: ConnectionSettings, tokens: Any) -> AsyncIterator[WaveProvider]:
    """A provider with a 0.3 s timeout, shorter than the sandbox's 0.5 s hang."""
    client = PLATFORM.provider(settings, tokens)
    yield client
    await client.aclose()


async def drop_next_write(control: httpx.AsyncClient) -> None:
    """The next mutation lands on Wave, and its answer never comes back."""
    await control.post("/_sandbox/faults", json={"kind": "drop", "count": 1,
                                                 "path_contains": "/graphql"})


async def test_the_demo_customer_product_and_invoice_are_not_ours(
        provider: WaveProvider, ledger: Ledger) -> None:
    riverside = customer("C-0007", DEMO_CUSTOMER, email="ap@riversidepg.example")
    assert await provider.find(Entity.CUSTOMER, riverside) is None
    assert await provider.find(Entity.ITEM, item("i-gm", "Grounds maintenance")) is None
    await ledger.basics(provider)
    twin = invoice("inv-twin", "INV-1042")
    assert await provider.find(Entity.INVOICE, twin) is None
    with pytest.raises(Duplicate):  # Wave refuses the number: it is taken
        await ledger.push(provider, Entity.INVOICE, twin)
    assert await provider.find(Entity.INVOICE, twin) is None


@pytest.mark.parametrize("entity", [Entity.CUSTOMER, Entity.ITEM, Entity.INVOICE])
async def test_a_lost_create_is_found_by_its_mark(impatient: WaveProvider, ledger: Ledger,
                                                  control: httpx.AsyncClient,
                                                  entity: Entity) -> None:
    if entity is Entity.INVOICE:
        await ledger.basics(impatient)
    record: Record = {Entity.CUSTOMER: customer("c-lost", DEMO_CUSTOMER),
                      Entity.ITEM: item("i-lost", "Grounds maintenance"),
                      Entity.INVOICE: invoice("inv-lost", "SD-7")}[entity]
    await drop_next_write(control)
    with pytest.raises(Transient, match="no answer"):
        await impatient.push(ledger.request(entity, record))
    found = await impatient.find(entity, record)
    assert found is not None
    assert await impatient.fetch(entity, found.remote_id) == found


async def test_marks_are_written_and_kept_by_a_patch(provider: WaveProvider, ledger: Ledger,
                                                     app: Starlette) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    await ledger.push(provider, Entity.INVOICE, invoice(number="SD-1002"),
                      operation=Operation.UPDATE, link=ref)
    books = app.state.books
    assert books.invoices[ref.remote_id]["footer"] == "syncdesk:inv1"
    product = books.products[ledger.refs[(Entity.ITEM, "i1")].remote_id]
    assert product["description"] == "syncdesk:i1"
    assert await provider.find(Entity.INVOICE, invoice(number="SD-1002")) == \
        RemoteRef(ref.remote_id, number="SD-1002")


@pytest.mark.parametrize("fault", [{"kind": "error", "status": 500},
                                   {"kind": "error", "status": 503},
                                   {"kind": "garbage"}, {"kind": "timeout"}])
@pytest.mark.parametrize("entity", [Entity.CUSTOMER, Entity.ITEM, Entity.INVOICE])
async def test_a_failed_lookup_raises_instead_of_answering_not_there(
        impatient: WaveProvider, control: httpx.AsyncClient, context: Any, entity: Entity,
        fault: dict[str, Any]) -> None:
    record: Record = {Entity.CUSTOMER: customer("c-9"), Entity.ITEM: item("i-9"),
                      Entity.INVOICE: invoice("inv-9", "SD-9")}[entity]
    await control.post("/_sandbox/faults", json={**fault, "path_contains": "/graphql"})
    with pytest.raises(Transient):
        await impatient.find(entity, record)
    assert await impatient.find(entity, record) is None
