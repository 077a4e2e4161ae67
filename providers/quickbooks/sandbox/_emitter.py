"""The sandbox's outgoing webhooks, in QBO's classic envelope, signed as Intuit signs them.

    POST /_sandbox/webhooks        {"url": "…", "key": "<verifier token>", "faults":
                                   {"duplicate": N, "out_of_order": N, "bad_signature": N}}
                                   (the shape the Xero sandbox takes); {"url": null} stops.
                                   Faults count down over the next N notifications: sent
                                   twice; held until N are due, then sent newest first;
                                   signed with another token
    GET  /_sandbox/webhooks        the settings, pending faults and every delivery so far
    POST /_sandbox/webhooks/drain  send what is due and wait for every answer, then as GET

Every change to the company (create, update, a side effect such as a payment moving an
invoice's balance, delete, void) is an entity in the next notification: the changes one
request makes go out together, as one `eventNotifications` POST, the way Intuit aggregates
(developer.intuit.com …/develop/webhooks/managing-webhooks-notifications):

    {"eventNotifications":[{"realmId":"…","dataChangeEvent":{"entities":[
        {"name":"Payment","id":"145","operation":"Create","lastUpdated":"2026-…-0700"}]}}]}

with header `intuit-signature` = base64(HMAC-SHA256(verifier token, raw body)). This is the
classic payload; Intuit's CloudEvents payload (a JSON array of `qbo.<entity>.<op>.v1`
events) is not emitted. Tests wait for deliveries with `drain()` (or its route from another
process), never on time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from providers._sandbox import Clock

from ._state import Company
from ._wire import PACIFIC

SIGNATURE_HEADER = "intuit-signature"
FAULTS = {"duplicate": "duplicates", "out_of_order": "out_of_order",
          "bad_signature": "bad_signatures"}
"""Control name → the emitter's count of notifications the fault is still due for."""


def sign(token: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Delivery:
    entities: int
    signed_right: bool
    status: int | None = None
    error: str | None = None


@dataclass
class WebhookEmitter:
    """Listens to one company and posts what changed to the configured URL."""

    company: Company
    clock: Clock
    transport: httpx.AsyncBaseTransport | None = None
    """How deliveries travel: None is the network (loopback in the demo); tests hand an
    `httpx.ASGITransport` of the app that receives them."""
    url: str | None = None
    verifier_token: str = ""
    duplicates: int = 0
    out_of_order: int = 0
    bad_signatures: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    _pending: list[dict[str, str]] = field(default_factory=list)
    _held: list[tuple[bytes, int]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.company.listeners.append(self._changed)

    def routes(self) -> list[BaseRoute]:
        return [Route("/_sandbox/webhooks", self._configure, methods=["POST"]),
                Route("/_sandbox/webhooks", self._report, methods=["GET"]),
                Route("/_sandbox/webhooks/drain", self._drain, methods=["POST"])]

    async def drain(self) -> None:
        """Wait until every notification due so far has been answered (or failed)."""
        self.flush()
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    # -- control --------------------------------------------------------------------------

    async def _configure(self, request: Request) -> Response:
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            body = None
        faults = body.get("faults", {}) if isinstance(body, dict) else None
        if (not isinstance(body, dict) or set(body) - {"url", "key", "faults"}
                or not isinstance(faults, dict) or set(faults) - set(FAULTS)):
            return JSONResponse({"error": "known fields: url, key, faults "
                                 f"{{{', '.join(FAULTS)}}}"}, status_code=400)
        try:
            counts = {FAULTS[name]: max(int(count), 0) for name, count in faults.items()}
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": f"bad fault count: {exc}"}, status_code=400)
        if "url" in body:
            self.url = body["url"] or None
        self.verifier_token = str(body.get("key", self.verifier_token))
        for attribute, count in counts.items():
            setattr(self, attribute, count)
        return await self._report(request)

    async def _report(self, request: Request) -> Response:
        return JSONResponse({"url": self.url, "faults": {
            name: getattr(self, attribute) for name, attribute in FAULTS.items()},
            "held": len(self._held), "deliveries": [asdict(d) for d in self.deliveries]})

    async def _drain(self, request: Request) -> Response:
        await self.drain()
        return await self._report(request)

    # -- emission -------------------------------------------------------------------------

    def _changed(self, entity: str, object_id: str, operation: str) -> None:
        if self.url is not None:
            self._pending.append({"name": entity, "id": object_id, "operation": operation,
                                  "lastUpdated": self.clock.now().astimezone(PACIFIC)
                                  .strftime("%Y-%m-%dT%H:%M:%S%z")})

    def flush(self) -> None:
        """Send what changed since the last flush as one notification: called after every
        request the sandbox answers (`FlushAfterEachRequest`), and by `drain`."""
        entities, self._pending = self._pending, []
        if not entities or self.url is None:
            return
        body = json.dumps({"eventNotifications": [{
            "realmId": self.company.realm_id,
            "dataChangeEvent": {"entities": entities}}]}).encode()
        due = [(body, len(entities))]
        if self.out_of_order:
            self.out_of_order -= 1
            self._held.extend(due)
            if self.out_of_order:
                return
            due, self._held = list(reversed(self._held)), []
        for each, count in due:
            copies = 1
            if self.duplicates:
                self.duplicates -= 1
                copies = 2
            for _ in range(copies):
                self._send(each, count)

    def _send(self, body: bytes, entities: int) -> None:
        right = not self.bad_signatures
        if not right:
            self.bad_signatures -= 1
        token = self.verifier_token if right else self.verifier_token + "-not-the-token"
        delivery = Delivery(entities=entities, signed_right=right)
        self.deliveries.append(delivery)
        task = asyncio.get_running_loop().create_task(
            self._post(str(self.url), body, sign(token, body), delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, body: bytes, signature: str, delivery: Delivery) -> None:
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=10.0) as client:
                answer = await client.post(url, content=body, headers={
                    SIGNATURE_HEADER: signature, "content-type": "application/json"})
            delivery.status = answer.status_code
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"


class FlushAfterEachRequest:
    """ASGI middleware: the changes one request made leave as one notification after it."""

    def __init__(self, app: ASGIApp, emitter: WebhookEmitter) -> None:
        self.app = app
        self.emitter = emitter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.emitter.flush()
