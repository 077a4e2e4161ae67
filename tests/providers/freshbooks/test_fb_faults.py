"""Lost responses, pagination past FreshBooks' 100 cap, malformed answers, the limiter.

FreshBooks has no idempotency key: after a create whose answer was lost, the engine calls
`find` and creates only when nothing is found. These tests play that sequence by hand.
"""

from __future__ import annotations

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
    RateLimited,
    Record,
    RemoteRef,
    Transient,
)
from providers._sandbox import Fault, FaultKind, SandboxContext
from providers.freshbooks import PLATFORM, FreshBooksProvider, create_sandbox_app
from tests.providers._support import connect, state

from .conftest import Ledger, Recorder, customer, invoice


async def _find_then_create(provider: FreshBooksProvider, ledger: Ledger, entity: Entity,
                            record: Record) -> RemoteRef:
    """What the engine does with an uncertain create."""
    found = await provider.find(entity, record)
    if found is not None:
        return found
    return await provider.push(ledger.request(entity, record))


async def test_dropped_create_is_found_not_created_again(provider: FreshBooksProvider,
                                                         ledger: Ledger,
                                                         control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "POST",
                                                 "path_contains": "users/clients"})
    with pytest.raises(Transient, match="outcome of a write is unknown"):
        await provider.push(ledger.request(Entity.CUSTOMER, customer()))
    ref = await _find_then_create(provider, ledger, Entity.CUSTOMER, customer())
    assert ref.number == "Harbor View Dental"
    assert (await state(control))["objects"]["customer"] == 2  # Riverside and ours, once


async def test_timed_out_create_that_never_landed_is_created(provider: FreshBooksProvider,
                                                             ledger: Ledger,
                                                             control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/faults", json={"kind": "timeout", "method": "POST"})
    with pytest.raises(Transient):
        await provider.push(ledger.request(Entity.CUSTOMER, customer()))
    await _find_then_create(provider, ledger, Entity.CUSTOMER, customer())
    assert (await state(control))["objects"]["customer"] == 2


async def test_dropped_mark_as_sent_leaves_one_invoice(provider: FreshBooksProvider,
                                                       ledger: Ledger,
                                                       control: httpx.AsyncClient) -> None:
    await ledger.basics(provider)
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "PUT",
                                                 "path_contains": "invoices"})
    with pytest.raises(Transient):
        await provider.push(ledger.request(Entity.INVOICE, invoice()))
    # The half-done invoice was deleted again: find sees nothing and the retry creates it.
    ref = await _find_then_create(provider, ledger, Entity.INVOICE, invoice())
    assert (await state(control))["objects"]["invoice"] == 2  # INV-1042 and ours
    assert await provider.fetch(Entity.INVOICE, ref.remote_id) is not None


async def test_rate_limited_mark_as_sent_and_undo_leave_no_twin(
        provider: FreshBooksProvider, ledger: Ledger, app: Any,
        control: httpx.AsyncClient) -> None:
    """The demo's INV-1159 & co.: under load the undo gets a 429 too. It must be tried
    again, or the invoice stays behind holding our number and the engine's plain resend
    (a 429 is certain, so no `find` first) fails as a duplicate of ourselves."""
    await ledger.basics(provider)
    for path in ("PUT", "DELETE"):
        await control.post("/_sandbox/faults", json={"kind": "rate_limit", "method": path,
                                                     "path_contains": "invoices"})
    with pytest.raises(RateLimited):
        await provider.push(ledger.request(Entity.INVOICE, invoice()))
    ref = await provider.push(ledger.request(Entity.INVOICE, invoice()))
    ours = [i for i in app.state.books.invoices.values()
            if i["invoice_number"] == "SD-1001" and i["vis_state"] == 0]
    assert [(str(i["id"]), i["v3_status"]) for i in ours] == [(ref.remote_id, "sent")]


async def test_undo_that_cannot_land_sends_the_engine_to_reconcile(
        settings: ConnectionSettings, tokens: Any, ledger: Ledger, app: Any,
        control: httpx.AsyncClient) -> None:
    provider = FreshBooksProvider(settings, tokens, undo_waits=(0.0, 0.0))
    await ledger.basics(provider)
    await control.post("/_sandbox/faults", json={"kind": "rate_limit", "method": "PUT",
                                                 "path_contains": "invoices"})
    await control.post("/_sandbox/faults", json={"kind": "rate_limit", "method": "DELETE",
                                                 "path_contains": "invoices", "count": 3})
    with pytest.raises(Transient, match="unknown until reconciled"):
        await provider.push(ledger.request(Entity.INVOICE, invoice()))
    # The draft left behind is ours, cut short: find finishes it rather than making a twin.
    ref = await _find_then_create(provider, ledger, Entity.INVOICE, invoice())
    ours = [i for i in app.state.books.invoices.values()
            if i["invoice_number"] == "SD-1001" and i["vis_state"] == 0]
    assert [(str(i["id"]), i["v3_status"]) for i in ours] == [(ref.remote_id, "sent")]
    await provider.aclose()


async def test_unapplied_credit_note_left_behind_is_pushed_whole(
        settings: ConnectionSettings, tokens: Any, ledger: Ledger, app: Any,
        control: httpx.AsyncClient) -> None:
    provider = FreshBooksProvider(settings, tokens, undo_waits=(0.0,))
    await ledger.basics(provider)
    await ledger.push(provider, Entity.INVOICE, invoice())
    note = CreditNote(id="cn1", number="CN-0001", customer_id="c1", date=date(2026, 2, 3),
                      lines=[Line(description="Goodwill", unit_price=Decimal("50.00"))],
                      allocations=[Allocation(invoice_id="inv1", amount=Decimal("50.00"))])
    await control.post("/_sandbox/faults", json={"kind": "rate_limit", "method": "POST",
                                                 "path_contains": "payments"})
    await control.post("/_sandbox/faults", json={"kind": "rate_limit", "method": "PUT",
                                                 "path_contains": "credit_notes", "count": 2})
    with pytest.raises(Transient, match="unknown until reconciled"):
        await provider.push(ledger.request(Entity.CREDIT_NOTE, note))
    assert await _find_then_create(provider, ledger, Entity.CREDIT_NOTE, note) is not None
    live = [(n["credit_number"], n["applied"]) for n in app.state.books.credit_notes.values()
            if n["vis_state"] == 0]
    assert live == [("CN-0001", Decimal("50.00"))]
    await provider.aclose()


class _DropAfterFirst(httpx.AsyncBaseTransport):
    """Lets the first payment through, then arms a lost response for the next one."""

    def __init__(self, inner: httpx.AsyncBaseTransport, context: SandboxContext) -> None:
        self.inner, self.context, self.armed = inner, context, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not self.armed and request.method == "POST" and "payments" in request.url.path:
            self.armed = True
            self.context.faults.add(Fault(kind=FaultKind.DROP, method="POST",
                                          path_contains="payments"))
        return response


async def test_dropped_second_part_of_a_payment_ends_whole(
        settings: ConnectionSettings, tokens: Any, ledger: Ledger, app: Any,
        context: SandboxContext, recorder: Recorder, control: httpx.AsyncClient) -> None:
    provider = FreshBooksProvider(replace(settings, transport=_DropAfterFirst(recorder, context)),
                                  tokens)
    await ledger.basics(provider)
    await ledger.push(provider, Entity.INVOICE, invoice())
    await ledger.push(provider, Entity.INVOICE, invoice("inv2", "SD-1002"))
    record = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal("375.50"),
                     allocations=[Allocation(invoice_id="inv1", amount=Decimal("275.50")),
                                  Allocation(invoice_id="inv2", amount=Decimal("100.00"))])
    with pytest.raises(Transient):  # the second part's answer is lost: the first is undone
        await provider.push(ledger.request(Entity.PAYMENT, record))
    assert (await state(control))["objects"]["payment"] == 1  # the lost one did land
    ref = await _find_then_create(provider, ledger, Entity.PAYMENT, record)
    assert len(ref.remote_id.split(",")) == 2
    assert (await state(control))["objects"]["payment"] == 2
    outstanding = {i["invoice_number"]: i["outstanding"] for i in app.state.books.invoices.values()
                   if i["vis_state"] == 0}
    assert outstanding == {"INV-1042": Decimal("1250.00"), "SD-1001": Decimal(0),
                           "SD-1002": Decimal("175.50")}
    await provider.aclose()


async def test_half_pushed_payment_is_cleared_by_find(provider: FreshBooksProvider,
                                                      ledger: Ledger,
                                                      control: httpx.AsyncClient) -> None:
    await ledger.basics(provider)
    await ledger.push(provider, Entity.INVOICE, invoice())
    await ledger.push(provider, Entity.INVOICE, invoice("inv2", "SD-1002"))
    record = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal("375.50"),
                     allocations=[Allocation(invoice_id="inv1", amount=Decimal("275.50")),
                                  Allocation(invoice_id="inv2", amount=Decimal("100.00"))])
    # A first part that landed while the process died: only one of two parts exists.
    part = await provider.push(ledger.request(Entity.PAYMENT, Payment(
        id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal("275.50"),
        allocations=[Allocation(invoice_id="inv1", amount=Decimal("275.50"))])))
    assert await provider.find(Entity.PAYMENT, record) is None
    assert await provider.fetch(Entity.PAYMENT, part.remote_id) is None
    await provider.push(ledger.request(Entity.PAYMENT, record))
    assert (await state(control))["objects"]["payment"] == 2


async def test_lists_page_past_the_silent_cap(provider: FreshBooksProvider, app: Any,
                                              recorder: Recorder) -> None:
    for n in range(130):
        app.state.books.create_client({"organization": f"Customer {n:03d}"})
    names = [c.display_name async for c in provider.list_customers()]
    assert len(names) == 131 and names[-1] == "Customer 129"
    pages = [r.url.params for r in recorder.api("GET")]
    assert [(p["page"], p["per_page"]) for p in pages] == [("1", "100"), ("2", "100")]


async def test_find_reads_every_page(provider: FreshBooksProvider, app: Any,
                                     ledger: Ledger) -> None:
    for n in range(105):  # same-named strangers ahead of ours
        app.state.books.create_client({"organization": f"Harbor View Dental {n}"})
    ref = await ledger.push(provider, Entity.CUSTOMER, customer())
    assert await provider.find(Entity.CUSTOMER, customer()) == ref


@pytest.mark.parametrize("body", [
    {"response": {}},
    {"response": {"result": {"client": {"organization": "no id"}}}},
    {"result": {"client": {"id": 1}}},
    ["not", "an", "object"],
])
async def test_malformed_success_is_transient(body: Any) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    settings = ConnectionSettings(platform="freshbooks", tenant_id="A", base_url="http://fb",
                                  transport=httpx.MockTransport(answer))

    class Fixed:
        async def access_token(self) -> str:
            return "token"

        async def refreshed(self, rejected: str) -> str:
            return "token"

    provider = FreshBooksProvider(settings, Fixed())
    with pytest.raises(Transient, match="FreshBooks answered without"):
        await provider.push(Ledger().request(Entity.CUSTOMER, customer()))
    await provider.aclose()


async def test_sandbox_limiter_answers_429() -> None:
    app = create_sandbox_app(per_minute=3)
    transport = httpx.ASGITransport(app=app)
    settings = ConnectionSettings(platform="freshbooks", tenant_id="zDmNq", client_id="x",
                                  client_secret="y", base_url="http://fb", transport=transport)
    tokens, _ = await connect(PLATFORM, settings)
    provider = FreshBooksProvider(settings, tokens)
    for _ in range(3):
        await provider.fetch(Entity.CUSTOMER, "1")
    with pytest.raises(RateLimited):
        await provider.fetch(Entity.CUSTOMER, "1")
    await provider.aclose()
