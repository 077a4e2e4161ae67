"""A sent invoice cut short between its two requests, through the real engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from wave_support import customer, invoice, item

from engine import InvoiceStatus


class RefuseTheStepAfterCreate(httpx.AsyncBaseTransport):
    """Once the first invoiceCreate has landed, arms the sandbox's own 429 (via
    `/_sandbox/faults`) for the request after it: the invoiceMarkSent of the same push."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.armed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = await self.inner.handle_async_request(request)
        if not self.armed and b"invoiceCreate" in request.content:
            self.armed = True
            arm = httpx.Request("POST", "http://wave.sandbox/_sandbox/faults",
                                json={"kind": "rate_limit", "count": 1, "retry_after": 1,
                                      "path_contains": "/graphql"})
            await self.inner.handle_async_request(arm)
        return response


@pytest.mark.e2e
async def test_429_on_mark_sent_ends_synced_not_duplicate(
        make_world: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: the 429 came back as RateLimited, the engine released the job and sent the
    # create again, which failed as "Invoice number SD-1001 is already in use." — ours.
    world = await make_world(("wave",))
    refusing = RefuseTheStepAfterCreate(world.transport("wave"))
    monkeypatch.setattr(world, "transport", lambda platform: refusing)
    await world.ledger.upsert([customer(), item(),
                               invoice(status=InvoiceStatus.SENT)])
    await world.sync()
    assert refusing.armed
    job = await world.job("wave", "invoice", "inv1")
    assert (job["status"], job["error_message"]) == ("synced", None)
    attempts = await world.store.fetch_all(
        "SELECT outcome, error_class FROM sync_attempts WHERE job_id = ? ORDER BY id",
        (job["id"],))
    assert [(a["outcome"], a["error_class"]) for a in attempts] == [
        ("retry", "transient"), ("reconciled", None)]
    books = world.apps["wave"].state.books
    ours = [i for i in books.invoices.values() if i["invoiceNumber"] == "SD-1001"]
    assert [i["status"] for i in ours] == ["SENT"]
