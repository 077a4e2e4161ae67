"""Xero's error bodies, each turned into exactly one taxonomy error.

Shapes Xero answers with (PLATFORMS.md §2.6, spec `Error` schema):

- 400 `{"ErrorNumber":10,"Type":"ValidationException","Message":"A validation exception
  occurred","Elements":[{…the element…,"ValidationErrors":[{"Message":"…"}]}]}` — a business
  rule; the element's own messages are what a user needs, so they become the message.
  Uniqueness rules ("Invoice # must be unique.", "The contact name … is already assigned to
  another contact…", "Price List Item with Code '…' already exists") are `Duplicate`.
- 200 with `summarizeErrors=false`: the same `ValidationErrors` inside each element.
- 401/403 problem details `{"Title":"Unauthorized","Status":401,"Detail":"TokenExpired: …"}`:
  `TokenExpired` is `AuthExpired`; `AuthenticationUnsuccessful` (revoked grant, wrong or missing
  `xero-tenant-id`) and `AuthorizationUnsuccessful` are `AuthRevoked`.
- 429 with `Retry-After` and `X-Rate-Limit-Problem: minute|day|concurrent` → `RateLimited`.
- 404 → `NotFound`; 5xx and bodies that are not JSON → `Transient`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

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
from providers._http import read_json

_UNIQUENESS = re.compile(
    r"must be unique|is already assigned to another contact|Item with Code .* already exists"
)


def error_from_response(response: httpx.Response) -> SyncError:
    """The taxonomy error for a response that is not a success."""
    status = response.status_code
    if status == 429:
        return _rate_limited(response)
    if status >= 500:
        return Transient(f"Xero answered HTTP {status}: {_preview(response)}", http_status=status)
    if status == 404:
        text = _preview(response) or "The resource you're looking for cannot be found"
        return NotFound(text, code="404", http_status=status)
    try:
        body = read_json(response)
    except Transient as exc:  # an HTML or XML page, or a cut-off body
        return exc
    if not isinstance(body, Mapping):
        return Transient(f"Xero answered HTTP {status} with unexpected JSON: {body!r:.120}",
                         http_status=status)
    if status in (401, 403):
        return _auth_error(body, status)
    messages = [m for element in body.get("Elements") or [] for m in _messages(element)]
    code = str(body.get("ErrorNumber") or body.get("Type") or status)
    message = "; ".join(messages) or str(body.get("Message") or body.get("Detail") or body)
    return _validation(message, messages, code, status)


def element_error(element: Mapping[str, Any], http_status: int) -> SyncError | None:
    """The error of one element of a `summarizeErrors=false` answer; None when it succeeded."""
    messages = _messages(element)
    if not messages and element.get("StatusAttributeString") != "ERROR":
        return None
    return _validation("; ".join(messages) or "Xero marked this element ERROR without a message",
                       messages, "10", http_status)


def _validation(message: str, messages: list[str], code: str, status: int) -> SyncError:
    if any(_UNIQUENESS.search(m) for m in messages):
        return Duplicate(message, code=code, http_status=status)
    return Validation(message, code=code, http_status=status)


def _messages(element: Mapping[str, Any]) -> list[str]:
    seen: list[str] = []
    for error in element.get("ValidationErrors") or []:
        text = str(error.get("Message", "")).strip()
        if text and text not in seen:
            seen.append(text)
    return seen


def _auth_error(body: Mapping[str, Any], status: int) -> SyncError:
    detail = str(body.get("Detail") or body.get("Title") or f"HTTP {status}")
    code = detail.split(":", 1)[0].strip() or str(status)
    if code == "TokenExpired":
        return AuthExpired(detail, code=code, http_status=status)
    return AuthRevoked(detail, code=code, http_status=status)


def _rate_limited(response: httpx.Response) -> RateLimited:
    problem = response.headers.get("X-Rate-Limit-Problem", "minute").lower()
    try:
        retry_after = float(response.headers.get("Retry-After", "60"))
    except ValueError:
        retry_after = 60.0
    return RateLimited(
        f"Xero rate limit reached ({problem}); retry after {retry_after:g} s",
        retry_after=retry_after, daily=problem == "day", code=problem, http_status=429,
    )


def _preview(response: httpx.Response) -> str:
    return response.text[:200].strip()
