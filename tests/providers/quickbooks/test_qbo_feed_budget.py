"""The feed and the audit's list reads at QuickBooks' real limits, through the rate budget:
many more requests than 10 a second's worth, and not one 429.

The sandbox throttles as QBO does (10 requests a second, 500 a minute per realm). 1,050
invoices changed are read as 21 feed pages of 50, which two CDC answers serve (1,000 is one
answer's most), and listed in query pages of 50 (22 reads): unbudgeted, the 11th request
within a second is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import httpx

from engine import ConnectionSettings, Entity
from engine._limiter import RateGate
from providers._sandbox import Clock
from providers.quickbooks import CAPABILITIES, PLATFORM, QuickBooksProvider, create_sandbox_app
from providers.quickbooks.sandbox._rules import BUILDERS
from tests.providers._support import connect

from .conftest import BASE, REALM

CHANGED = 1050


@dataclass
class Counting(httpx.AsyncBaseTransport):
    """The sandbox, with every 429 it answers counted on the client's side too."""

    inner: httpx.AsyncBaseTransport
    throttled: int = 0
    sent: list[httpx.Request] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = await self.inner.handle_async_request(request)
        self.throttled += response.status_code == 429
        return response


def _seed(app: Any, clock: Clock) -> None:
    """Invoices a person changed over a few seconds, straight into the company."""
    company = app.state.company
    for n in range(CHANGED):
        if n % 100 == 0:
            clock.advance(1)
        company.create("Invoice", {"DocNumber": f"B-{n}", "CustomerRef": {"value": "1"},
                                   "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 10,
                                             "SalesItemLineDetail": {"ItemRef": {"value": "1"},
                                                                     "Qty": 1,
                                                                     "UnitPrice": 10}}]},
                       BUILDERS["Invoice"])


async def test_a_long_feed_read_and_a_listing_draw_no_429_at_real_limits(clock: Clock) -> None:
    app = create_sandbox_app(clock=clock)  # limits on, as QuickBooks counts them
    since = clock.now() + timedelta(seconds=1)
    _seed(app, clock)
    sandbox = Counting(httpx.ASGITransport(app=app))
    settings = ConnectionSettings(platform="quickbooks", tenant_id=REALM,
                                  client_id="syncdesk-test", client_secret="secret",
                                  base_url=BASE, timeout=30.0, transport=sandbox,
                                  options={"page_size": "50"})
    tokens, _ = await connect(PLATFORM, settings)
    # Made after connect's lookup, as the engine makes a worker's: the gate counts that
    # request it did not send as its first second's (10 a second, no spare).
    budget = RateGate(CAPABILITIES.limits)
    provider = QuickBooksProvider(replace(settings, budget=budget), tokens)
    before = app.state.sandbox.requests
    try:
        seen: set[str] = set()
        cursor, reads = None, 0
        while True:
            page = await provider.read_changes(Entity.INVOICE, cursor, since, limit=50)
            seen.update(change.remote_id for change in page.changes)
            cursor, reads = page.cursor, reads + 1
            if not page.more:
                break
        states = [state async for state in provider.list_states(Entity.INVOICE)]
    finally:
        await provider.aclose()
    assert (len(seen), reads) == (CHANGED, 21)
    assert sum(r.url.path.endswith("/cdc") for r in sandbox.sent) == 2
    assert len(states) == CHANGED + 1  # and the demo company's own invoice
    assert app.state.sandbox.limiter.rejected == 0
    assert sandbox.throttled == 0
    # Every request the sandbox answered took a slot of the one budget.
    assert budget.requests == app.state.sandbox.requests - before == 2 + 22
