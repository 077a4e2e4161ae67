"""The sandbox as a GraphQL server: Wave's envelopes, validation, tenancy, rules, seed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from wave_support import BASE_URL

from providers.wave import create_sandbox_app
from providers.wave.sandbox import account_id
from tests.providers._support import REDIRECT_URI, SandboxTokens


async def gql(control: httpx.AsyncClient, token: str, query: str,
              variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await control.post("/graphql/public", json={
        "query": query, "variables": variables or {}}, headers={
        "Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def token(tokens: SandboxTokens) -> str:
    return tokens.current


@pytest.fixture
def business(app: Starlette) -> str:
    return str(app.state.books.id)


async def test_unknown_field_is_graphql_validation_failed(control: httpx.AsyncClient,
                                                          token: str) -> None:
    body = await gql(control, token, "query { business { id nickname } }")
    [error] = body["errors"]
    assert "data" not in body
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["extensions"]["id"]  # the reference Wave support asks for
    assert "nickname" in error["message"] and error["locations"]


async def test_syntax_error_and_bad_variables_fail_validation(control: httpx.AsyncClient,
                                                              token: str,
                                                              business: str) -> None:
    broken = await gql(control, token, "query { business { id ")
    assert broken["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    mutation = ("mutation ($input: ProductCreateInput!) { productCreate(input: $input) "
                "{ didSucceed } }")
    bad = await gql(control, token, mutation, {"input": {
        "businessId": business, "name": "Widget", "unitPrice": "twelve"}})
    assert bad["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "twelve" in bad["errors"][0]["message"]
    missing = await gql(control, token, mutation, {"input": {"businessId": business}})
    assert "name" in missing["errors"][0]["message"]


async def test_unknown_business_is_not_found_with_a_null_field(control: httpx.AsyncClient,
                                                               token: str) -> None:
    body = await gql(control, token, 'query { business(id: "BAD_ID") { id } }')
    assert body["data"] == {"business": None}
    [error] = body["errors"]
    assert error["message"] == "Business 'BAD_ID' could not be found."
    assert (error["extensions"]["code"], error["path"]) == ("NOT_FOUND", ["business"])


async def test_business_without_id_is_the_default_one(control: httpx.AsyncClient, token: str,
                                                      business: str) -> None:
    body = await gql(control, token, "query { business { id name isClassicAccounting "
                                     "currency { code } } }")
    assert body["data"]["business"] == {"id": business, "name": "Northwind Home Services",
                                        "isClassicAccounting": False,
                                        "currency": {"code": "USD"}}


async def test_missing_token_is_unauthenticated(control: httpx.AsyncClient) -> None:
    response = await control.post("/graphql/public", json={"query": "{ user { id } }"})
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_seeded_demo_data(control: httpx.AsyncClient, token: str) -> None:
    body = await gql(control, token, """query {
      business { invoices(page: 1, pageSize: 10, invoiceNumber: "INV-1042") { edges { node {
        invoiceNumber status customer { name email } total { value raw } } } } } }""")
    [edge] = body["data"]["business"]["invoices"]["edges"]
    assert edge["node"] == {"invoiceNumber": "INV-1042", "status": "SAVED",
                            "customer": {"name": "Riverside Property Group LLC",
                                         "email": "ap@riversidepg.example"},
                            "total": {"value": "1250.00", "raw": 125000}}
    empty = create_sandbox_app(seed_demo_company=False).state.books
    assert (len(empty.customers), len(empty.invoices), len(empty.accounts)) == (0, 0, 11)


async def test_invoice_lifecycle_rules(control: httpx.AsyncClient, token: str,
                                       app: Starlette) -> None:
    books = app.state.books
    [riverside] = books.customers
    [invoice_id] = books.invoices
    approve = ("mutation ($input: InvoiceApproveInput!) { invoiceApprove(input: $input) "
               "{ didSucceed inputErrors { code message path } invoice { status } } }")
    again = await gql(control, token, approve, {"input": {"invoiceId": invoice_id}})
    assert again["data"]["invoiceApprove"] == {
        "didSucceed": False, "invoice": None, "inputErrors": [{
            "code": "INVALID", "message": "Only a draft invoice can be approved.",
            "path": ["input", "invoiceId"]}]}
    create = ("mutation ($input: InvoiceCreateInput!) { invoiceCreate(input: $input) "
              "{ didSucceed inputErrors { code path } invoice { invoiceNumber status } } }")
    numbered = await gql(control, token, create, {"input": {
        "businessId": books.id, "customerId": riverside, "status": "DRAFT"}})
    # Without a number Wave takes the largest numeric one and adds 1.
    assert numbered["data"]["invoiceCreate"]["invoice"] == {"invoiceNumber": "1",
                                                            "status": "DRAFT"}
    mark = ("mutation ($input: InvoiceMarkSentInput!) { invoiceMarkSent(input: $input) "
            "{ didSucceed inputErrors { message } } }")
    draft_id = next(i for i, v in books.invoices.items() if v["status"] == "DRAFT")
    refused = await gql(control, token, mark, {"input": {"invoiceId": draft_id,
                                                         "sendMethod": "MARKED_SENT"}})
    assert refused["data"]["invoiceMarkSent"]["didSucceed"] is False
    unknown = await gql(control, token, create, {"input": {
        "businessId": books.id, "customerId": "nope", "items": [{"productId": "nope"}]}})
    assert [e["path"] for e in unknown["data"]["invoiceCreate"]["inputErrors"]] == [
        ["input", "customerId"], ["input", "items", "0", "productId"]]


async def test_money_transactions_are_write_only_and_gated(control: httpx.AsyncClient,
                                                           token: str,
                                                           app: Starlette) -> None:
    books = app.state.books
    create = ("mutation ($input: MoneyTransactionCreateInput!) { moneyTransactionCreate("
              "input: $input) { didSucceed inputErrors { message } transaction { id } } }")
    payload = {"businessId": books.id, "externalId": "pay-1", "date": "2026-01-20",
               "anchor": {"accountId": account_id(books, "Business Checking"),
                          "amount": "90.00", "direction": "DEPOSIT"},
               "lineItems": [{"accountId": account_id(books, "Accounts Receivable"),
                              "amount": "90.00", "balance": "DECREASE"}]}
    made = await gql(control, token, create, {"input": payload})
    assert made["data"]["moneyTransactionCreate"]["didSucceed"] is True
    unbalanced = {**payload, "lineItems": [{**payload["lineItems"][0], "amount": "80.00"}]}
    refused = await gql(control, token, create, {"input": unbalanced})
    assert refused["data"]["moneyTransactionCreate"]["inputErrors"] == [
        {"message": "Line item amounts must add up to the anchor amount."}]
    assert app.state.dialect.counts()["payment"] == 1
    books.is_classic_accounting = True
    classic = await gql(control, token, create, {"input": payload})
    assert "classic accounting" in classic["data"]["moneyTransactionCreate"][
        "inputErrors"][0]["message"]


async def test_token_answer_and_defaults(recording: Any) -> None:
    app = create_sandbox_app()
    assert app.state.sandbox.limiter.policy.per_minute == 60
    assert app.state.sandbox.authority.policy.access_ttl == 7200
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=BASE_URL) as client:
        consent = await client.get("/oauth2/authorize/", params={
            "client_id": "x", "redirect_uri": REDIRECT_URI, "response_type": "code"})
        code = consent.headers["location"].split("code=")[1].split("&")[0]
        issued = await client.post("/oauth2/token/", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": "x", "client_secret": "y"})
    body = issued.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
    assert body["businessId"] == app.state.books.id and body["refresh_token"]
