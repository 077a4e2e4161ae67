"""The sandbox speaks Xero: envelopes, summarizeErrors, statuses, headers, tokens."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from engine import AuthRevoked
from providers.xero.sandbox import DEMO_TENANT_ID
from tests.providers._support import REDIRECT_URI, SandboxTokens

API = "/api.xro/2.0"


async def test_summarized_errors_still_store_the_valid_elements(api: httpx.AsyncClient,
                                                                app: Starlette) -> None:
    answer = await api.put(f"{API}/Contacts", json={"Contacts": [{"Name": "Good Co"},
                                                                 {"Name": ""}]})
    assert answer.status_code == 400
    body = answer.json()
    assert (body["ErrorNumber"], body["Type"]) == (10, "ValidationException")
    assert body["Elements"][0]["ValidationErrors"] == [{"Message": "Contact Name cannot be empty."}]
    names = {c["Name"] for c in app.state.company.contacts.values()}
    assert "Good Co" in names


async def test_envelope_dates_and_computed_totals(api: httpx.AsyncClient) -> None:
    found = await api.get(f"{API}/Invoices", params={"InvoiceNumbers": "INV-1042"})
    body = found.json()
    assert body["Status"] == "OK" and body["DateTimeUTC"].startswith("/Date(")
    [invoice] = body["Invoices"]
    assert invoice["Date"].endswith("+0000)/") and invoice["DateString"] == "2026-01-12T00:00:00"
    assert (invoice["Total"], invoice["AmountDue"], invoice["AmountPaid"]) == (450.0, 450.0, 0.0)
    assert invoice["Contact"]["Name"] == "Riverside Property Group LLC"
    for header in ("X-MinLimit-Remaining", "X-DayLimit-Remaining", "X-AppMinLimit-Remaining"):
        assert header in found.headers


async def test_put_with_an_id_and_illegal_status_changes(api: httpx.AsyncClient) -> None:
    [invoice] = (await api.get(f"{API}/Invoices/INV-1042")).json()["Invoices"]
    put = await api.put(f"{API}/Invoices", params={"summarizeErrors": "false"},
                        json={"Invoices": [{"InvoiceID": invoice["InvoiceID"], "Type": "ACCREC"}]})
    assert put.json()["Invoices"][0]["StatusAttributeString"] == "ERROR"
    back = await api.post(f"{API}/Invoices/{invoice['InvoiceID']}",
                          json={"Invoices": [{"Status": "DRAFT"}]})
    assert back.status_code == 400
    assert "AUTHORISED to DRAFT" in back.json()["Elements"][0]["ValidationErrors"][0]["Message"]


async def test_missing_tenant_and_expired_token_bodies(api: httpx.AsyncClient,
                                                       tokens: SandboxTokens) -> None:
    no_tenant = await api.get(f"{API}/Contacts", headers={"xero-tenant-id": ""})
    assert no_tenant.status_code == 403 and no_tenant.json()["Detail"] == \
        "AuthenticationUnsuccessful"
    await api.post("/_sandbox/expire-tokens")
    expired = await api.get(f"{API}/Contacts")
    assert expired.status_code == 401
    assert expired.json()["Detail"].startswith("TokenExpired: token expired at ")


async def test_429_names_the_limit(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/limits", json={"per_minute": 1})
    await api.get(f"{API}/Contacts")
    limited = await api.get(f"{API}/Contacts")
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Problem"] == "minute"
    assert int(limited.headers["Retry-After"]) >= 1


async def test_connections_lists_the_tenant(tokens: SandboxTokens) -> None:
    assert tokens.grant is not None
    [tenant] = tokens.grant.tenants
    assert tenant.tenant_id == DEMO_TENANT_ID and tenant.name


async def test_lost_refresh_response_grace(tokens: SandboxTokens, api: httpx.AsyncClient) -> None:
    old = tokens.refresh_token
    assert old is not None
    await tokens.oauth.refresh(old)  # the answer is "lost": we keep the old token
    retried = await tokens.oauth.refresh(old)  # within 30 min, allowed once more
    assert retried.refresh_token is not None
    await tokens.oauth.refresh(retried.refresh_token)  # the new one is used…
    with pytest.raises(AuthRevoked, match="invalid_grant"):
        await tokens.oauth.refresh(old)  # …so the old one is finished


async def test_grace_ends_after_30_minutes(tokens: SandboxTokens, api: httpx.AsyncClient) -> None:
    old = tokens.refresh_token
    assert old is not None
    await tokens.oauth.refresh(old)
    await api.post("/_sandbox/clock", json={"advance": 1801})
    with pytest.raises(AuthRevoked):
        await tokens.oauth.refresh(old)


async def test_authorize_redirect_carries_code(tokens: SandboxTokens) -> None:
    url = tokens.oauth.authorization_url(REDIRECT_URI, "s")
    assert url.startswith("http://xero.sandbox/identity/connect/authorize?")
    async with httpx.AsyncClient(transport=tokens.transport) as client:
        consent = await client.get(url)
    assert consent.status_code == 302 and "code=" in consent.headers["location"]


async def test_an_allocation_with_a_date_xero_cannot_read_is_refused_not_a_crash(
        api: httpx.AsyncClient) -> None:
    [invoice] = (await api.get(f"{API}/Invoices/INV-1042")).json()["Invoices"]
    made = await api.put(f"{API}/CreditNotes", json={"CreditNotes": [{
        "Type": "ACCRECCREDIT", "Contact": {"ContactID": invoice["Contact"]["ContactID"]},
        "Date": "2026-01-20", "Status": "AUTHORISED", "LineAmountTypes": "Exclusive",
        "LineItems": [{"Description": "goodwill", "Quantity": 1, "UnitAmount": 10,
                       "AccountCode": "200", "TaxType": "NONE"}]}]})
    assert made.status_code == 200, made.text
    note = made.json()["CreditNotes"][0]["CreditNoteID"]
    answer = await api.put(f"{API}/CreditNotes/{note}/Allocations", json={"Allocations": [{
        "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Amount": 5, "Date": "20-01-2026"}]})
    assert answer.status_code == 400
    assert answer.json()["Type"] == "ValidationException"
