"""Every FreshBooks error shape to exactly one taxonomy class, message and code verbatim."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from engine import (
    AuthExpired,
    AuthRevoked,
    ConnectionSettings,
    Duplicate,
    Entity,
    NotFound,
    RateLimited,
    SyncError,
    Transient,
    Validation,
)
from providers.freshbooks import FreshBooksProvider
from providers.freshbooks._errors import error_from_response
from tests.providers._support import SandboxTokens

from .conftest import customer, raw


def _response(status: int, body: Any = None, *, text: str | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def _accounting(errno: int, message: str, field: str | None = None) -> dict[str, Any]:
    return {"response": {"errors": [{"errno": errno, "field": field, "message": message,
                                     "object": "client", "value": "1"}]}}


CASES: list[tuple[httpx.Response, type[SyncError], str, str | None]] = [
    (_response(404, _accounting(1012, "Client not found.", "userid")), NotFound,
     "Client not found.", "1012"),
    (_response(400, _accounting(1011, "Resource deleted.")), NotFound, "Resource deleted.",
     "1011"),
    (_response(400, _accounting(1001, "customerid is required.", "customerid")), Validation,
     "customerid is required.", "1001"),
    (_response(400, _accounting(1004, "Invalid email address.", "email")), Validation,
     "Invalid email address.", "1004"),
    (_response(400, _accounting(1004, "Invoice number already exists.", "invoice_number")),
     Duplicate, "Invoice number already exists.", "1004"),
    (_response(403, _accounting(1003, "refuses to authorize it.", "accountid")), AuthRevoked,
     "refuses to authorize it.", "1003"),
    (_response(409, _accounting(409, "The resource being modified is being modified by "
                                     "another request.")), Transient,
     "The resource being modified is being modified by another request.", "409"),
    (_response(500, _accounting(500, "An unexpected error occurred.")), Transient,
     "An unexpected error occurred.", "500"),
    (_response(401, {"errno": 401, "message": "invalid_token: The request token failed to "
                     "authenticate or validate."}), AuthExpired,
     "invalid_token: The request token failed to authenticate or validate.", "401"),
    (_response(422, {"errno": 422, "message": "The request was well-formed but was unable to "
                     "be followed due to semantic errors.",
                     "details": ["event: Value error, Unrecognized event."]}), Validation,
     "The request was well-formed but was unable to be followed due to semantic errors.; "
     "event: Value error, Unrecognized event.", "422"),
    (_response(404, {"code": 5, "message": "Request failed with status_code: 404",
                     "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                  "reason": "1012", "domain": "accounting.api.freshbooks.com",
                                  "metadata": {"object": "client", "message": "Client not found.",
                                               "value": "12345", "field": "userid"}}]}),
     NotFound, "Client not found.", "1012"),
    (_response(502, text="<html><h1>502 Bad Gateway</h1></html>"), Transient,
     "not valid JSON", None),
    (_response(400, {"unexpected": True}), Transient, "unexpected body", None),
]


@pytest.mark.parametrize(("response", "kind", "message", "code"), CASES)
def test_error_shapes(response: httpx.Response, kind: type[SyncError], message: str,
                      code: str | None) -> None:
    error = error_from_response(response)
    assert type(error) is kind
    assert message in error.message
    if code is not None:
        assert error.code == code
    assert error.http_status == response.status_code


def test_field_is_kept() -> None:
    error = error_from_response(_response(400, _accounting(1004, "Bad.", "email")))
    assert error.field == "email"


def test_rate_limit_honours_retry_after_when_sent() -> None:
    bare = error_from_response(_response(429, {"errno": 429, "message": "Too Many Requests"}))
    told = error_from_response(_response(429, text="", headers={"Retry-After": "3"}))
    assert isinstance(bare, RateLimited) and bare.retry_after == 10.0
    assert isinstance(told, RateLimited) and told.retry_after == 3.0


# -- the same errors as the sandbox produces them -------------------------------------------


async def test_sandbox_required_field(control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    response = await raw(control, tokens, "POST", "invoices/invoices",
                         json={"invoice": {"lines": []}})
    error = error_from_response(response)
    assert isinstance(error, Validation)
    assert (error.code, error.field, error.message) == ("1001", "customerid",
                                                        "customerid is required.")


async def test_sandbox_invalid_value(control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    response = await raw(control, tokens, "POST", "users/clients",
                         json={"client": {"organization": "X", "email": "not-an-email"}})
    error = error_from_response(response)
    assert isinstance(error, Validation) and (error.code, error.field) == ("1004", "email")


async def test_sandbox_unknown_resource(control: httpx.AsyncClient,
                                        tokens: SandboxTokens) -> None:
    response = await raw(control, tokens, "GET", "users/clients/12345")
    assert response.status_code == 404
    assert response.json() == {"response": {"errors": [{
        "errno": 1012, "field": "id", "message": "Client not found.", "object": "client",
        "value": "12345"}]}}
    assert isinstance(error_from_response(response), NotFound)


async def test_sandbox_parse_error(control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    response = await raw(control, tokens, "POST", "users/clients", content=b"{not json")
    error = error_from_response(response)
    assert isinstance(error, Validation) and error.code == "1005"


async def test_wrong_account_is_revoked(settings: ConnectionSettings,
                                        tokens: SandboxTokens) -> None:
    provider = FreshBooksProvider(replace(settings, tenant_id="NotMine"), tokens)
    with pytest.raises(AuthRevoked) as caught:
        await provider.fetch(Entity.CUSTOMER, "1")
    assert (caught.value.code, caught.value.http_status) == ("1003", 403)
    await provider.aclose()


async def test_expired_access_token_is_refreshed_once(provider: FreshBooksProvider,
                                                      tokens: SandboxTokens,
                                                      control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/expire-tokens")
    assert await provider.find(Entity.CUSTOMER, customer()) is None
    assert tokens.refreshes == 1


async def test_twelve_hours_later_the_token_has_expired(provider: FreshBooksProvider,
                                                        tokens: SandboxTokens,
                                                        control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/clock", json={"advance": 12 * 3600 - 60})
    await provider.fetch(Entity.CUSTOMER, "1")
    assert tokens.refreshes == 0
    await control.post("/_sandbox/clock", json={"advance": 120})
    await provider.fetch(Entity.CUSTOMER, "1")
    assert tokens.refreshes == 1


async def test_revoked_grant_is_auth_revoked(provider: FreshBooksProvider,
                                             control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/revoke")
    with pytest.raises(AuthRevoked, match="invalid_grant"):
        await provider.fetch(Entity.CUSTOMER, "1")


async def test_injected_server_error_and_garbage_are_transient(
        provider: FreshBooksProvider, control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/faults", json={"kind": "error", "status": 503})
    with pytest.raises(Transient) as caught:
        await provider.fetch(Entity.CUSTOMER, "1")
    assert (caught.value.code, caught.value.http_status) == ("500", 503)
    await control.post("/_sandbox/faults", json={"kind": "garbage"})
    with pytest.raises(Transient, match="valid JSON"):
        await provider.fetch(Entity.CUSTOMER, "1")


async def test_injected_burst_is_rate_limited(provider: FreshBooksProvider,
                                              control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/faults", json={"kind": "rate_limit", "count": 2})
    for _ in range(2):
        with pytest.raises(RateLimited) as caught:
            await provider.fetch(Entity.CUSTOMER, "1")
        assert caught.value.retry_after == 10.0
    assert await provider.fetch(Entity.CUSTOMER, "1") is None
