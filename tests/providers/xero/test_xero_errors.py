"""Every Xero error body becomes the right taxonomy class, with Xero's words verbatim."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from engine import (
    AuthExpired,
    AuthRevoked,
    Duplicate,
    NotFound,
    RateLimited,
    SyncError,
    Transient,
    Validation,
)
from providers.xero._errors import element_error, error_from_response


def response(status: int, body: Any = None, *, text: str | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
    content = text if text is not None else json.dumps(body)
    return httpx.Response(status, content=content.encode(), headers=headers or {})


def validation_body(*messages: str) -> dict[str, Any]:
    return {"ErrorNumber": 10, "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": [{"InvoiceID": "00000000-0000-0000-0000-000000000000",
                          "ValidationErrors": [{"Message": m} for m in messages]}]}


@pytest.mark.parametrize(("message", "expected"), [
    ("Email address must be valid.", Validation),
    ("Account code '999' is not a valid code for this document.", Validation),
    ("Invoice # must be unique.", Duplicate),
    ("The contact name ABC Limited is already assigned to another contact. The contact name "
     "must be unique across all active contacts.", Duplicate),
    ("Price List Item with Code 'ADRY' already exists", Duplicate),
])
def test_validation_exception(message: str, expected: type[SyncError]) -> None:
    error = error_from_response(response(400, validation_body(message)))
    assert type(error) is expected
    assert (error.message, error.code, error.http_status) == (message, "10", 400)


def test_several_messages_are_all_kept_verbatim() -> None:
    error = error_from_response(response(400, validation_body(
        "Account must be valid.", "Tax rate must be valid.")))
    assert error.message == "Account must be valid.; Tax rate must be valid."


def test_api_exception_without_elements_keeps_its_message_and_number() -> None:
    error = error_from_response(response(400, {
        "ErrorNumber": 17, "Type": "NoDataProcessedException",
        "Message": "No data has been processed for this endpoint."}))
    assert type(error) is Validation
    assert (error.message, error.code) == ("No data has been processed for this endpoint.", "17")


def test_summarize_false_element_errors() -> None:
    ok = {"ContactID": "x", "StatusAttributeString": "OK"}
    bad = {"StatusAttributeString": "ERROR", "HasErrors": True,
           "ValidationErrors": [{"Message": "Contact Name cannot be empty."}]}
    assert element_error(ok, 200) is None
    error = element_error(bad, 200)
    assert isinstance(error, Validation) and error.message == "Contact Name cannot be empty."


def problem(status: int, detail: str) -> dict[str, Any]:
    return {"Type": None, "Title": "Unauthorized", "Status": status, "Detail": detail,
            "Instance": "6489df60-0000-0000-0000-000000000000", "Extensions": {}}


def test_auth_errors() -> None:
    expired = error_from_response(response(
        401, problem(401, "TokenExpired: token expired at 04/09/2023 05:16:59")))
    assert isinstance(expired, AuthExpired)
    assert expired.message == "TokenExpired: token expired at 04/09/2023 05:16:59"
    assert expired.code == "TokenExpired"
    for status in (401, 403):
        revoked = error_from_response(response(status, problem(status,
                                                               "AuthenticationUnsuccessful")))
        assert isinstance(revoked, AuthRevoked)
        assert (revoked.message, revoked.code) == ("AuthenticationUnsuccessful",
                                                   "AuthenticationUnsuccessful")


@pytest.mark.parametrize(("problem_header", "daily"), [("minute", False), ("day", True)])
def test_rate_limited(problem_header: str, daily: bool) -> None:
    error = error_from_response(response(429, text="", headers={
        "Retry-After": "17", "X-Rate-Limit-Problem": problem_header}))
    assert isinstance(error, RateLimited)
    assert (error.retry_after, error.daily, error.code) == (17.0, daily, problem_header)


def test_not_found_and_server_errors() -> None:
    missing = error_from_response(response(
        404, text="The resource you're looking for cannot be found"))
    assert isinstance(missing, NotFound)
    assert missing.message == "The resource you're looking for cannot be found"
    assert isinstance(error_from_response(response(503, text="<html>down</html>")), Transient)
    assert isinstance(error_from_response(response(500, {"Message": "boom"})), Transient)


@pytest.mark.parametrize("body", ['<html><body>Bad Gateway</body></html>', '{"ErrorNum',
                                  '<ApiException><ErrorNumber>10</ErrorNumber></ApiException>'])
def test_malformed_error_bodies_are_transient(body: str) -> None:
    assert isinstance(error_from_response(response(400, text=body)), Transient)
