"""How the QuickBooks sandbox writes bytes: JSON numbers, Intuit timestamps, Fault envelopes.

Amounts live as `Decimal` inside the sandbox and leave as JSON numbers, as QBO sends them.
Timestamps carry the Pacific offset QBO uses (`2014-09-19T13:16:17-07:00`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring
from xml.sax.saxutils import escape

from starlette.responses import Response

PACIFIC = timezone(timedelta(hours=-7))


class QboFault(Exception):
    """A business fault the sandbox answers with a `{"Fault": …}` envelope."""

    def __init__(self, code: str, message: str, detail: str, *, element: str = "",
                 status: int = 400, fault_type: str = "ValidationFault") -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def envelope(self) -> dict[str, Any]:
        """The `Fault` object, without the top-level `time` (batch items carry none)."""
        return {"Error": [{"Message": self.message, "Detail": self.detail, "code": self.code,
                           "element": self.element}], "type": self.fault_type}


def qbo_time(moment: datetime) -> str:
    return moment.astimezone(PACIFIC).isoformat(timespec="seconds")


def qbo_response_time(moment: datetime) -> str:
    """The top-level `time` field, which QBO writes with milliseconds."""
    return moment.astimezone(PACIFIC).isoformat(timespec="milliseconds")


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Integral amounts keep one decimal, as QBO writes them (275.0).
        return float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, default=_number, separators=(",", ":")).encode()


def loads(body: bytes) -> Any:
    return json.loads(body, parse_float=Decimal, parse_int=Decimal)


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json")


def fault_response(fault: QboFault, now: datetime) -> Response:
    return json_response({"Fault": fault.envelope(), "time": qbo_response_time(now)},
                         fault.status)


def as_xml(body: bytes) -> bytes:
    """A JSON answer as the XML QBO sends a client that did not ask for JSON."""
    payload = loads(body)
    root = Element("IntuitResponse", {"xmlns": "http://schema.intuit.com/finance/v3",
                                      "time": str(payload.pop("time", ""))})
    for key, value in payload.items():
        _xml_append(root, key, value)
    return b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + tostring(root)


def _xml_append(parent: Element, key: str, value: Any) -> None:
    if isinstance(value, list):
        for entry in value:
            _xml_append(parent, key, entry)
        return
    if key in ("domain", "sparse", "status", "type", "code", "element"):
        parent.set(key, _xml_text(value))  # XSD attributes, written as JSON keys
        return
    element = SubElement(parent, key)
    if not isinstance(value, dict):
        element.text = _xml_text(value)
        return
    for child_key, child in value.items():
        if "value" in value and child_key in ("value", "name"):
            # A reference: the id is the element's text, its name an attribute.
            if child_key == "value":
                element.text = _xml_text(child)
            else:
                element.set(child_key, _xml_text(child))
        else:
            _xml_append(element, child_key, child)


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass(frozen=True)
class GatewayFault:
    """An Intuit gateway fault: lowercase keys, a different envelope from business faults."""

    code: str
    name: str
    status: int
    detail: str
    fault_type: str

    def response(self, now: datetime) -> Response:
        message = f"message={self.name}; errorCode={int(self.code):06d}; statusCode={self.status}"
        return json_response({
            "warnings": None,
            "intuitObject": None,
            "fault": {"error": [{"message": message, "detail": self.detail, "code": self.code,
                                 "element": None}], "type": self.fault_type},
            "report": None,
            "queryResponse": None,
            "batchItemResponse": [],
            "attachableResponse": [],
            "syncErrorResponse": None,
            "requestId": None,
            "time": int(now.timestamp() * 1000),
            "status": None,
            "cdcresponse": [],
        }, self.status)


def throttle_response(now: datetime) -> Response:
    """HTTP 429 as Intuit sends it: an XML body even to a client that asked for JSON."""
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" '
        f'time="{escape(qbo_response_time(now))}">'
        '<Fault type="SERVICE"><Error code="3001">'
        "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
        "<Detail>The request limit was reached.  Try again later</Detail>"
        "</Error></Fault></IntuitResponse>"
    )
    return Response(body, status_code=429, media_type="application/xml")
