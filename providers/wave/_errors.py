"""Wave's answers → the error taxonomy, keeping Wave's codes and messages verbatim.

Wave answers HTTP 200 for almost everything (PLATFORMS.md §3.4); the body decides:

- `errors[].extensions.code` (the first error decides the class, every message is kept):
  `UNAUTHENTICATED` → `AuthExpired` when the token expired, else `AuthRevoked`;
  `NOT_FOUND` → `NotFound`; `GRAPHQL_VALIDATION_FAILED` (and `BAD_USER_INPUT`, `BAD_REQUEST`)
  → `Validation`; any other code (`INTERNAL_SERVER_ERROR`, unknown) → `Transient`.
- a mutation's `didSucceed: false` with `inputErrors[{code, message, path}]` → `Validation`
  whose `field` is the path ("input.items.0.productId"); a uniqueness rule (code
  `NOT_UNIQUE`, or "already in use/exists/been used" — Wave's vocabulary is UNCERTAIN) is
  `Duplicate`.
- HTTP 429 → `RateLimited` (Retry-After, else 60 s: Wave publishes no limits); 5xx and any
  body that is not the JSON envelope → `Transient`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import InvalidOperation
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

Json = dict[str, Any]

DEFAULT_RETRY_AFTER = 60.0
_VALIDATION_CODES = ("GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "BAD_USER_INPUT",
                     "BAD_REQUEST")
_UNIQUENESS = re.compile(r"already (in use|exists|been used|taken)", re.IGNORECASE)


def data_of(response: httpx.Response) -> Json:
    """The `data` object of a GraphQL answer, or the taxonomy error the answer carries."""
    status = response.status_code
    if status == 429:
        raise _rate_limited(response)
    if status >= 500:
        raise Transient(f"Wave answered HTTP {status}: {response.text[:200].strip()!r}",
                        http_status=status)
    body = read_json(response)
    if not isinstance(body, Mapping):
        raise Transient(f"Wave answered HTTP {status} with JSON that is not an object: "
                        f"{body!r:.120}", http_status=status)
    errors = body.get("errors")
    if errors:
        raise graphql_error(errors, status)
    data = body.get("data")
    if status >= 400 or not isinstance(data, Mapping):
        raise Transient(f"Wave answered HTTP {status} without data or errors: "
                        f"{response.text[:200]!r}", http_status=status)
    return dict(data)


def graphql_error(errors: Any, status: int | None = 200) -> SyncError:
    """The taxonomy error for a GraphQL `errors` array."""
    if not isinstance(errors, list) or not all(isinstance(e, Mapping) for e in errors):
        return Transient(f"Wave answered with an unreadable errors list: {errors!r:.160}",
                         http_status=status)
    first = errors[0]
    extensions = first.get("extensions") if isinstance(first.get("extensions"), Mapping) \
        else {}
    code = str(extensions.get("code") or "")
    message = "; ".join(str(e.get("message", "")).strip() for e in errors) or code
    if code == "UNAUTHENTICATED":
        kind: type[SyncError] = AuthExpired if "expired" in message.lower() else AuthRevoked
    elif code == "NOT_FOUND":
        kind = NotFound
    elif code in _VALIDATION_CODES:
        kind = Validation
    else:
        kind = Transient
    return kind(message, code=code or None, http_status=status)


def mutation_result(data: Mapping[str, Any], name: str, entity: str | None) -> Json:
    """A mutation's entity; `didSucceed: false` becomes Validation or Duplicate."""
    with reading(name):
        result = data[name]
        if result is None:
            raise Transient(f"Wave answered {name} with null and no error")
        if not result["didSucceed"]:
            raise input_error(result.get("inputErrors") or [])
        if entity is None:
            return {}
        node = result[entity]
        if not isinstance(node, Mapping):
            raise Transient(f"Wave's {name} succeeded but returned no {entity}")
        return dict(node)


def input_error(problems: list[Mapping[str, Any]]) -> SyncError:
    """The error for a mutation's `inputErrors`, with the first one's field path."""
    if not problems:
        return Validation("Wave refused the change without saying why (didSucceed false)")
    first = problems[0]
    message = "; ".join(str(p.get("message", "")).strip() for p in problems)
    code = str(first.get("code") or "") or None
    field = ".".join(str(part) for part in first.get("path") or []) or None
    if any(p.get("code") == "NOT_UNIQUE" or _UNIQUENESS.search(str(p.get("message", "")))
           for p in problems):
        return Duplicate(message, code=code, http_status=200, field=field)
    return Validation(message, code=code, http_status=200, field=field)


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Read a Wave answer; a missing or mistyped field means a malformed answer."""
    try:
        yield
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise Transient(f"Wave's answer to {what} is not shaped as expected: "
                        f"{type(exc).__name__}: {exc}") from None


def is_unauthenticated(response: httpx.Response) -> bool:
    """Wave's answer to an expired, unknown or revoked token: refresh once, then judge."""
    return response.status_code == 401 or b'"UNAUTHENTICATED"' in response.content


def _rate_limited(response: httpx.Response) -> RateLimited:
    try:
        retry_after = float(response.headers.get("Retry-After", DEFAULT_RETRY_AFTER))
    except ValueError:
        retry_after = DEFAULT_RETRY_AFTER
    return RateLimited(f"Wave rate limit reached; retry after {retry_after:g} s",
                       retry_after=retry_after, code="429", http_status=429)
