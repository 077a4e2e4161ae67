"""A stand-in for a business's own app, feeding syncdesk live over the HTTP API.

The console demo runs it so that invoices arrive while you watch: it talks to the API as any
app would (real HTTP, its key in the header), never to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from engine import Item
from engine._demo import ANCHOR


@dataclass(frozen=True)
class DemoApp:
    api_url: str
    """The API's base, ending in `/v1`."""
    key: str
    customer_ids: Sequence[str]
    item: Item
    interval: float = 4.0
    transport: httpx.AsyncBaseTransport | None = None
    """In tests, the API app itself, so no port is needed."""

    async def run(self, stop: asyncio.Event, *, count: int | None = None) -> list[str]:
        """PUT a new sent invoice every `interval` until `stop` (or `count` are sent);
        the ids sent, each answered 2xx, so committed with its sync jobs."""
        sent: list[str] = []
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=30,
                                     transport=self.transport) as client:
            for n in itertools.count(1) if count is None else range(1, count + 1):
                number = f"APP-{n}"
                answer = await client.put(f"/invoices/{number}", json={
                    "number": number, "issue_date": ANCHOR.isoformat(), "status": "sent",
                    "customer_id": self.customer_ids[(n - 1) % len(self.customer_ids)],
                    "lines": [{"item_id": self.item.id, "quantity": n % 5 + 1,
                               "unit_price": str(self.item.unit_price)}]})
                answer.raise_for_status()
                sent.append(number)
                # The app's own cadence; a stop ends the wait at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
                if stop.is_set():
                    break
        return sent
