"""Lost answers, timeouts, 5xx, garbage and 429s — through the client and the sandbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from wave_support import Ledger, Recording, customer, invoice

from engine import ConnectionSettings, Entity, InvoiceStatus, RateLimited, Transient
from providers.wave import PLATFORM, WaveProvider


async def objects(control: httpx.AsyncClient) -> dict[str, int]:
    return dict((await control.get("/_sandbox/state")).json()["objects"])


@pytest.fixture
async def impatient(settings: ConnectionSettings, tokens: Any) -> Any:
    """A provider with a 0.3 s timeout, shorter than the sandbox's 0.5 s hang."""
    client = PLATFORM.provider(settings, tokens)
    yield client
    await client.aclose()


async def test_dropped_create_then_find_then_create_makes_one_object(
        impatient: WaveProvider, ledger: Ledger, control: httpx.AsyncClient,
        context: Any) -> None:
    await ledger.basics(impatient)
    before = (await objects(control))["invoice"]
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "POST",
                                                 "path_contains": "/graphql"})
    record = invoice(number="SD-2001")
    with pytest.raises(Transient, match="no answer"):
        await impatient.push(ledger.request(Entity.INVOICE, record))
    # The engine's reconcile step: look it up first, create only if it is not there.
    found = await impatient.find(Entity.INVOICE, record)
    if found is None:
        found = await impatient.push(ledger.request(Entity.INVOICE, record))
    assert found.number == "SD-2001"
    assert (await objects(control))["invoice"] == before + 1
    assert context.faults.injected == {"drop": 1}


async def test_dropped_customer_create_is_found_by_its_display_id(
        impatient: WaveProvider, ledger: Ledger, control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/faults", json={"kind": "drop", "path_contains": "/graphql"})
    with pytest.raises(Transient):
        await impatient.push(ledger.request(Entity.CUSTOMER, customer()))
    found = await impatient.find(Entity.CUSTOMER, customer())
    assert found is not None and (await objects(control))["customer"] == 2  # + Riverside


async def test_timeout_before_commit_writes_nothing(impatient: WaveProvider, ledger: Ledger,
                                                    control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/faults", json={"kind": "timeout"})
    with pytest.raises(Transient):
        await impatient.push(ledger.request(Entity.CUSTOMER, customer()))
    assert await impatient.find(Entity.CUSTOMER, customer()) is None


@pytest.mark.parametrize(("fault", "text"), [
    ({"kind": "error", "status": 500}, "HTTP 500"),
    ({"kind": "error", "status": 503}, "HTTP 503"),
    ({"kind": "garbage"}, "not valid JSON"),
])
async def test_server_trouble_is_transient(provider: WaveProvider, control: httpx.AsyncClient,
                                           fault: dict[str, Any], text: str) -> None:
    await control.post("/_sandbox/faults", json=fault)
    with pytest.raises(Transient, match=text):
        await provider.push(Ledger().request(Entity.CUSTOMER, customer()))
    assert (await objects(control))["customer"] == 1  # only Riverside


async def test_429_burst_then_recovery(provider: WaveProvider,
                                       control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/faults", json={"kind": "rate_limit", "count": 2})
    for _ in range(2):
        with pytest.raises(RateLimited) as caught:
            await provider.fetch(Entity.CUSTOMER, "x")
        assert caught.value.retry_after == 60
    assert await provider.fetch(Entity.CUSTOMER, "x") is None


async def test_sixty_requests_a_minute(provider: WaveProvider, app: Starlette,
                                       control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/limits", json={"enabled": True, "per_minute": 3})
    for _ in range(3):
        await provider.fetch(Entity.CUSTOMER, "x")
    with pytest.raises(RateLimited) as caught:
        await provider.fetch(Entity.CUSTOMER, "x")
    assert 1 <= caught.value.retry_after <= 60
    await control.post("/_sandbox/clock", json={"advance": 61})
    assert await provider.fetch(Entity.CUSTOMER, "x") is None
    assert app.state.sandbox.limiter.policy.per_minute == 3


async def test_429_after_the_create_is_reconciled_not_created_again(
        provider: WaveProvider, ledger: Ledger, app: Starlette, control: httpx.AsyncClient,
        recording: Recording) -> None:
    # A sent invoice is invoiceCreate then invoiceMarkSent; at 60 a minute the second is the
    # one refused. A RateLimited would have the engine send the create again, which collides
    # with our own invoice: "Invoice number SD-2002 is already in use."
    await ledger.basics(provider)
    before = (await objects(control))["invoice"]
    await control.post("/_sandbox/clock", json={"advance": 61})
    await control.post("/_sandbox/limits", json={"enabled": True, "per_minute": 1})
    record = invoice(number="SD-2002", status=InvoiceStatus.SENT)
    with pytest.raises(Transient, match="unknown until reconciled") as caught:
        await provider.push(ledger.request(Entity.INVOICE, record))
    assert isinstance(caught.value.__cause__, RateLimited)
    assert recording.operations()[-2:] == ["invoiceCreate", "invoiceMarkSent"]
    await control.post("/_sandbox/limits", json={"enabled": False})
    # The engine's reconcile step: find finishes our invoice the push left unsent.
    found = await provider.find(Entity.INVOICE, record)
    assert found is not None and found.number == "SD-2002"
    assert app.state.books.invoices[found.remote_id]["status"] == "SENT"
    assert recording.operations()[-2:] == ["business", "invoiceMarkSent"]
    assert (await objects(control))["invoice"] == before + 1
