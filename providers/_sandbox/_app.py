"""Assemble a platform sandbox: its API routes behind the shared guard, plus OAuth and control.

Every API request passes, in order: fault injection, bearer-token check, rate limiter, the
platform's handler, then the platform's response headers. Errors at each step are rendered by
the platform's `PlatformDialect`, so clients see that platform's own bodies and codes.

Control API (for tests and the demo; a real platform has none of it):
    GET  /_sandbox/state           objects per entity, faults injected, refreshes, 429s
    GET  /_sandbox/marks           per entity, per local record id: how many live objects carry
                                   syncdesk's mark for it (see `Mark`); the duplicate audit
    POST /_sandbox/faults          {"kind": "error|timeout|drop|rate_limit|garbage", "count": N, …}
    DELETE /_sandbox/faults        clear pending faults
    POST /_sandbox/delete          {"entity": "invoice", "id": "…"}: delete behind the client's back
    POST /_sandbox/revoke          revoke every grant (the user disconnected the app)
    POST /_sandbox/expire-tokens   expire every access token now
    POST /_sandbox/clock           {"advance": seconds}
    POST /_sandbox/limits          {"per_minute": N, "per_day": N, "concurrency": N,
                                    "enabled": bool}
    POST /_sandbox/hang            {"seconds": N}: how long `timeout` and `drop` faults hang
    GET|POST /_sandbox/idempotency {"window_seconds": N}: how long idempotency keys are
                                   remembered (sandbox clock); answers the window and how many
                                   keys are live. 404 on Wave and FreshBooks: they have none.
    GET|POST /_sandbox/latency     {"seconds": N}: how long every API request takes to reach
                                   the platform (see `SandboxContext.latency`)
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ._clock import Clock
from ._faults import Fault, FaultKind, FaultPlan
from ._keys import KeyMemory
from ._oauth import AuthFailure, TokenAuthority
from ._ratelimit import RateLimiter, RateVerdict

Handler = Callable[[Request], Awaitable[Response]]

MARKED_ENTITIES = ("customer", "item", "invoice", "payment", "credit_note")
"""Entities every `/_sandbox/marks` answer lists, empty or not (the engine's names)."""


@dataclass(frozen=True)
class Mark:
    """One object on a sandbox that carries syncdesk's mark for local record `record_id`.

    Only what exists counts: a deleted object is gone, a voided one is still there. The mark is
    the one the platform's `find` relies on; `record_id` is what follows `syncdesk:` in it
    (on Xero, a contact whose id did not fit ContactNumber has `#` and a digest there).
    """

    entity: str
    """The engine's entity name, or a platform's own kind of marked object (QuickBooks and
    FreshBooks apply a credit note with a payment: `credit_note_payment`)."""
    record_id: str
    pays: tuple[str, ...] = ()
    """For a payment: the local ids of the invoices it applies to (`remote:<id>` for an
    invoice syncdesk did not mark), one entry per application."""


class PlatformDialect(Protocol):
    """How one platform speaks: where its tenant is, how its errors and tokens look."""

    token_path: str
    authorize_path: str
    revoke_path: str

    def tenant_of(self, request: Request) -> str | None:
        """The tenant a request addresses, or None where the platform has no tenant header."""
        ...

    def auth_error(self, failure: AuthFailure, request: Request) -> Response: ...

    def rate_limited(self, verdict: RateVerdict, request: Request) -> Response: ...

    def server_error(self, status: int, request: Request) -> Response: ...

    def decorate(self, response: Response, verdict: RateVerdict, request: Request) -> None:
        """Add the platform's own headers (quota remaining, transaction id) to a response."""
        ...

    def token_response(self, issued: dict[str, object]) -> dict[str, object]: ...

    def authorize_params(self) -> dict[str, str]:
        """Extra query parameters on the consent redirect (QBO adds realmId)."""
        ...

    def counts(self) -> dict[str, int]:
        """Objects that exist now, per entity: how tests prove there are no duplicates."""
        ...

    def delete(self, entity: str, object_id: str) -> bool:
        """Delete an object behind the client's back; False if there is no such object."""
        ...

    def marks(self) -> Iterable[Mark]:
        """Every live object carrying syncdesk's mark: what the duplicate audit counts."""
        ...


@dataclass
class SandboxContext:
    clock: Clock
    authority: TokenAuthority
    limiter: RateLimiter
    faults: FaultPlan = field(default_factory=FaultPlan)
    keys: KeyMemory[Any] | None = None
    """The platform's idempotency keys; None where it has none (Wave, FreshBooks)."""
    latency: float = 0.0
    """Seconds each API request waits before the sandbox handles it. A real platform answers
    in ~0.1-0.4 s, and that wait is what a client's concurrency overlaps; tests keep 0 so
    they end fast. An `asyncio.sleep`, so a slow sandbox costs no CPU on either side. Spent
    before the guard: rate limits and concurrency count a request when it arrives, as the
    platform does."""
    requests: int = 0


def build_sandbox_app(
    dialect: PlatformDialect,
    context: SandboxContext,
    api_routes: Sequence[Route],
    *,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """A Starlette app serving `api_routes` behind the guard, plus OAuth and control routes."""
    guarded = [
        Route(route.path, _guard(route.endpoint, dialect, context), methods=route.methods,
              name=route.name)
        for route in api_routes
    ]
    app = Starlette(routes=[*_oauth_routes(dialect, context), *_control_routes(dialect, context),
                            *extra_routes, *guarded])
    app.state.sandbox = context
    app.state.dialect = dialect
    return app


def _guard(endpoint: Callable[..., Any], dialect: PlatformDialect,
           context: SandboxContext) -> Handler:
    async def guarded(request: Request) -> Response:
        if context.latency > 0:
            await asyncio.sleep(context.latency)
        context.requests += 1
        fault = context.faults.take(request.method, request.url.path)
        if fault is not None and fault.kind is not FaultKind.DROP:
            return await _misbehave(fault, dialect, context, request)
        failure = context.authority.check(
            request.headers.get("authorization"), dialect.tenant_of(request)
        )
        if failure is not None:
            return dialect.auth_error(failure, request)
        tenant = dialect.tenant_of(request) or "default"
        with context.limiter.admit(tenant) as verdict:
            if not verdict.allowed:
                return dialect.rate_limited(verdict, request)
            response: Response = await endpoint(request)
        dialect.decorate(response, verdict, request)
        if fault is not None:  # DROP: the write is committed, the answer never arrives
            await asyncio.sleep(context.faults.hang_seconds)
        return response

    return guarded


async def _misbehave(fault: Fault, dialect: PlatformDialect, context: SandboxContext,
                     request: Request) -> Response:
    if fault.kind is FaultKind.ERROR:
        return dialect.server_error(fault.status, request)
    if fault.kind is FaultKind.RATE_LIMIT:
        return dialect.rate_limited(RateVerdict(False, "minute", fault.retry_after, 0, None),
                                    request)
    if fault.kind is FaultKind.GARBAGE:
        return Response("<html><body><h1>502 Bad Gateway</h1></body></html>",
                        status_code=200, media_type="text/html")
    await asyncio.sleep(context.faults.hang_seconds)  # TIMEOUT: nothing was written
    return dialect.server_error(504, request)


def _oauth_routes(dialect: PlatformDialect, context: SandboxContext) -> list[BaseRoute]:
    authority = context.authority

    async def authorize(request: Request) -> Response:
        params = request.query_params
        redirect_uri = params.get("redirect_uri")
        client_id = params.get("client_id", "")
        if not redirect_uri or not client_id:
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "client_id and redirect_uri are required"},
                                status_code=400)
        # The sandbox's user consents at once; a real platform shows its login page here.
        code = authority.issue_code(client_id, redirect_uri)
        query = {"code": code, "state": params.get("state", ""), **dialect.authorize_params()}
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(query)}", status_code=302)

    async def token(request: Request) -> Response:
        # Only a fault that names the token path hits it: one meant for the API must not
        # cost a refresh token (a lost refresh answer is a test's deliberate choice).
        fault = context.faults.take(request.method, request.url.path, aimed=True)
        if fault is not None and fault.kind is not FaultKind.DROP:
            return await _misbehave(fault, dialect, context, request)
        response = await issue(request)
        if fault is not None:  # DROP: the new pair is issued, its answer never arrives
            await asyncio.sleep(context.faults.hang_seconds)
        return response

    async def issue(request: Request) -> Response:
        form = await _form_or_json(request)
        client_id, client_secret = _client_credentials(request, form)
        if not authority.client_ok(client_id, client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            issued = await authority.exchange_code(form.get("code", ""), form.get("redirect_uri"))
        elif grant_type == "refresh_token":
            issued = await authority.refresh(form.get("refresh_token", ""))
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if issued is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(dialect.token_response(issued))

    async def revoke(request: Request) -> Response:
        form = await _form_or_json(request)
        authority.revoke_token(form.get("token", ""))
        return Response(status_code=200)

    return [
        Route(dialect.authorize_path, authorize, methods=["GET"]),
        Route(dialect.token_path, token, methods=["POST"]),
        Route(dialect.revoke_path, revoke, methods=["POST"]),
    ]


def _control_routes(dialect: PlatformDialect, context: SandboxContext) -> list[BaseRoute]:
    async def state(request: Request) -> Response:
        return JSONResponse({
            "objects": dialect.counts(),
            "requests": context.requests,
            "faults_injected": context.faults.injected,
            "faults_pending": len(context.faults.faults),
            "rate_limited": context.limiter.rejected,
            "refreshes": context.authority.refreshes,
            "invalid_grants": context.authority.invalid_grants,
            "regrants": context.authority.regrants,
        })

    async def marks(request: Request) -> Response:
        return JSONResponse(marks_report(dialect.marks()))

    async def add_fault(request: Request) -> Response:
        body = await request.json()
        try:
            known = {f.name for f in fields(Fault)}
            unknown = set(body) - known
            if unknown:
                raise ValueError(f"unknown fault fields: {sorted(unknown)}")
            fault = Fault(**{**body, "kind": FaultKind(body["kind"])})
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"error": f"bad fault: {exc}"}, status_code=400)
        context.faults.add(fault)
        return JSONResponse({"pending": [asdict(f) for f in context.faults.faults]})

    async def clear_faults(request: Request) -> Response:
        context.faults.clear()
        return JSONResponse({"pending": []})

    async def delete(request: Request) -> Response:
        body = await request.json()
        found = dialect.delete(str(body.get("entity")), str(body.get("id")))
        return JSONResponse({"deleted": found}, status_code=200 if found else 404)

    async def revoke_all(request: Request) -> Response:
        return JSONResponse({"revoked": context.authority.revoke_all()})

    async def expire(request: Request) -> Response:
        context.authority.expire_access_tokens()
        return JSONResponse({"expired": True})

    async def clock(request: Request) -> Response:
        body = await request.json()
        context.clock.advance(float(body.get("advance", 0)))
        return JSONResponse({"now": context.clock.now().isoformat()})

    async def limits(request: Request) -> Response:
        body: Mapping[str, Any] = await request.json()
        policy = context.limiter.policy
        for name, value in body.items():
            if not hasattr(policy, name):
                return JSONResponse({"error": f"unknown limit {name!r}"}, status_code=400)
            setattr(policy, name, value)
        return JSONResponse(asdict(policy))

    async def idempotency(request: Request) -> Response:
        keys = context.keys
        if keys is None:
            return JSONResponse({"error": "this platform has no idempotency keys"},
                                status_code=404)
        if request.method == "POST":
            body = await request.json()
            try:
                seconds = float(body["window_seconds"])
                if seconds < 0:
                    raise ValueError("must not be negative")
            except (KeyError, TypeError, ValueError) as exc:
                return JSONResponse({"error": f"bad window_seconds: {exc}"}, status_code=400)
            keys.window = seconds
        return JSONResponse({"window_seconds": keys.window, "live_keys": len(keys)})

    async def latency(request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            try:
                seconds = float(body["seconds"])
                if not 0 <= seconds <= 60:
                    raise ValueError("must be between 0 and 60")
            except (KeyError, TypeError, ValueError) as exc:
                return JSONResponse({"error": f"bad latency seconds: {exc}"}, status_code=400)
            context.latency = seconds
        return JSONResponse({"seconds": context.latency})

    async def hang(request: Request) -> Response:
        body = await request.json()
        context.faults.hang_seconds = float(body.get("seconds", context.faults.hang_seconds))
        return JSONResponse({"hang_seconds": context.faults.hang_seconds})

    return [
        Route("/_sandbox/hang", hang, methods=["POST"]),
        Route("/_sandbox/latency", latency, methods=["GET", "POST"]),
        Route("/_sandbox/idempotency", idempotency, methods=["GET", "POST"]),
        Route("/_sandbox/state", state, methods=["GET"]),
        Route("/_sandbox/marks", marks, methods=["GET"]),
        Route("/_sandbox/faults", add_fault, methods=["POST"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/delete", delete, methods=["POST"]),
        Route("/_sandbox/revoke", revoke_all, methods=["POST"]),
        Route("/_sandbox/expire-tokens", expire, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["POST"]),
        Route("/_sandbox/limits", limits, methods=["POST"]),
    ]


def marks_report(found: Iterable[Mark]) -> dict[str, Any]:
    """`{"marks": {entity: {record_id: objects}}, "parts": {entity: {record_id: {invoice:
    applications}}}}`. A record with one copy counts 1; 0 (absent) is missing, 2+ duplicated.

    A payment split over invoices is several objects on Xero and FreshBooks but one on
    QuickBooks, so its object count depends on the platform; `parts` does not: each
    (payment, invoice) pair is applied exactly once when the payment is there once.
    """
    counts: dict[str, Counter[str]] = {entity: Counter() for entity in MARKED_ENTITIES}
    parts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for mark in found:
        counts.setdefault(mark.entity, Counter())[mark.record_id] += 1
        for invoice in mark.pays:
            parts[mark.entity][mark.record_id][invoice] += 1
    return {"marks": {entity: dict(counted) for entity, counted in counts.items()},
            "parts": {entity: {record: dict(invoices) for record, invoices in records.items()}
                      for entity, records in parts.items()}}


async def _form_or_json(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    # Token endpoints take application/x-www-form-urlencoded; parsing it here spares the
    # python-multipart dependency that Starlette's request.form() needs.
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _client_credentials(request: Request, form: Mapping[str, str]) -> tuple[str, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return "", None
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret")
