"""FreshBooks' webhooks from the sandbox: callbacks registered through the events API, and
the forms FreshBooks posts to them, signed as FreshBooks signs them.

Events API (guarded like the accounting API, under `/events/account/{accountId}/events/`):
    GET    callbacks                  the account's callbacks, paged like a list
    POST   callbacks                  `{"callback": {"event": "payment.create", "uri": …}}`;
                                      FreshBooks then posts `name=callback.verify&object_id=
                                      <callback id>&verifier=<code>` to the uri
    PUT    callbacks/{id}             `{"callback": {"verifier": code}}` activates it;
                                      `{"callback": {"resend": true}}` sends the code again
    DELETE callbacks/{id}
An event is `<object>.<create|update|delete>` or an object alone (all three); anything else
is FreshBooks' 422 `event: Value error, Unrecognized event.` (SDK fixture). Only a verified
callback gets events (PLATFORMS.md §4.7).

Every write of the books is an event for the callbacks that want it: a form `name=…&
object_id=…&account_id=…&business_id=…&identity_id=1&user_id=1`, header
`X-FreshBooks-Hmac-SHA256`. A payment's effect on its invoice is not an event of its own
(UNCERTAIN: FreshBooks documents the events, not which writes raise them).

Control (a real FreshBooks has none of it):
    GET  /_sandbox/webhooks           callbacks, pending forms, every delivery and its answer
    POST /_sandbox/webhooks           `{"url": …, "key": …}` registers a verified callback
                                      for every event, signed with `key` (the verifier a
                                      test already holds); and the faults, each optional:
                                      `"duplicates": N` (the next N forms sent twice),
                                      `"bad_signatures": N` (the next N signed with a wrong
                                      key), `"out_of_order": true` (each delivery round sends
                                      its forms newest first), `"auto": false` (forms wait
                                      for a deliver call instead of going out at once)
    POST /_sandbox/webhooks/deliver   send what is pending now; answers the deliveries
FreshBooks delivers "a few seconds to several minutes" late; the sandbox sends at once, in a
task of its own after the write's answer, so a test waits on the delivery log, not on time.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._webhooks import ENTITIES, FORM, SIGNATURE_HEADER, VERIFY_EVENT, signature
from ._state import Books, Json

CALLBACKS = "/events/account/{account_id}/events/callbacks"
ACTIONS = ("create", "update", "delete")
EVERY_EVENT = "*"
"""The event of a callback the control API registers: all of them (the sandbox's own)."""
_SEMANTIC = "The request was well-formed but was unable to be followed due to semantic errors."


@dataclass
class Callback:
    callbackid: int
    event: str
    uri: str
    verifier: str
    verified: bool = False

    def wants(self, event: str) -> bool:
        return self.verified and self.event in (EVERY_EVENT, event, event.partition(".")[0])

    def view(self) -> Json:
        return {"callbackid": self.callbackid, "id": self.callbackid, "event": self.event,
                "uri": self.uri, "verified": self.verified}


@dataclass
class Faults:
    duplicates: int = 0
    bad_signatures: int = 0
    out_of_order: bool = False


@dataclass
class Delivery:
    uri: str
    form: dict[str, str]
    key: str | None
    """What the form is signed with; None for the unsigned verification step."""
    status: int | None = None
    error: str | None = None
    signed_badly: bool = False
    duplicate: bool = False


@dataclass
class Webhooks:
    """The account's callbacks and the forms on their way to them."""

    books: Books
    transport: httpx.AsyncBaseTransport | None = None
    """Where forms go: None is the network (a sandbox served on loopback posting to the
    service's port); a test hands in `httpx.ASGITransport(app=service)`."""
    auto: bool = True
    faults: Faults = field(default_factory=Faults)
    callbacks: dict[int, Callback] = field(default_factory=dict)
    pending: list[Delivery] = field(default_factory=list)
    delivered: list[Delivery] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(2001))
    _task: asyncio.Task[list[Delivery]] | None = None

    def __post_init__(self) -> None:
        self.books.listeners.append(self.changed)

    def register(self, event: str, uri: str, *, verifier: str | None = None) -> Callback:
        """A callback; unverified ones are sent their verification step first."""
        callback = Callback(next(self._ids), event, uri, verifier or secrets.token_urlsafe(24),
                            verified=verifier is not None)
        self.callbacks[callback.callbackid] = callback
        if not callback.verified:
            self.send_verifier(callback)
        return callback

    def send_verifier(self, callback: Callback) -> None:
        self._queue(Delivery(callback.uri, {**self._about(VERIFY_EVENT, callback.callbackid),
                                            "verifier": callback.verifier}, None))

    def changed(self, event: str, object_id: int) -> None:
        for callback in self.callbacks.values():
            if callback.wants(event):
                self._queue(Delivery(callback.uri, self._about(event, object_id),
                                     callback.verifier))

    async def deliver(self) -> list[Delivery]:
        """Send every pending form (and those queued while sending), faults applied."""
        sent: list[Delivery] = []
        async with httpx.AsyncClient(transport=self.transport, timeout=10.0) as client:
            while self.pending:
                batch, self.pending = self.pending, []
                if self.faults.out_of_order:
                    batch.reverse()
                for delivery in batch:
                    copies = [delivery]
                    if self.faults.duplicates > 0:
                        self.faults.duplicates -= 1
                        copies.append(Delivery(delivery.uri, delivery.form, delivery.key,
                                               duplicate=True))
                    for copy in copies:
                        await self._post(client, copy)
                        sent.append(copy)
        self.delivered += sent
        return sent

    async def idle(self) -> None:
        """Wait until what is pending has gone out (auto delivery)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def _queue(self, delivery: Delivery) -> None:
        self.pending.append(delivery)
        if not self.auto or (self._task is not None and not self._task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a write outside any request (seeding): sent with the next delivery
        self._task = loop.create_task(self.deliver())

    async def _post(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        headers = {"Content-Type": FORM}
        if delivery.key is not None:
            key = delivery.key
            if self.faults.bad_signatures > 0:
                self.faults.bad_signatures -= 1
                delivery.signed_badly = True
                key = f"not-{key}"
            headers[SIGNATURE_HEADER] = signature(key, delivery.form)
        try:
            response = await client.post(delivery.uri, content=urlencode(delivery.form),
                                         headers=headers)
            delivery.status = response.status_code
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"

    def _about(self, name: str, object_id: int) -> dict[str, str]:
        return {"name": name, "object_id": str(object_id), "account_id": self.books.account_id,
                "business_id": str(self.books.business_id), "identity_id": "1",
                "user_id": "1"}


def known_event(event: str) -> bool:
    noun, _, action = event.partition(".")
    return noun in ENTITIES and action in ("", *ACTIONS)


@dataclass
class WebhookRoutes:
    webhooks: Webhooks

    def api(self) -> list[Route]:
        """The events API, guarded like the accounting routes."""
        return [Route(CALLBACKS, self._list, methods=["GET"]),
                Route(CALLBACKS, self._create, methods=["POST"]),
                Route(f"{CALLBACKS}/{{callback_id}}", self._update, methods=["PUT"]),
                Route(f"{CALLBACKS}/{{callback_id}}", self._delete, methods=["DELETE"])]

    def control(self) -> list[Route]:
        return [Route("/_sandbox/webhooks", self._status, methods=["GET"]),
                Route("/_sandbox/webhooks", self._configure, methods=["POST"]),
                Route("/_sandbox/webhooks/deliver", self._deliver, methods=["POST"])]

    async def _list(self, request: Request) -> Response:
        callbacks = [c.view() for c in self.webhooks.callbacks.values()
                     if c.event != EVERY_EVENT]
        return _result({"callbacks": callbacks, "page": 1, "per_page": 100,
                        "pages": max(math.ceil(len(callbacks) / 100), 1),
                        "total": len(callbacks)})

    async def _create(self, request: Request) -> Response:
        body = await _callback_body(request)
        event, uri = str(body.get("event") or ""), str(body.get("uri") or "")
        problems = [] if known_event(event) else ["event: Value error, Unrecognized event."]
        if not uri.startswith(("http://", "https://")):
            problems.append("uri: Value error, A valid URI is required.")
        if problems:
            return _semantic(problems)
        return _result({"callback": self.webhooks.register(event, uri).view()})

    async def _update(self, request: Request) -> Response:
        callback = self._find(request)
        if callback is None:
            return _missing(request)
        body = await _callback_body(request)
        if body.get("resend"):
            self.webhooks.send_verifier(callback)
        elif "verifier" in body:
            if str(body["verifier"]) != callback.verifier:
                return _semantic(["verifier: Value error, Invalid verifier."])
            callback.verified = True
        return _result({"callback": callback.view()})

    async def _delete(self, request: Request) -> Response:
        callback = self._find(request)
        if callback is None:
            return _missing(request)
        del self.webhooks.callbacks[callback.callbackid]
        return _result({})

    async def _status(self, request: Request) -> Response:
        hooks = self.webhooks
        return JSONResponse({"callbacks": [c.view() for c in hooks.callbacks.values()],
                             "auto": hooks.auto, "faults": asdict(hooks.faults),
                             "pending": len(hooks.pending),
                             "deliveries": [_logged(d) for d in hooks.delivered]})

    async def _configure(self, request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        hooks = self.webhooks
        unknown = set(body) - {"url", "key", "auto", *asdict(hooks.faults)}
        if unknown or ("url" in body) != ("key" in body):
            return JSONResponse({"error": "give url and key together, and only auto, "
                                 f"duplicates, bad_signatures, out_of_order (got "
                                 f"{sorted(body)})"}, status_code=400)
        if "url" in body:
            hooks.register(EVERY_EVENT, str(body["url"]), verifier=str(body["key"]))
        if "auto" in body:
            hooks.auto = bool(body["auto"])
        for name in asdict(hooks.faults):
            if name in body:
                setattr(hooks.faults, name, type(getattr(hooks.faults, name))(body[name]))
        return await self._status(request)

    async def _deliver(self, request: Request) -> Response:
        await self.webhooks.idle()
        return JSONResponse({"delivered": [_logged(d) for d in await self.webhooks.deliver()]})

    def _find(self, request: Request) -> Callback | None:
        raw = str(request.path_params["callback_id"])
        return self.webhooks.callbacks.get(int(raw)) if raw.isdigit() else None


async def _callback_body(request: Request) -> Json:
    try:
        payload = await request.json()
    except ValueError:
        payload = None
    body = payload.get("callback") if isinstance(payload, dict) else None
    return body if isinstance(body, dict) else {}


def _logged(delivery: Delivery) -> Json:
    return {"uri": delivery.uri, "name": delivery.form["name"],
            "object_id": delivery.form["object_id"], "status": delivery.status,
            "error": delivery.error, "signed_badly": delivery.signed_badly,
            "duplicate": delivery.duplicate}


def _result(result: Json) -> JSONResponse:
    return JSONResponse({"response": {"result": result}})


def _semantic(details: list[str]) -> JSONResponse:
    """The events service's own error shape (SDK fixture), not the accounting one."""
    return JSONResponse({"errno": 422, "message": _SEMANTIC, "details": details},
                        status_code=422)


def _missing(request: Request) -> JSONResponse:
    return JSONResponse({"errno": 404, "message": "Requested resource could not be found.",
                         "details": [f"callback {request.path_params['callback_id']}"]},
                        status_code=404)
