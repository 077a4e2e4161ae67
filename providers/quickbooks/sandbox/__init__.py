"""A faithful local emulator of the QuickBooks Online Accounting API v3 (one company).

Defaults are the real platform's behaviour: 500 requests/min and 10/s per realm plus the
legacy 10-concurrent rule, 40 batch requests/min, access tokens for 3600 s, refresh
tokens that rotate (below), CustomTxnNumbers on (6140 duplicate numbers), batch items
that cannot see each other's creations, and `requestid`s remembered for `idempotency_window`
seconds (Intuit documents no window: UNCERTAIN; `POST /_sandbox/idempotency` changes it).

Bodies are held to Intuit's schema: a field its XSD does not have, at any depth, is refused
with 2010 "Unrecognized field" as QBO refuses it (`_fields`, generated from the XSD), never
dropped or saved. Tax is computed from TaxCode and TaxRate objects: a US company (`country`)
charges the one sales tax of `TxnTaxDetail.TxnTaxCodeRef` on the lines coded TAX; any other
country charges each line's own code, backing tax out of amounts when `GlobalTaxCalculation`
is TaxInclusive. Classes, locations (Department), payment methods and deposit accounts are
checked as references (2500 for an id the company does not have).

The way back (#15): `GET …/cdc` is QBO's change data capture (`_cdc`); every change to the
company can be posted as Intuit's classic webhook notification, signed with `intuit-signature`,
to a URL set with `POST /_sandbox/webhooks`, with duplicates, out-of-order and bad-signature
faults (`_emitter`). A person's own changes (a payment across invoices, a payment moved, a
contact edit, a delete or void) are made through the v3 API itself, as their app would.

Refresh tokens (PLATFORMS.md §1.8): every refresh returns a new one, and the previous one
keeps working until the new one is first used (`refresh_grace`, default `math.inf`), so a
client whose refresh answer was lost can retry with the token it still holds. Intuit's FAQ
(developer.intuit.com …/authentication-and-authorization/faq) says to always keep the latest
token, and that its value changes about every 24 hours; that the previous one stays valid
until the new one is used is reported by integrators, not documented: UNCERTAIN. The sandbox
rotates on every refresh (stricter than 24 hours), so a token spent twice still shows.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

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

from ._dialect import QuickBooksDialect
from ._emitter import FlushAfterEachRequest, WebhookEmitter
from ._routes import QboApi
from ._rules import BUILDERS
from ._state import Company, Preferences

DEFAULT_REALM = "9341452901234567"


def create_sandbox_app(
    *,
    clock: Clock | None = None,
    limits_enabled: bool = True,
    seed_demo_company: bool = True,
    realm_id: str = DEFAULT_REALM,
    refresh_grace: float = math.inf,
    replay_errors: bool = True,
    custom_txn_numbers: bool = True,
    batch_max: int = 30,
    idempotency_window: float = DEFAULT_KEY_WINDOW,
    country: str = "US",
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The sandbox as a Starlette app; `app.state.company` is its company and
    `app.state.webhooks` its webhook emitter (`_emitter`), for tests.

    `country` other than US makes a company that codes each line with a tax rate (VAT/GST).
    `webhook_transport` carries the webhooks it emits (None: the network)."""
    clock = clock or Clock()
    company = Company(realm_id=realm_id, clock=clock,
                      prefs=Preferences(custom_txn_numbers=custom_txn_numbers, country=country))
    _seed_chart(company)
    _seed_lists(company)
    if seed_demo_company:
        _seed_demo(company)
    replays: KeyMemory[Any] = KeyMemory(clock, idempotency_window)
    context = SandboxContext(
        clock=clock,
        keys=replays,
        authority=TokenAuthority(clock, TokenPolicy(access_ttl=3600.0, refresh_ttl=8_726_400.0,
                                                    refresh_grace=refresh_grace),
                                 tenants=[realm_id]),
        limiter=RateLimiter(clock, RateLimitPolicy(per_second=10, per_minute=500,
                                                   concurrency=10, enabled=limits_enabled)),
    )
    batch_limiter = RateLimiter(clock, RateLimitPolicy(per_minute=40, enabled=limits_enabled))
    api = QboApi(company, clock, batch_limiter, replays, replay_errors=replay_errors,
                 batch_max=batch_max)
    webhooks = WebhookEmitter(company, clock, transport=webhook_transport)
    app = build_sandbox_app(QuickBooksDialect(company, clock), context, api.routes(),
                            extra_routes=webhooks.routes())
    app.add_middleware(FlushAfterEachRequest, emitter=webhooks)
    app.state.company = company
    app.state.webhooks = webhooks
    return app


def _seed_chart(company: Company) -> None:
    """What every new QBO company has: income and deposit accounts, and its tax codes."""
    for account_id, name, kind, sub in (
        ("79", "Sales of Product Income", "Income", "SalesOfProductIncome"),
        ("80", "Services", "Income", "ServiceFeeIncome"),
        ("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
        ("35", "Checking", "Bank", "Checking"),
    ):
        company.seed("Account", account_id, {
            "Name": name, "FullyQualifiedName": name, "AccountType": kind,
            "AccountSubType": sub, "Classification": "Revenue" if kind == "Income" else "Asset",
            "Active": True, "CurrentBalance": Decimal(0),
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        })
    rates: tuple[tuple[str, str, str, Decimal], ...]
    if company.prefs.country == "US":
        # TAX and NON are the line codes; a sales-tax code groups the rates a transaction
        # charges (PLATFORMS.md §1.3: TaxRateRef 3 at 8 %).
        for code_id in ("TAX", "NON"):
            company.seed("TaxCode", code_id, {"Name": code_id, "Description": code_id,
                                              "Active": True, "Taxable": code_id == "TAX",
                                              "TaxGroup": False})
        rates = (("2", "California", "3", Decimal(8)), ("4", "Nevada", "5", Decimal("6.85")))
    else:
        rates = (("10", "20.0% S", "11", Decimal(20)), ("12", "5.0% R", "13", Decimal(5)),
                 ("14", "0.0% Z", "15", Decimal(0)))
    for code_id, name, rate_id, percent in rates:
        company.seed("TaxRate", rate_id, {"Name": name, "Description": name, "Active": True,
                                          "RateValue": percent})
        company.seed("TaxCode", code_id, {
            "Name": name, "Description": name, "Active": True, "Taxable": bool(percent),
            "TaxGroup": True, "SalesTaxRateList": {"TaxRateDetail": [{
                "TaxRateRef": {"value": rate_id, "name": name},
                "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}]},
            "PurchaseTaxRateList": {"TaxRateDetail": []}})


def _seed_lists(company: Company) -> None:
    """QBO's default payment methods, and the classes and locations a company sets up."""
    for method_id, name, kind in (("1", "Cash", "NON_CREDIT_CARD"),
                                  ("2", "Check", "NON_CREDIT_CARD"),
                                  ("3", "Visa", "CREDIT_CARD"),
                                  ("4", "MasterCard", "CREDIT_CARD")):
        company.seed("PaymentMethod", method_id, {"Name": name, "Type": kind, "Active": True})
    for entity, names in (("Class", ("Residential", "Commercial")),
                          ("Department", ("North Yard", "South Yard"))):
        nested = "SubClass" if entity == "Class" else "SubDepartment"
        for number, name in enumerate(names, 1):
            company.seed(entity, str(number), {"Name": name, "FullyQualifiedName": name,
                                               nested: False, "Active": True})


def _seed_demo(company: Company) -> None:
    """Objects someone made in QuickBooks before syncdesk connected (not syncdesk's)."""
    company.seed("Vendor", "1", {"DisplayName": "Pacific Lumber Supply", "Active": True})
    company.seed("Employee", "1", {"DisplayName": "Dana Whitfield", "Active": True})
    # The business takes cards and transfers besides QBO's default methods.
    company.seed("PaymentMethod", "5", {"Name": "Card", "Type": "CREDIT_CARD", "Active": True})
    company.seed("PaymentMethod", "6", {"Name": "Bank Transfer", "Type": "NON_CREDIT_CARD",
                                        "Active": True})
    company.create("Item", {"Name": "Services", "Type": "Service",
                            "IncomeAccountRef": {"value": "80"}}, BUILDERS["Item"])
    riverside = company.create("Customer", {
        "DisplayName": "Riverside Property Group LLC",
        "CompanyName": "Riverside Property Group LLC",
        "PrimaryEmailAddr": {"Address": "ap@riversidepg.example"},
    }, BUILDERS["Customer"])
    company.create("Invoice", {
        "DocNumber": "INV-1042",
        "CustomerRef": {"value": riverside["Id"]},
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": Decimal("1250.00"),
                  "Description": "Quarterly grounds maintenance",
                  "SalesItemLineDetail": {
                      "ItemRef": {"value": "1"}, "Qty": Decimal(1),
                      "UnitPrice": Decimal("1250.00"),
                      "TaxCodeRef": {"value": "NON" if company.prefs.country == "US" else "14"}}}],
    }, BUILDERS["Invoice"])


__all__ = ["DEFAULT_REALM", "create_sandbox_app"]
