"""The `inputErrors` the sandbox answers with, in one place.

Wave documents the shape `{code, message, path}` but neither its code vocabulary nor its
messages (PLATFORMS.md §3.4, UNCERTAIN). These follow the conventions its Django back end
shows elsewhere ("Enter a valid email address."); `path` starts at `input` and names each
field down to the one at fault, list positions as strings ("items", "0", "productId").
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

NOT_UNIQUE = "NOT_UNIQUE"
"""The code of a uniqueness rule: clients tell duplicates from other failures by it."""


def _error(code: str, message: str, *path: str) -> Json:
    return {"code": code, "message": message, "path": ["input", *path]}


def _split(field: str, rest: str | None) -> list[str]:
    return [field, *(rest.split(".") if rest else [])]


def required(field: str) -> Json:
    return _error("REQUIRED", "This field is required.", field)


def invalid_email() -> Json:
    return _error("INVALID", "Enter a valid email address.", "email")


def negative(field: str, rest: str | None = None) -> Json:
    return _error("INVALID", "Ensure this value is greater than or equal to 0.",
                  *_split(field, rest))


def unknown(field: str, rest: str | None, kind: str) -> Json:
    return _error("INVALID", f"{kind} does not exist.", *_split(field, rest))


def not_income_account(account_id: str) -> Json:
    return _error("INVALID", f"Account '{account_id}' is not an income account.",
                  "incomeAccountId")


def number_taken(number: str) -> Json:
    return _error(NOT_UNIQUE, f"Invoice number {number} is already in use.", "invoiceNumber")


def due_before_issue() -> Json:
    return _error("INVALID", "Due date cannot be before the invoice date.", "dueDate")


def not_draft() -> Json:
    return _error("INVALID", "Only a draft invoice can be approved.", "invoiceId")


def draft_cannot_be_sent() -> Json:
    return _error("INVALID", "A draft invoice must be approved before it is sent.",
                  "invoiceId")


def classic(system: str, field: str) -> Json:
    return _error("INVALID", f"This business uses classic {system}, which this mutation "
                  "does not support.", field)


def unbalanced() -> Json:
    return _error("INVALID", "Line item amounts must add up to the anchor amount.",
                  "lineItems")


def has_payments() -> Json:
    return _error("INVALID", "An invoice with payments cannot be deleted. Remove its payments "
                  "first.", "invoiceId")
