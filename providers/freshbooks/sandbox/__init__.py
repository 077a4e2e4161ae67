"""A faithful local FreshBooks: the accounting API of one account, OAuth and `users/me`.

`create_sandbox_app()` returns a Starlette app; tests mount it in-process through
`httpx.ASGITransport`, the demo serves it on loopback. Defaults are FreshBooks' behaviour
where it is known: access tokens for 12 hours, refresh tokens that never expire and work
exactly once (`TokenPolicy(refresh_ttl=None)`), lists capped at 100 per page, US/Eastern
timestamps. FreshBooks publishes no rate limit: the default of 600/minute and 5 concurrent
per account is our choice (UNCERTAIN), changeable by `per_minute`/`concurrency` or the
control API.

The way back: lists filter and sort by `updated` as FreshBooks' do (`_routes`); the events
API registers callbacks, and every write is posted to the verified ones as FreshBooks' signed
form, with faults (`_webhooks`); `/_sandbox/move-payment` is a person moving a payment to
another invoice in FreshBooks' app, which its API cannot do.

The account always has two taxes ("Sales Tax" 8 %, "GST" 5 %). `seed_demo_company` adds a
client "Riverside Property Group LLC" and its invoice INV-1042 that syncdesk did not create,
so the demo's colliding records fail with the sandbox's duplicate errors.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from starlette.applications import Starlette

from providers._sandbox import (
    Clock,
    RateLimiter,
    RateLimitPolicy,
    SandboxContext,
    TokenAuthority,
    TokenPolicy,
    build_sandbox_app,
)

from .._platform import CONCURRENCY, PER_MINUTE
from ._dialect import FreshBooksDialect
from ._routes import FreshBooksApi, person_routes
from ._state import Books
from ._webhooks import WebhookRoutes, Webhooks

DEMO_ACCOUNT_ID = "zDmNq"
DEMO_BUSINESS_ID = 4_201_337
DEMO_CUSTOMER = "Riverside Property Group LLC"
DEMO_INVOICE_NUMBER = "INV-1042"

FRESHBOOKS_TOKENS = TokenPolicy(access_ttl=12 * 3600.0, refresh_ttl=None, refresh_grace=0.0)


def create_sandbox_app(
    *,
    clock: Clock | None = None,
    limits_enabled: bool = True,
    seed_demo_company: bool = True,
    account_id: str = DEMO_ACCOUNT_ID,
    per_minute: int = PER_MINUTE,
    concurrency: int = CONCURRENCY,
    unique_client_names: bool = True,
) -> Starlette:
    """The sandbox app; `app.state.books` is its account, `app.state.sandbox` the kit,
    `app.state.webhooks` the callbacks it posts to (`_webhooks`)."""
    clock = clock or Clock()
    books = Books(clock=clock, account_id=account_id, business_id=DEMO_BUSINESS_ID,
                  name="Sandbox Renovations", unique_client_names=unique_client_names)
    books.add_tax("Sales Tax", "8")
    books.add_tax("GST", "5")
    if seed_demo_company:
        seed_demo(books)
    context = SandboxContext(
        clock=clock,
        authority=TokenAuthority(clock=clock, policy=FRESHBOOKS_TOKENS, tenants=[account_id]),
        limiter=RateLimiter(clock=clock, policy=RateLimitPolicy(
            per_minute=per_minute, concurrency=concurrency, enabled=limits_enabled)),
    )
    webhooks = WebhookRoutes(Webhooks(books))
    app = build_sandbox_app(FreshBooksDialect(books, clock), context,
                            [*FreshBooksApi(books).routes(), *webhooks.api()],
                            extra_routes=[*webhooks.control(), *person_routes(books)])
    app.state.books = books
    app.state.webhooks = webhooks.webhooks
    return app


def seed_demo(books: Books) -> None:
    """Someone else's client and invoice, made in FreshBooks before syncdesk connected."""
    client = books.create_client({"organization": DEMO_CUSTOMER,
                                  "email": "ap@riversidepg.example", "note": ""})
    invoice = books.create_invoice({
        "customerid": client["id"], "invoice_number": DEMO_INVOICE_NUMBER,
        "create_date": date(2026, 1, 12).isoformat(), "due_offset_days": 30,
        "lines": [{"type": 0, "name": "Quarterly grounds maintenance", "qty": 1,
                   "unit_cost": {"amount": Decimal("1250.00"), "code": "USD"}}],
    })
    books.update_invoice(invoice, {"action_mark_as_sent": True})


__all__ = ["DEMO_ACCOUNT_ID", "DEMO_CUSTOMER", "DEMO_INVOICE_NUMBER", "create_sandbox_app"]
