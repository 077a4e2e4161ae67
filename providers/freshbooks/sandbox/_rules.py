"""The errors the sandbox answers with, as FreshBooks' accounting API shapes them.

Every refusal is `{"response":{"errors":[{"errno","field","message","object","value"}]}}`.
The errnos are FreshBooks' own (freshbooks.com/api/errors, PLATFORMS.md §4.4): 1001
RequiredField, 1003 AccessDenied, 1004 InvalidValue, 1005 ParseError, 1007
DateRangeBackwardsError, 1012 UnknownResource, 1013 InvalidPerPage, 1014 InvalidPage.
"Client not found." is a published fixture; the other
messages are UNCERTAIN wording that says plainly what FreshBooks refuses. Duplicate document
numbers and client names are refused with 1004 on the field (UNCERTAIN behaviour, chosen so a
sync engine meets the collision; `unique_client_names` turns the client rule off).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REQUIRED = 1001
ACCESS_DENIED = 1003
INVALID = 1004
PARSE = 1005
UNKNOWN = 1012
INVALID_PER_PAGE = 1013
INVALID_PAGE = 1014
DATE_RANGE_BACKWARDS = 1007


@dataclass(frozen=True)
class FbError:
    errno: int
    field: str | None
    message: str
    object: str
    value: Any = None

    def wire(self) -> dict[str, Any]:
        value = None if self.value is None else str(self.value)
        return {"errno": self.errno, "field": self.field, "message": self.message,
                "object": self.object, "value": value}


class Refused(Exception):
    """A write or read FreshBooks refuses: the HTTP status and its errors."""

    def __init__(self, status: int, *errors: FbError) -> None:
        super().__init__(errors[0].message if errors else "refused")
        self.status = status
        self.errors = errors


def not_found(kind: str, object_id: Any, field: str = "id") -> Refused:
    label = kind.replace("_", " ").capitalize()
    return Refused(404, FbError(UNKNOWN, field, f"{label} not found.", kind, object_id))


def required(kind: str, field: str) -> FbError:
    return FbError(REQUIRED, field, f"{field} is required.", kind)


def invalid(kind: str, field: str, message: str, value: Any = None) -> FbError:
    return FbError(INVALID, field, message, kind, value)


def duplicate_number(kind: str, field: str, number: str) -> FbError:
    label = "Invoice" if kind == "invoice" else "Credit"
    return invalid(kind, field, f"{label} number already exists.", number)


def duplicate_client(organization: str) -> FbError:
    return invalid("client", "organization", "A client with this organization already exists.",
                   organization)


NO_CLIENT_NAME = ("A client needs a first name, a last name, an organization or an email "
                  "address.")
AMOUNT_POSITIVE = "Amount must be greater than zero."
EXCEEDS_OUTSTANDING = "Amount exceeds the invoice's outstanding balance."
EXCEEDS_CREDIT = "Amount exceeds the credit's remaining balance."
CREDIT_OTHER_CLIENT = "The credit belongs to another client than the invoice."
OTHER_CLIENT = "The invoice belongs to another client than the payment."
PAYMENT_FIXED = ("A payment's amount and invoice cannot be changed: delete it and record a "
                 "new one.")
CREDIT_APPLIED = "A credit note with applied credit cannot be changed."
UNKNOWN_TYPE = "Invalid payment type."
