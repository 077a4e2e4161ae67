"""QuickBooks answers → the error taxonomy, keeping Intuit's code and text verbatim.

QBO speaks three error dialects:
- business faults `{"Fault":{"Error":[{"Message","Detail","code","element"}],"type"}}`,
  normally HTTP 400 but sometimes inside an HTTP 200 — the body decides, not the status;
- gateway faults with lowercase keys `{"fault":{"error":[{"message","detail","code"}]}}`
  (3200 expired/invalid token on 401, 3100 application not authorized on 403);
- the throttle answer: HTTP 429 with an XML `<Fault>` (code 3001) even to a JSON client.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree

import httpx

from engine import (
    AuthExpired,
    AuthRevoked,
    Duplicate,
    NotFound,
    RateLimited,
    Stale,
    SyncError,
    Transient,
    Validation,
)
from providers._http import read_json

THROTTLE_WAIT = 60.0
"""Intuit sends no Retry-After; its docs say to wait 60 seconds after a 429."""

_TXN_ID = re.compile(r"TxnId=(\d+)")
_NAME_ID = re.compile(r"\bId=(\d+)")


def read_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a QBO answer, or the taxonomy error it stands for."""
    if response.status_code == 429:
        raise _throttled(response)
    if response.status_code >= 500:
        raise Transient(_server_text(response), code=_fault_code(response),
                        http_status=response.status_code)
    body = read_json(response)
    if not isinstance(body, dict):
        raise Transient(f"QuickBooks answered HTTP {response.status_code} with JSON that is "
                        "not an object", http_status=response.status_code)
    if isinstance(body.get("Fault"), dict):
        raise fault_error(body["Fault"], response.status_code)
    if isinstance(body.get("fault"), dict):
        raise _gateway_error(body["fault"], response.status_code)
    if response.status_code >= 400:
        raise Validation(f"QuickBooks answered HTTP {response.status_code}: {response.text[:300]}",
                         http_status=response.status_code)
    return body


def fault_error(fault: dict[str, Any], http_status: int | None) -> SyncError:
    """A `Fault` envelope (a whole answer's or one batch item's) as one taxonomy error."""
    errors = [e for e in fault.get("Error") or [] if isinstance(e, dict)] or [{}]
    first = errors[0]
    code = str(first.get("code") or "")
    message = "; ".join(_text(e.get("Message"), e.get("Detail")) for e in errors)
    field = first.get("element") or None
    if code == "5010":
        return Stale(message, code=code, http_status=http_status, field=field)
    if code == "6140":
        return Duplicate(message, remote_id=_first(_TXN_ID, first), code=code,
                         http_status=http_status, field=field)
    if code == "6240":
        # Newer QBO answers name the holder ("… : Id=58"); the documented text does not.
        return Duplicate(message, remote_id=_first(_NAME_ID, first), code=code,
                         http_status=http_status, field=field or "DisplayName")
    if code == "610":
        return NotFound(message, code=code, http_status=http_status, field=field)
    if code == "3200":
        return AuthExpired(message, code=code, http_status=http_status)
    if code in ("3100", "120"):
        return AuthRevoked(message, code=code, http_status=http_status)
    if code == "3001":
        return RateLimited(message, retry_after=THROTTLE_WAIT, code=code, http_status=http_status)
    if fault.get("type") == "SystemFault" or code == "10000":
        return Transient(message, code=code, http_status=http_status)
    return Validation(message, code=code or None, http_status=http_status, field=field)


def _gateway_error(fault: dict[str, Any], http_status: int) -> SyncError:
    errors = [e for e in fault.get("error") or [] if isinstance(e, dict)] or [{}]
    first = errors[0]
    code = str(first.get("code") or "")
    message = "; ".join(_text(e.get("message"), e.get("detail")) for e in errors)
    if code == "3100" or http_status == 403:
        return AuthRevoked(message, code=code or None, http_status=http_status)
    if code == "3200" or http_status == 401:
        return AuthExpired(message, code=code or None, http_status=http_status)
    if code == "3001":
        return RateLimited(message, retry_after=THROTTLE_WAIT, code=code, http_status=http_status)
    return Transient(message, code=code or None, http_status=http_status)


def _throttled(response: httpx.Response) -> RateLimited:
    code, message = "3001", "QuickBooks throttled the request (HTTP 429)"
    try:
        error = ElementTree.fromstring(response.content).find(".//{*}Error")
    except ElementTree.ParseError:
        error = None
    if error is not None:
        code = error.get("code", code)
        message = _text(error.findtext("{*}Message"), error.findtext("{*}Detail"))
    return RateLimited(message, retry_after=THROTTLE_WAIT, code=code, http_status=429)


def _server_text(response: httpx.Response) -> str:
    try:
        errors = response.json()["Fault"]["Error"]
        return "; ".join(_text(e.get("Message"), e.get("Detail")) for e in errors)
    except (ValueError, KeyError, TypeError, AttributeError):
        preview = response.text[:120].replace("\n", " ")
        return f"QuickBooks answered HTTP {response.status_code}: {preview!r}"


def _fault_code(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["Fault"]["Error"][0]["code"])
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _text(message: Any, detail: Any) -> str:
    """Intuit's Message and Detail, verbatim; Detail often repeats Message as its prefix."""
    said, detailed = str(message or "").strip(), str(detail or "").strip()
    if not detailed or detailed == said:
        return said
    if not said or detailed.startswith(said):
        return detailed
    return f"{said}: {detailed}"


def _first(pattern: re.Pattern[str], error: dict[str, Any]) -> str | None:
    match = pattern.search(str(error.get("Detail") or ""))
    return str(match.group(1)) if match else None
