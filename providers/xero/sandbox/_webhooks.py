"""The sandbox's webhooks out: Xero's envelope and signature, sent to a configured URL.

After every API call (and every person's action on `/_sandbox/…`) that changed contacts,
invoices or credit notes, one POST goes to the URL with Xero's envelope (PLATFORMS.md §2.9,
spec xero-webhooks.yaml): `{"events": [{"resourceUrl", "resourceId", "eventDateUtc",
"eventType": "CREATE|UPDATE", "eventCategory": "CONTACT|INVOICE|CREDITNOTE", "tenantId",
"tenantType": "ORGANISATION"}], "firstEventSequence", "lastEventSequence", "entropy"}`, signed
in `x-xero-signature` with base64(HMAC-SHA256(webhook key, raw body)). Credit-note events carry
`data: {"Type", "Status"}` as Xero's do.

What is emitted, and why: Xero has webhook categories for contacts, invoices and credit notes
(and app subscriptions) only, no PAYMENT or ITEM category. A payment made, deleted or moved
changes the invoice it pays (AmountDue, AmountPaid, Status, UpdatedDateUTC), so it reaches a
receiver as an INVOICE UPDATE of that invoice; a receiver reads payments from the feed on it.
Item edits send nothing.

Deliveries go out in the background, as Xero's do, each one logged with the endpoint's answer;
`drain()` waits for those under way (what a test waits on, instead of a time). Faults, each
for the next N deliveries: `duplicate` (the same body and signature sent twice, as Xero's
retries do), `out_of_order` (held back and sent after the delivery that follows it) and
`bad_signature` (signed with another key). `intent()` is Xero's intent-to-receive check: a
correctly and an incorrectly signed `events: []` payload, passed when the endpoint answers
200 with an empty body and 401 respectively.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

import httpx

from providers._sandbox import Clock

from .._webhooks import signature as sign
from ._state import Company, Json

API_URL = "https://api.xero.com/api.xro/2.0"
_COLLECTIONS = {"CONTACT": "Contacts", "INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}
FAULTS = ("duplicate", "out_of_order", "bad_signature")


@dataclass
class WebhookEmitter:
    company: Company
    clock: Clock
    tenant_id: str
    transport: httpx.AsyncBaseTransport | None = None
    """How deliveries travel: None is the network (loopback); tests hand in an ASGI app's."""
    url: str | None = None
    key: str | None = None
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULTS, 0))
    deliveries: list[Json] = field(default_factory=list)
    """Every delivery sent: sequences, whether it was signed right, the endpoint's answer."""
    sequence: int = 0
    _held: tuple[bytes, str, bool] | None = None
    _queue: list[tuple[bytes, str, bool]] = field(default_factory=list)
    _sender: asyncio.Task[None] | None = None

    def configure(self, body: Json) -> Json:
        """`{"url", "key", "faults": {"duplicate": N, …}}`, each part optional."""
        if "url" in body:
            self.url = str(body["url"]) if body["url"] else None
        if "key" in body:
            self.key = str(body["key"]) if body["key"] else None
        unknown = set(body.get("faults") or {}) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown webhook faults {sorted(unknown)}; known: {FAULTS}")
        for name, count in (body.get("faults") or {}).items():
            self.faults[name] = int(count)
        return self.report()

    def report(self) -> Json:
        return {"url": self.url, "configured": self.key is not None and self.url is not None,
                "faults": dict(self.faults), "deliveries": list(self.deliveries),
                "held": self._held is not None}

    def emit(self) -> None:
        """Send what changed since the last call, as one delivery (nothing when unset)."""
        changes = self.company.take_changes()
        if not changes or self.url is None or self.key is None:
            return
        created: dict[tuple[str, str], bool] = {}
        for category, resource_id, new in changes:
            created[(category, resource_id)] = created.get((category, resource_id), False) or new
        first = self.sequence + 1
        events = [self._event(category, resource_id, new)
                  for (category, resource_id), new in created.items()]
        self.sequence += len(events)
        body = json.dumps({"events": events, "firstEventSequence": first,
                           "lastEventSequence": self.sequence,
                           "entropy": _entropy()}).encode()
        signed_right = not self._spend("bad_signature")
        signature = sign(self.key if signed_right else self.key + "-wrong", body)
        copies = 2 if self._spend("duplicate") else 1
        if self._spend("out_of_order"):
            self._release_held()
            self._held = (body, signature, signed_right)
            return
        for _ in range(copies):
            self._start(body, signature, signed_right)
        self._release_held()

    async def drain(self) -> Json:
        """Wait for every delivery under way; a delivery still held back for out-of-order is
        sent now (nothing follows it to overtake it)."""
        self._release_held()
        while self._sender is not None and not self._sender.done():
            await self._sender
        return self.report()

    async def intent(self) -> Json:
        """Xero's intent-to-receive: one correctly signed and one incorrectly signed
        validation payload; passed when the answers are 200 (empty body) and 401."""
        if self.url is None or self.key is None:
            raise ValueError("configure the webhook url and key first")
        body = json.dumps({"events": [], "lastEventSequence": 0, "firstEventSequence": 0,
                           "entropy": _entropy()}).encode()
        right = await self._post(body, sign(self.key, body))
        wrong = await self._post(body, sign(self.key + "-wrong", body))
        passed = right["status"] == 200 and right["empty"] and wrong["status"] == 401
        return {"passed": passed, "signed": right, "badly_signed": wrong}

    def _event(self, category: str, resource_id: str, created: bool) -> Json:
        event: Json = {
            "resourceUrl": f"{API_URL}/{_COLLECTIONS[category]}/{resource_id}",
            "resourceId": resource_id,
            "eventDateUtc": self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
            "eventType": "CREATE" if created else "UPDATE",
            "eventCategory": category, "tenantId": self.tenant_id,
            "tenantType": "ORGANISATION",
        }
        note = self.company.credit_notes.get(resource_id) if category == "CREDITNOTE" else None
        if note is not None:
            event["data"] = {"Type": note.get("Type"), "Status": note.get("Status")}
        return event

    def _spend(self, fault: str) -> bool:
        if self.faults[fault] <= 0:
            return False
        self.faults[fault] -= 1
        return True

    def _release_held(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._start(*held)

    def _start(self, body: bytes, signature: str, signed_right: bool) -> None:
        """Queue a delivery: one sender sends them one after another, in queue order, so
        the order a fault chose is the order they arrive in."""
        self._queue.append((body, signature, signed_right))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_queued())

    async def _send_queued(self) -> None:
        while self._queue:
            await self._deliver(*self._queue.pop(0))

    async def _deliver(self, body: bytes, signature: str, signed_right: bool) -> None:
        envelope: dict[str, Any] = json.loads(body)
        answer = await self._post(body, signature)
        self.deliveries.append({"first": envelope["firstEventSequence"],
                                "last": envelope["lastEventSequence"],
                                "events": len(envelope["events"]),
                                "signed_right": signed_right, **answer})

    async def _post(self, body: bytes, signature: str) -> Json:
        assert self.url is not None
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=5.0) as client:
                response = await client.post(self.url, content=body, headers={
                    "x-xero-signature": signature, "content-type": "application/json"})
        except httpx.HTTPError as exc:
            return {"status": None, "empty": True, "error": f"{type(exc).__name__}: {exc}"}
        return {"status": response.status_code, "empty": not response.content, "error": None}


def _entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))
