"""FreshBooks' error bodies, each turned into exactly one taxonomy error.

Shapes FreshBooks answers with (PLATFORMS.md §4.4, SDK fixtures):

- accounting: `{"response":{"errors":[{"errno":1012,"field":"userid","message":"Client not
  found.","object":"client","value":"12345"}]}}` with a 4xx status;
- newer services (auth, events): `{"errno":401,"message":"invalid_token: …","details":[…]}`;
- gRPC-style gateway: `{"code":5,"message":"…","details":[{"reason":"1012","metadata":
  {"object","message","value","field"}}]}`.

Classes, by errno first and HTTP status second:

- 1012 UnknownResource, 1011 DeletedResource, or a 404 → `NotFound`;
- 1001 RequiredField, 1004 InvalidValue and the other business errnos → `Validation`, with
  the field; a 1004 on a field that must be unique (`invoice_number`, `credit_number`,
  `organization`) saying it "already exists" → `Duplicate`. FreshBooks' duplicate behaviour
  is UNCERTAIN (§4.4); the sandbox answers that way and the message is kept verbatim;
- 1003 AccessDenied or a 403 (account not in the grant) → `AuthRevoked`;
- 401 (`invalid_token`, expired or revoked alike) → `AuthExpired`: one refresh tells which;
- 409 Conflict ("being modified by another request") → `Transient`: FreshBooks has no
  version token to re-read, so waiting and sending the same write again is the whole fix;
- 429 → `RateLimited` (no documented header; `Retry-After` is honoured when present);
- 5xx, errno 500, and bodies that are not JSON or not one of these shapes → `Transient`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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

UNIQUE_FIELDS = frozenset({"invoice_number", "credit_number", "organization"})
DEFAULT_RETRY_AFTER = 10.0
"""FreshBooks documents no Retry-After; its SDKs back off for seconds, not minutes."""

_NOT_FOUND = frozenset({1011, 1012})


@dataclass(frozen=True)
class _Problem:
    errno: int | None
    message: str
    field: str | None = None


def error_from_response(response: httpx.Response) -> SyncError:
    """The taxonomy error for a response that is not a success."""
    status = response.status_code
    if status == 429:
        return _rate_limited(response)
    try:
        body = read_json(response)
    except Transient as exc:  # an HTML error page, or a cut-off body
        return exc
    problems = _problems(body)
    if not problems:
        return Transient(f"FreshBooks answered HTTP {status} with an unexpected body: "
                         f"{response.text[:120]!r}", http_status=status)
    first = problems[0]
    message = "; ".join(p.message for p in problems)
    code = str(first.errno) if first.errno is not None else str(status)
    if status >= 500 or first.errno == 500 or status == 409 or first.errno == 409:
        return Transient(message, code=code, http_status=status)
    if status == 401:
        return AuthExpired(message, code=code, http_status=status)
    if status == 403 or first.errno == 1003:
        return AuthRevoked(message, code=code, http_status=status)
    if status == 404 or first.errno in _NOT_FOUND:
        return NotFound(message, code=code, http_status=status)
    if first.errno == 1004 and first.field in UNIQUE_FIELDS and "already exists" in message:
        return Duplicate(message, code=code, http_status=status, field=first.field)
    return Validation(message, code=code, http_status=status, field=first.field)


def malformed(what: str, payload: Any, status: int | None = None) -> Transient:
    """A 2xx answer without what it should carry: the platform misbehaved, try again."""
    return Transient(f"FreshBooks answered without {what}: {str(payload)[:120]!r}",
                     http_status=status)


def _problems(body: Any) -> list[_Problem]:
    if not isinstance(body, Mapping):
        return []
    envelope = body.get("response")
    if isinstance(envelope, Mapping) and isinstance(envelope.get("errors"), list):
        return [_accounting(error) for error in envelope["errors"] if isinstance(error, Mapping)]
    details = body.get("details")
    if isinstance(details, list) and any(isinstance(d, Mapping) and "reason" in d
                                         for d in details):
        return [_gateway(d) for d in details if isinstance(d, Mapping)]
    if "message" in body:
        extra = [str(d) for d in details or [] if isinstance(d, str)]
        text = "; ".join([str(body["message"]), *extra])
        return [_Problem(_int(body.get("errno") or body.get("code")), text)]
    return []


def _accounting(error: Mapping[str, Any]) -> _Problem:
    field = error.get("field")
    return _Problem(_int(error.get("errno")), str(error.get("message") or "no message"),
                    str(field) if field else None)


def _gateway(detail: Mapping[str, Any]) -> _Problem:
    metadata = detail.get("metadata") if isinstance(detail.get("metadata"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    field = metadata.get("field")
    return _Problem(_int(detail.get("reason")), str(metadata.get("message") or "no message"),
                    str(field) if field else None)


def _rate_limited(response: httpx.Response) -> RateLimited:
    try:
        retry_after = float(response.headers.get("Retry-After", DEFAULT_RETRY_AFTER))
    except ValueError:
        retry_after = DEFAULT_RETRY_AFTER
    return RateLimited(f"FreshBooks rate limit reached; retry after {retry_after:g} s",
                       retry_after=retry_after, code="429", http_status=429)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
