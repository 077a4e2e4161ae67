"""Every documented QuickBooks error body lands in the right class, with Intuit's words."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from engine import (
    AuthExpired,
    AuthRevoked,
    Duplicate,
    Entity,
    NotFound,
    RateLimited,
    Stale,
    SyncError,
    Transient,
    Validation,
)
from providers.quickbooks import QuickBooksProvider
from providers.quickbooks._errors import read_body
from tests.providers._support import Ledger, SandboxTokens, state

from .conftest import customer

# Bodies as quoted in PLATFORMS.md §1.6 (observed traffic and Intuit's docs).
DUPLICATE_DOC = {"Fault": {"Error": [{
    "Message": "Duplicate Document Number Error",
    "Detail": "Duplicate Document Number Error : You must specify a different number. This "
              "number has already been used. DocNumber=18696 is assigned to TxnType=Invoice "
              "with TxnId=6575",
    "code": "6140", "element": ""}], "type": "ValidationFault"},
    "time": "2026-09-01T19:27:51.208-07:00"}
DUPLICATE_NAME = {"Fault": {"Error": [{
    "Message": "Duplicate Name Exists Error",
    "Detail": "The name supplied already exists. : Another customer, vendor or employee is "
              "already using this name. Please use a different name.",
    "code": "6240", "element": ""}], "type": "ValidationFault"},
    "time": "2017-09-29T09:17:31.892-07:00"}
STALE = {"Fault": {"Error": [{
    "Message": "Stale Object Error",
    "Detail": "Stale Object Error : You and root were working on this at the same time. root "
              "finished before you did, so your work was not saved.",
    "code": "5010", "element": ""}], "type": "ValidationFault"}, "time": "…"}
OBJECT_NOT_FOUND = {"Fault": {"Error": [{
    "Message": "Object Not Found",
    "Detail": "Object Not Found : Something you're trying to use has been made inactive. Check "
              "the fields with accounts, customers, items, vendors or employees.",
    "code": "610", "element": ""}], "type": "ValidationFault"}, "time": "…"}
BUSINESS = {"Fault": {"Error": [{
    "Message": "A business validation error has occurred while processing your request",
    "Detail": "Business Validation Error: You must set a transaction amount.",
    "code": "6000", "element": "TotalAmt"}], "type": "ValidationFault"}, "time": "…"}
EXPIRED = {"warnings": None, "intuitObject": None, "fault": {"error": [{
    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
    "detail": "Token expired: eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..",
    "code": "3200", "element": None}], "type": "AUTHENTICATION"}, "report": None}
NOT_AUTHORIZED = {"fault": {"error": [{
    "message": "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
    "detail": "", "code": "3100", "element": None}], "type": "SERVICE"}}
THROTTLE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse '
    'xmlns="http://schema.intuit.com/finance/v3" time="2016-06-03T08:14:09.829-07:00">'
    '<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; '
    "errorCode=003001; statusCode=429</Message><Detail>The request limit was reached.  Try "
    "again later</Detail></Error></Fault></IntuitResponse>")


def _answer(status: int, body: Any, content_type: str = "application/json") -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.Response(status, content=content.encode(),
                          headers={"content-type": content_type})


def _error(status: int, body: Any, content_type: str = "application/json") -> SyncError:
    with pytest.raises(SyncError) as caught:
        read_body(_answer(status, body, content_type))
    return caught.value


def test_duplicate_document_number_names_the_transaction() -> None:
    error = _error(400, DUPLICATE_DOC)
    assert isinstance(error, Duplicate)
    assert (error.code, error.remote_id, error.http_status) == ("6140", "6575", 400)
    detail = DUPLICATE_DOC["Fault"]["Error"][0]["Detail"]  # type: ignore[index]
    assert error.message == detail  # Message is Detail's own prefix: shown once, verbatim


def test_duplicate_name() -> None:
    error = _error(400, DUPLICATE_NAME)
    assert isinstance(error, Duplicate) and error.code == "6240" and error.remote_id is None
    assert "Duplicate Name Exists Error" in error.message
    assert "Another customer, vendor or employee is already using this name." in error.message


def test_duplicate_name_with_the_holders_id() -> None:
    body = json.loads(json.dumps(DUPLICATE_NAME))
    body["Fault"]["Error"][0]["Detail"] = "The name supplied already exists. : Id=58"
    error = _error(400, body)
    assert isinstance(error, Duplicate) and error.remote_id == "58"
    assert error.message == "Duplicate Name Exists Error: The name supplied already exists. : Id=58"


@pytest.mark.parametrize(("body", "kind", "code"), [
    (STALE, Stale, "5010"),
    (OBJECT_NOT_FOUND, NotFound, "610"),
    (BUSINESS, Validation, "6000"),
])
def test_business_faults(body: Any, kind: type[SyncError], code: str) -> None:
    error = _error(400, body)
    assert type(error) is kind and error.code == code
    fault = body["Fault"]["Error"][0]
    assert fault["Detail"] in error.message


def test_fault_inside_http_200_is_still_a_fault() -> None:
    error = _error(200, BUSINESS)
    assert isinstance(error, Validation) and error.field == "TotalAmt"
    assert error.message == ("A business validation error has occurred while processing your "
                             "request: Business Validation Error: You must set a transaction "
                             "amount.")


def test_gateway_auth_faults() -> None:
    expired = _error(401, EXPIRED)
    assert isinstance(expired, AuthExpired) and expired.code == "3200"
    assert "message=AuthenticationFailed; errorCode=003200; statusCode=401" in expired.message
    revoked = _error(403, NOT_AUTHORIZED)
    assert isinstance(revoked, AuthRevoked) and revoked.code == "3100"
    assert revoked.message == ("message=ApplicationAuthorizationFailed; errorCode=003100; "
                               "statusCode=403")


def test_throttle_xml_even_to_a_json_client() -> None:
    error = _error(429, THROTTLE_XML, "application/xml")
    assert isinstance(error, RateLimited)
    assert (error.retry_after, error.code, error.http_status) == (60, "3001", 429)
    assert error.message == ("message=ThrottleExceeded; errorCode=003001; statusCode=429: The "
                             "request limit was reached.  Try again later")


@pytest.mark.parametrize(("status", "body", "content_type"), [
    (500, {"Fault": {"Error": [{"Message": "An application error has occurred", "code": "10000"}],
                     "type": "SystemFault"}}, "application/json"),
    (503, "<html><body>Service Unavailable</body></html>", "text/html"),
    (200, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    (200, THROTTLE_XML.replace("429", "200"), "application/xml"),
    (200, '{"Invoice": {"Id": "1", "SyncTo', "application/json"),
    (200, '["not", "an", "object"]', "application/json"),
])
def test_server_errors_and_malformed_bodies_are_transient(status: int, body: Any,
                                                          content_type: str) -> None:
    assert isinstance(_error(status, body, content_type), Transient)


# -- the same through the sandbox ---------------------------------------------------------


async def _fault(control: httpx.AsyncClient, **fault: Any) -> None:
    response = await control.post("/_sandbox/faults", json=fault)
    assert response.status_code == 200


async def test_sandbox_garbage_and_5xx_are_transient(provider: QuickBooksProvider,
                                                     ledger: Ledger,
                                                     control: httpx.AsyncClient) -> None:
    await _fault(control, kind="garbage")
    with pytest.raises(Transient, match="not valid JSON"):
        await provider.push(ledger.request(Entity.CUSTOMER, customer()))
    await _fault(control, kind="error", status=503)
    with pytest.raises(Transient) as caught:
        await provider.push(ledger.request(Entity.CUSTOMER, customer()))
    assert (caught.value.code, caught.value.http_status) == ("10000", 503)
    assert (await state(control))["objects"]["customer"] == 1  # only Riverside


async def test_sandbox_throttle_is_rate_limited(provider: QuickBooksProvider, ledger: Ledger,
                                                control: httpx.AsyncClient) -> None:
    await _fault(control, kind="rate_limit")
    with pytest.raises(RateLimited) as caught:
        await provider.fetch(Entity.CUSTOMER, "1")
    assert caught.value.retry_after == 60


async def test_expired_token_is_refreshed_once(provider: QuickBooksProvider,
                                               tokens: SandboxTokens,
                                               control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/expire-tokens")
    assert await provider.fetch(Entity.CUSTOMER, "1") is not None
    assert tokens.refreshes == 1
    assert (await state(control))["refreshes"] == 1


async def test_revoked_grant_cannot_refresh(provider: QuickBooksProvider,
                                            control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/revoke")
    with pytest.raises(AuthRevoked, match="invalid_grant"):
        await provider.fetch(Entity.CUSTOMER, "1")


async def test_wrong_realm_is_not_authorized(settings: Any, tokens: SandboxTokens) -> None:
    from dataclasses import replace

    other = QuickBooksProvider(replace(settings, tenant_id="123145"), tokens)
    with pytest.raises(AuthRevoked) as caught:
        await other.fetch(Entity.CUSTOMER, "1")
    assert (caught.value.code, caught.value.http_status) == ("3100", 403)
    await other.aclose()
