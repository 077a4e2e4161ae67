"""A faithful local Wave: the public GraphQL API of one business, and Wave's OAuth2.

`create_sandbox_app()` returns a Starlette app; tests mount it in-process through
`httpx.ASGITransport`, the demo serves it on loopback. Requests are real GraphQL documents
executed by graphql-core against the schema in `_schema`, so a field or argument Wave does
not have is refused the way Wave refuses it.

Choices where Wave's behaviour is not documented (PLATFORMS.md §3, UNCERTAIN):
- Invoice numbers are unique per business: Wave's schema describes `invoiceNumber` as the
  "Unique number assigned to the invoice", so a second INV-1042 is an input error
  (code NOT_UNIQUE). Customer and product names are not unique, as in Wave's own app.
- Limits: 60 requests a minute (the one third-party figure, per token; the sandbox has one
  business, so it counts per sandbox), adjustable and switchable.
- Tokens: access 7200 s; refresh tokens rotate on every use and do not expire unused.
  After a refresh whose answer was lost, the previous refresh token may be spent again for
  30 minutes while its successor is unused (Xero's documented rule, taken as Wave publishes
  none). Wave's token endpoint looks like django-oauth-toolkit's (trailing-slash paths,
  `approval_prompt`), whose grace is a server setting that defaults to none; if Wave runs it
  strict, a lost answer ends in a reconnect, which syncdesk words for Wave.
- A product created without `incomeAccountId` is booked to the "Sales" account.
- `moneyTransactionCreate` exists (with its `isClassicAccounting` gate) but, as on Wave,
  what it writes can never be read back.
- An invoice with payments recorded cannot be deleted (input error on `invoiceId`): remove
  the payments first, as Wave's app asks. The public API records no payments on invoices,
  so `Books.record_payment` stands in for a person recording one in Wave's app.
- Taxes are computed from the sales tax's rate (line subtotal × rate, to the cent, half up)
  unless an input names the amount; the invoice's `taxTotal` and `total` follow.
- The way back: `customers`, `products` and `invoices` take `modifiedAtAfter` /
  `modifiedAtBefore` (strict bounds, as their names say) and `MODIFIED_AT_*` sorts; every
  write keeps `modifiedAt`. A deleted customer or invoice is gone from every list, as on
  Wave, so no poll ever reports it. A person recording (or removing) a payment in Wave's app
  is `POST /_sandbox/record-payment` (`_routes.person_routes`). Wave sends no webhooks.
- Unknown fields are refused, never dropped: every request is validated against the schema,
  so `{"input": {"colour": …}}` answers GRAPHQL_VALIDATION_FAILED (PLATFORMS.md §3.4, §6.19).

Every business starts with Wave's default chart: bank and cash accounts, accounts
receivable, income accounts ("Sales", "Services", "Discounts", "Other Income") and a sales
tax. `seed_demo_company` adds a customer "Riverside Property Group LLC" and its invoice
INV-1042 that syncdesk did not create, so the demo's INV-1042 fails as a duplicate.
"""

from __future__ import annotations

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

from ._dialect import WaveDialect
from ._resolvers import WaveRoot
from ._routes import GraphQLEndpoint, person_routes
from ._schema import build
from ._state import Books, Json

DEMO_BUSINESS_UUID = "6a1f4c2e-9b1d-4d3e-8f5a-2c7b9e0d1a34"

WAVE_TOKENS = TokenPolicy(access_ttl=7200.0, refresh_ttl=None, refresh_grace=1800.0)

_CHART = (
    # name, type, normal balance, subtype
    ("Cash on Hand", "ASSET", "DEBIT", "CASH_AND_BANK"),
    ("Business Checking", "ASSET", "DEBIT", "CASH_AND_BANK"),
    ("Accounts Receivable", "ASSET", "DEBIT", "EXPECTED_PAYMENTS_FROM_CUSTOMERS"),
    ("Sales Tax Payable", "LIABILITY", "CREDIT", "SALES_TAX"),
    ("Owner Investment", "EQUITY", "CREDIT", "BUSINESS_OWNER_CONTRIBUTION"),
    ("Sales", "INCOME", "CREDIT", "INCOME"),
    ("Services", "INCOME", "CREDIT", "INCOME"),
    ("Discounts", "INCOME", "DEBIT", "DISCOUNTS"),
    ("Other Income", "INCOME", "CREDIT", "OTHER_INCOME"),
    ("Uncategorized Income", "INCOME", "CREDIT", "UNCATEGORIZED_INCOME"),
    ("Uncategorized Expense", "EXPENSE", "DEBIT", "UNCATEGORIZED_EXPENSE"),
)


def create_sandbox_app(
    *,
    clock: Clock | None = None,
    limits_enabled: bool = True,
    seed_demo_company: bool = True,
    per_minute: int = 60,
    classic_accounting: bool = False,
    business_uuid: str = DEMO_BUSINESS_UUID,
) -> Starlette:
    """The sandbox app; `app.state.books` is its business, `app.state.sandbox` the kit."""
    clock = clock or Clock()
    books = Books(clock=clock, business_uuid=business_uuid, name="Northwind Home Services",
                  is_classic_accounting=classic_accounting)
    seed_chart(books)
    if seed_demo_company:
        seed_demo(books)
    authority = TokenAuthority(clock=clock, policy=WAVE_TOKENS, tenants=[books.id])
    limiter = RateLimiter(clock=clock, policy=RateLimitPolicy(per_minute=per_minute,
                                                              enabled=limits_enabled))
    context = SandboxContext(clock=clock, authority=authority, limiter=limiter)
    endpoint = GraphQLEndpoint(schema=build(), root=WaveRoot(books, authority))
    app = build_sandbox_app(WaveDialect(books), context, endpoint.routes(),
                            extra_routes=person_routes(books))
    app.state.books = books
    return app


def seed_chart(books: Books) -> None:
    """What every new Wave business has: its default accounts and one sales tax."""
    for name, kind, balance, subtype in _CHART:
        account_id = books.new_id("Account")
        account_type: Json = {"name": kind.title(), "normalBalanceType": balance,
                              "value": kind}
        books.accounts[account_id] = {
            "id": account_id, "name": name, "description": None, "displayId": None,
            "currency": books.currency, "type": account_type, "normalBalanceType": balance,
            "subtype": {"name": subtype.replace("_", " ").title(), "value": subtype,
                        "type": account_type},
            "isArchived": False,
        }
    tax_id = books.new_id("SalesTax")
    books.sales_taxes[tax_id] = {"id": tax_id, "name": "Washington State Sales Tax",
                                 "abbreviation": "WA", "description": None,
                                 "rate": Decimal("6.5"), "isArchived": False}


def seed_demo(books: Books) -> None:
    """Objects someone made in Wave before syncdesk connected (not syncdesk's)."""
    riverside = books.create_customer({"name": "Riverside Property Group LLC",
                                       "email": "ap@riversidepg.example"}).value
    product = books.create_product({"name": "Grounds maintenance",
                                    "unitPrice": Decimal("1250.00")}).value
    assert riverside is not None and product is not None
    books.create_invoice({"customerId": riverside["id"], "invoiceNumber": "INV-1042",
                          "status": "SAVED", "items": [{"productId": product["id"]}]})


def account_id(books: Books, name: str) -> str:
    """The id of the chart's account called `name` (for mapping items in tests and demos)."""
    return next(str(a["id"]) for a in books.accounts.values() if a["name"] == name)


__all__ = ["DEMO_BUSINESS_UUID", "account_id", "create_sandbox_app"]
