"""A faithful local Xero: Accounting API 2.0, identity endpoints and `/connections`.

`create_sandbox_app()` returns a Starlette app; tests mount it in-process through
`httpx.ASGITransport`, the demo serves it on loopback. Defaults are Xero's own behaviour:
per-tenant limits of 60/minute, 5 concurrent and 5,000/day; access tokens live 1800 s;
refresh tokens rotate on every use and live 60 days unused.

Refresh-token grace (PLATFORMS.md §6 item 17): after a refresh, the previous refresh token
still works for 30 minutes *until the new one is first used* — the model of a lost refresh
response, where the client never saw the new token. Once the successor has been spent, or
30 minutes have passed, the old token gets `invalid_grant`, so two processes racing with
one token still end with exactly one winner as soon as either moves on.

The organisation always has a chart of accounts (090 bank, a savings bank account without a
code, 200 Sales, 260 Other Revenue …), tax rates (OUTPUT and INPUT 10 %, TAX001 8.875 %, NONE)
and two tracking categories (Region: North/South, Service: Residential/Commercial), as a Xero
organisation does; `seed_demo_company`
adds a contact "Riverside Property Group LLC" and its invoice INV-1042 that syncdesk did
not create, so the demo's colliding records fail with Xero's own duplicate messages.

Beyond the shared control API (`providers._sandbox._app`), acting as a person on Xero and as
Xero's webhooks (`_webhooks`):

    GET|POST /_sandbox/webhooks        {"url", "key", "faults": {"duplicate": N,
                                        "out_of_order": N, "bad_signature": N}}: where
                                        webhooks go, signed with which key; answers the
                                        settings and every delivery made, with its answer
    POST /_sandbox/webhooks/drain      wait for the deliveries under way, then answer as GET
    POST /_sandbox/webhooks/intent     Xero's intent-to-receive check of the URL
    POST /_sandbox/redo-payment        {"payment_id", "invoice_id"}: Xero's "Remove and Redo"
                                        of a payment onto another invoice

Everything else a person does goes through the API as their app would: a payment across two
invoices is `PUT /BatchPayments`, a contact edit or archive `POST /Contacts/{id}`, a deletion
or void `POST /Invoices/{id}` with Status DELETED or VOIDED.
"""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from providers._sandbox import (
    DEFAULT_KEY_WINDOW,
    Clock,
    KeyMemory,
    RateLimiter,
    RateLimitPolicy,
    SandboxContext,
    TokenAuthority,
    TokenPolicy,
    build_sandbox_app,
)

from ._dialect import XeroDialect
from ._idempotency import IdempotencyCache, Remembered
from ._routes import XeroApi
from ._state import DEMO_CUSTOMER, DEMO_INVOICE_NUMBER, Company, seed_chart, seed_demo
from ._webhooks import WebhookEmitter

DEMO_TENANT_ID = "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"

XERO_TOKENS = TokenPolicy(access_ttl=1800.0, refresh_ttl=60 * 86_400.0, refresh_grace=1800.0)


def create_sandbox_app(
    *,
    clock: Clock | None = None,
    limits_enabled: bool = True,
    seed_demo_company: bool = True,
    tenant_id: str = DEMO_TENANT_ID,
    idempotency_window: float = DEFAULT_KEY_WINDOW,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The sandbox app; its `state.sandbox` is the shared `SandboxContext` (faults, clock).

    `idempotency_window`: seconds an `Idempotency-Key` is remembered (UNCERTAIN, about 6 min
    seen); `POST /_sandbox/idempotency` changes it on a running sandbox.
    `webhook_transport`: how webhooks reach the configured URL (tests: the receiving app's
    ASGI transport); None sends them over the network."""
    clock = clock or Clock()
    company = Company(clock=clock)
    seed_chart(company)
    if seed_demo_company:
        seed_demo(company)
    company.take_changes()  # the organisation as it was before any webhook was configured
    authority = TokenAuthority(clock=clock, policy=XERO_TOKENS, tenants=[tenant_id])
    limiter = RateLimiter(clock=clock, policy=RateLimitPolicy(
        per_minute=60, per_day=5000, concurrency=5, enabled=limits_enabled))
    keys: KeyMemory[Remembered] = KeyMemory(clock, idempotency_window)
    context = SandboxContext(clock=clock, authority=authority, limiter=limiter, keys=keys)
    webhooks = WebhookEmitter(company=company, clock=clock, tenant_id=tenant_id,
                              transport=webhook_transport)
    api = XeroApi(company=company, clock=clock, idempotency=IdempotencyCache(keys),
                  tenant_id=tenant_id, webhooks=webhooks)
    dialect = XeroDialect(company=company, clock=clock, authority=authority)
    app = build_sandbox_app(dialect, context, api.routes(), extra_routes=api.control_routes())
    app.state.company = company
    app.state.webhooks = webhooks
    return app


__all__ = ["DEMO_CUSTOMER", "DEMO_INVOICE_NUMBER", "DEMO_TENANT_ID", "create_sandbox_app"]
