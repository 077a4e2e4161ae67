"""Errors, one hierarchy.

Every platform failure is translated by its provider into exactly one `SyncError` subclass
(the error taxonomy of DESIGN.md), keeping the platform's own code and message verbatim so a
user reads what QuickBooks or Xero said. The engine decides what to do from the class alone:

    SyncError
    ├── Transient       5xx, timeout, connection reset, malformed response → back off, retry
    ├── RateLimited     429 / quota exhausted → wait as told; not counted as an attempt
    ├── AuthExpired     access token expired → refresh once under the token lock, retry
    ├── AuthRevoked     invalid_grant, revoked consent → pause the connection, notify, no retry
    ├── Validation      a platform business rule → failed, with the platform's message
    ├── Duplicate       duplicate document number or name → failed, or re-link if provably ours
    ├── NotFound        the linked remote object was deleted → broken link
    ├── Stale           version token out of date → re-read, re-apply, retry once
    ├── Unmapped        no call made: mapping missing (item without income account) → skipped
    └── Unsupported     no call made: the platform cannot do this at all → skipped

Errors that are not about a platform:

    SyncdeskError
    ├── SyncError (above)
    ├── InputError      a file, record or field given to syncdesk is wrong
    ├── StoreError      the store file cannot be opened or is from a newer version
    └── ConfigError     configuration or command-line arguments are wrong
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    """The taxonomy name stored with every failed attempt."""

    TRANSIENT = "transient"
    RATE_LIMITED = "rate_limited"
    AUTH_EXPIRED = "auth_expired"
    AUTH_REVOKED = "auth_revoked"
    VALIDATION = "validation"
    DUPLICATE = "duplicate"
    NOT_FOUND = "not_found"
    STALE = "stale"
    UNMAPPED = "unmapped"
    UNSUPPORTED = "unsupported"


class SyncdeskError(Exception):
    """Base of every error syncdesk raises on purpose."""


class InputError(SyncdeskError):
    """Bad input: names where (file, record, field) and what is wrong."""


class StoreError(SyncdeskError):
    """The store cannot be used: unreadable file, newer schema, another engine holds it."""


class ConfigError(SyncdeskError):
    """Configuration or arguments that cannot work."""


class SyncError(SyncdeskError):
    """A push or read against a platform failed.

    `code` and `message` are the platform's own, verbatim. `http_status` is the HTTP status
    of the response, if there was one.
    """

    error_class: ErrorClass
    hint: str = ""
    """What a user can do about it, shown beside the platform's message."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class Transient(SyncError):
    """The platform or the network failed in a way that may pass: 5xx, timeout, bad body."""

    error_class = ErrorClass.TRANSIENT
    hint = "Temporary platform or network trouble; syncdesk retries with back-off."


class RateLimited(SyncError):
    """The platform throttled us. `retry_after` seconds is how long it asked us to wait."""

    error_class = ErrorClass.RATE_LIMITED
    hint = "The platform's request limit was reached; syncdesk waits and resumes by itself."

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        daily: bool = False,
        code: str | None = None,
        http_status: int | None = 429,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.retry_after = retry_after
        self.daily = daily


class AuthExpired(SyncError):
    """The access token has expired; a refresh should fix it."""

    error_class = ErrorClass.AUTH_EXPIRED
    hint = "The access token expired; syncdesk refreshes it."


class AuthRevoked(SyncError):
    """The grant is gone (invalid_grant, consent revoked, wrong tenant): reconnect needed."""

    error_class = ErrorClass.AUTH_REVOKED
    hint = "The connection was revoked or expired: reconnect it with `syncdesk connect`."


class Validation(SyncError):
    """The platform rejected the record under one of its business rules."""

    error_class = ErrorClass.VALIDATION
    hint = "Fix the record (or the platform's settings) as the message says, then retry."


class Duplicate(SyncError):
    """The platform already has a document with this number or a name like this.

    `remote_id` is set when the platform told us which object holds it.
    """

    error_class = ErrorClass.DUPLICATE
    hint = ("Another object on the platform has this number or name. If it is this same "
            "record, adopt it: `syncdesk adopt JOB REMOTE_ID` shows it, then links it (the "
            "next push updates it). If it is another, rename one of them, then retry.")

    def __init__(
        self,
        message: str,
        *,
        remote_id: str | None = None,
        code: str | None = None,
        http_status: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status, field=field)
        self.remote_id = remote_id


class TotalMismatch(Validation):
    """The platform took the document but its total differs from the ledger's.

    The object exists: `ref` is it, so the record is linked (a retry updates it, never
    creates a second) and fails visibly with both amounts.
    """

    hint = ("The platform computed a different total: check the tax code mappings and the "
            "line amounts, then retry (it updates the same document).")

    def __init__(self, message: str, *, ref: object, ledger_total: object,
                 platform_total: object, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.ref = ref
        self.ledger_total = ledger_total
        self.platform_total = platform_total


class NotFound(SyncError):
    """The remote object we linked to no longer exists on the platform."""

    error_class = ErrorClass.NOT_FOUND
    hint = ("It was deleted on the platform: relink looks for syncdesk's own copy and "
            "re-creates it if there is none; adopt links another object you choose.")


class Stale(SyncError):
    """Our version token is out of date: someone changed the object on the platform."""

    error_class = ErrorClass.STALE
    hint = "Changed on the platform meanwhile; syncdesk re-reads it and retries once."


class Unmapped(SyncError):
    """Nothing was sent: a mapping the platform needs is missing (no call made).

    A provider names the missing mapping with `kind` (a `MappingKind` value of
    `engine._mappings`: income_account, default_income_account, deposit_account, tax_code,
    no_tax_code, payment_method, class, location) and, for the kinds that map one local value,
    `key` (the local item id, tax code, payment method, class or location). The failure's
    stored code is then `unmapped:<kind>:<key>` (`unmapped:<kind>` for a connection-wide
    value), so setting exactly that mapping re-queues exactly the records it held back:

        raise Unmapped("tax 'GST' has no Xero tax rate — map one", kind="tax_code", key="GST")

    An item with no income account of its own is `kind="income_account", key=<item id>`;
    setting the connection's default income account unblocks those as well. An Unmapped
    without a kind (a parent not on the platform yet) keeps the code it was given.
    """

    error_class = ErrorClass.UNMAPPED
    hint = ("Map it with `syncdesk map set` or on the Connections screen (m); the records it "
            "held back are re-queued.")

    def __init__(self, message: str, *, kind: str | None = None, key: str | None = None,
                 code: str | None = None, http_status: int | None = None,
                 field: str | None = None) -> None:
        if kind is not None:
            code = unmapped_code(kind, key)
        super().__init__(message, code=code, http_status=http_status, field=field)
        self.kind = kind
        self.key = key


def unmapped_code(kind: str, key: str | None = None) -> str:
    """The stored code of an `Unmapped` failure for this mapping (see `Unmapped`)."""
    return f"unmapped:{kind}" if key is None else f"unmapped:{kind}:{key}"


class Unsupported(SyncError):
    """Nothing was sent: the platform's API cannot do this."""

    error_class = ErrorClass.UNSUPPORTED
    hint = "The platform's public API does not offer this; record it there by hand."


ERROR_TYPES: dict[ErrorClass, type[SyncError]] = {
    cls.error_class: cls
    for cls in (Transient, RateLimited, AuthExpired, AuthRevoked, Validation, Duplicate,
                NotFound, Stale, Unmapped, Unsupported)
}
