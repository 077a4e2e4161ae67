"""Credit notes that apply credit, batched: the memos in the batch, their linking Payments in a
second batch when the batch window has room for it (side by side as singles when not), and
what happens when a payment's answer never comes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date
from decimal import Decimal

import httpx
import pytest

from engine import (
    Allocation,
    ConnectionSettings,
    CreditNote,
    Entity,
    Line,
    Quota,
    RemoteRef,
    Transient,
)
from providers.quickbooks import QuickBooksProvider
from tests.providers._support import Ledger, SandboxTokens, state

from .conftest import Recorder, customer, invoice, item, raw_get


def _notes(count: int) -> list[CreditNote]:
    return [CreditNote(id=f"cn{n}", number=f"CN-{n}", customer_id="c1", date=date(2026, 2, 2),
                       lines=[Line(description="Goodwill", unit_price=Decimal(10))],
                       allocations=[Allocation(invoice_id="inv1", amount=Decimal(10))])
            for n in range(count)]


async def _books(provider: QuickBooksProvider, ledger: Ledger) -> RemoteRef:
    await ledger.push(provider, Entity.CUSTOMER, customer())
    await ledger.push(provider, Entity.ITEM, item())
    return await ledger.push(provider, Entity.INVOICE, invoice())


class _Budget:
    """A connection's budget whose batch window has `room` batches left, less its promises;
    records how many promises were held as each batch request came to it and as it was
    answered."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.promised = 0
        self.held: list[tuple[int, int]] = []

    @asynccontextmanager
    async def slot(self, *, batch: bool = False) -> AsyncIterator[None]:
        came = self.promised
        yield
        if batch:
            self.held.append((came, self.promised))

    def observe(self, quota: Quota | None) -> None:
        pass

    def batch_room(self) -> int:
        return max(self.room - self.promised, 0)

    def promise_batch(self) -> Callable[[], None]:
        self.promised += 1
        kept = True

        def release() -> None:
            nonlocal kept
            if kept:
                kept, self.promised = False, self.promised - 1
        return release


def _applies_credit(request: httpx.Request) -> bool:
    if request.method != "POST":
        return False
    body = json.loads(request.content)
    if request.url.path.endswith("/batch"):
        return all(item.get("Payment", {}).get("TotalAmt") == 0
                   for item in body["BatchItemRequest"])
    return request.url.path.endswith("/payment") and body["TotalAmt"] == 0


@pytest.mark.parametrize(("room", "payments", "held"), [
    (1, [("POST", "batch")], [(0, 0), (1, 0)]),
    # The window's last room promised to another batch: a second batch would wait for it.
    (0, [("POST", "payment")] * 3, [(0, 0)]),
])
async def test_memos_in_the_batch_then_their_payments_at_once_and_one_read(
        settings: ConnectionSettings, tokens: SandboxTokens, ledger: Ledger,
        recorder: Recorder, control: httpx.AsyncClient, room: int,
        payments: list[tuple[str, str]], held: list[tuple[int, int]]) -> None:
    budget = _Budget(room)
    provider = QuickBooksProvider(replace(settings, budget=budget), tokens)
    bill = await _books(provider, ledger)
    before = len(recorder.requests)
    results = await provider.push_batch([ledger.request(Entity.CREDIT_NOTE, note)
                                         for note in _notes(3)])
    await provider.aclose()
    sent = [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in recorder.requests[before:]]
    # Was 12 requests, each memo's four one after another: create, query, payment, re-read.
    assert sent == [("POST", "batch"), *payments, ("GET", "query")]
    # The payments' batch held its promise of the window's room until it left, not until
    # its answer came.
    assert budget.held == held and budget.promised == 0
    assert (await state(control))["objects"]["payment"] == 3
    remote = (await raw_get(control, tokens, f"invoice/{bill.remote_id}"))["Invoice"]
    assert remote["Balance"] == 245.5
    for ref in results:
        assert isinstance(ref, RemoteRef)
        memo = (await raw_get(control, tokens, f"creditmemo/{ref.remote_id}"))["CreditMemo"]
        # The version handed back is the memo's after its credit was applied.
        assert (ref.version, memo["Balance"]) == (memo["SyncToken"], 0)


class _LoseApplications(httpx.AsyncBaseTransport):
    """Every payment that applies credit goes wrong, as `how` says: its connection cut before
    it arrives, or after the sandbox wrote it (the answer is lost), or a 429 (QBO's, with no
    Retry-After) before it arrives."""

    def __init__(self, inner: httpx.AsyncBaseTransport, how: str) -> None:
        self.inner = inner
        self.how = how

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if not _applies_credit(request):
            return await self.inner.handle_async_request(request)
        if self.how == "429":
            return httpx.Response(429, text="Too Many Requests", request=request)
        if self.how == "answer-lost":
            await self.inner.handle_async_request(request)
        raise httpx.ReadError("connection reset", request=request)


@pytest.mark.parametrize("room", [1, 0], ids=["batched", "singles"])
@pytest.mark.parametrize("how", ["never-sent", "answer-lost", "429"])
async def test_an_application_without_answer_is_in_doubt_and_found_applied_once(
        settings: ConnectionSettings, tokens: SandboxTokens, ledger: Ledger,
        recorder: Recorder, control: httpx.AsyncClient, how: str, room: int) -> None:
    provider = QuickBooksProvider(
        replace(settings, transport=_LoseApplications(recorder, how), budget=_Budget(room)),
        tokens)
    bill = await _books(provider, ledger)
    notes = _notes(2)
    results = await provider.push_batch([ledger.request(Entity.CREDIT_NOTE, note)
                                         for note in notes])
    # Transient on a create: the engine keeps the memo in doubt and looks for it next (a
    # RateLimited would put the job back as it was, and its next create make a second memo).
    assert all(isinstance(result, Transient) for result in results)
    clean = QuickBooksProvider(settings, tokens)
    found = [await clean.find(Entity.CREDIT_NOTE, note) for note in notes]
    await provider.aclose()
    await clean.aclose()
    assert all(ref is not None for ref in found)
    objects = (await state(control))["objects"]
    assert (objects["credit_note"], objects["payment"]) == (2, 2)  # each made and applied once
    remote = (await raw_get(control, tokens, f"invoice/{bill.remote_id}"))["Invoice"]
    assert remote["Balance"] == 255.5
