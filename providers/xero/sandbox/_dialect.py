"""How the Xero sandbox speaks at the edges: tenant header, auth and limit errors, headers.

- Tenant: the `xero-tenant-id` header on every `/api.xro/2.0` call; missing or not granted
  gives 403 `AuthenticationUnsuccessful`. `/connections` has no tenant.
- Auth: an expired token gives 401 `TokenExpired: token expired at MM/dd/yyyy HH:mm:ss`
  (observed body shape, pyxero#337); a missing, unknown or revoked one 401
  `AuthenticationUnsuccessful`.
- Limits: `X-MinLimit-Remaining`, `X-DayLimit-Remaining`, `X-AppMinLimit-Remaining` on every
  answer; 429 with `Retry-After` and `X-Rate-Limit-Problem` (minute, day, concurrent). The
  429 body is UNCERTAIN; a problem-details object like the 401 one is used.
- Tokens: access 1800 s, `token_type` Bearer, no refresh expiry field in the answer.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from providers._sandbox import AuthFailure, Clock, Mark, RateVerdict, TokenAuthority

from .._auth import API_PATH, AUTHORIZE_PATH, REVOKE_PATH, SCOPE, TOKEN_PATH
from .._mapping import marked_id
from ._state import Company, Json

APP_PER_MINUTE = 10_000
"""Xero's app-wide limit across all tenants (developer.xero.com/faq/limits)."""

ENTITY_STORES = {
    "customer": "contacts",
    "item": "items",
    "invoice": "invoices",
    "payment": "payments",
    "credit_note": "credit_notes",
}
MARK_FIELDS = {"customer": "ContactNumber", "item": "PurchaseDescription", "invoice": "Reference",
               "payment": "Reference", "credit_note": "Reference"}
"""Where the provider writes its mark (`providers.xero._mapping.MARK_FIELDS`)."""


@dataclass
class XeroDialect:
    company: Company
    clock: Clock
    authority: TokenAuthority
    token_path: str = TOKEN_PATH
    authorize_path: str = AUTHORIZE_PATH
    revoke_path: str = REVOKE_PATH
    _app_recent: deque[datetime] = field(default_factory=deque)

    def tenant_of(self, request: Request) -> str | None:
        if not request.url.path.startswith(API_PATH):
            return None
        return request.headers.get("xero-tenant-id", "")

    def auth_error(self, failure: AuthFailure, request: Request) -> Response:
        if failure is AuthFailure.WRONG_TENANT:
            return _problem(403, "Forbidden", "AuthenticationUnsuccessful")
        if failure is AuthFailure.EXPIRED:
            expired = self.authority.access_expiry(request.headers.get("authorization", ""))
            stamp = (expired or self.clock.now()).strftime("%m/%d/%Y %H:%M:%S")
            return _problem(401, "Unauthorized", f"TokenExpired: token expired at {stamp}")
        return _problem(401, "Unauthorized", "AuthenticationUnsuccessful")

    def rate_limited(self, verdict: RateVerdict, request: Request) -> Response:
        response = _problem(429, "Too Many Requests",
                            f"Rate limit exceeded: {verdict.problem} limit")
        response.headers["Retry-After"] = str(max(verdict.retry_after, 1))
        response.headers["X-Rate-Limit-Problem"] = verdict.problem or "minute"
        self.decorate(response, verdict, request)
        return response

    def server_error(self, status: int, request: Request) -> Response:
        titles = {500: "Internal Server Error", 502: "Bad Gateway",
                  503: "Service Unavailable", 504: "Gateway Timeout"}
        return _problem(status, titles.get(status, "Server Error"),
                        "The Xero API is temporarily unavailable")

    def decorate(self, response: Response, verdict: RateVerdict, request: Request) -> None:
        now = self.clock.now()
        recent = self._app_recent
        while recent and now - recent[0] >= timedelta(minutes=1):
            recent.popleft()
        if verdict.allowed:
            recent.append(now)
        if verdict.minute_remaining is not None:
            response.headers["X-MinLimit-Remaining"] = str(verdict.minute_remaining)
        if verdict.day_remaining is not None:
            response.headers["X-DayLimit-Remaining"] = str(verdict.day_remaining)
        response.headers["X-AppMinLimit-Remaining"] = str(max(APP_PER_MINUTE - len(recent), 0))

    def token_response(self, issued: dict[str, object]) -> dict[str, object]:
        return {
            "id_token": "id_" + uuid.uuid4().hex,
            "access_token": issued["access_token"],
            "expires_in": issued["expires_in"],
            "token_type": "Bearer",
            "refresh_token": issued["refresh_token"],
            "scope": SCOPE,
        }

    def authorize_params(self) -> dict[str, str]:
        return {}

    def counts(self) -> dict[str, int]:
        return {entity: sum(1 for obj in getattr(self.company, store).values()
                            if obj.get("Status") != "DELETED")
                for entity, store in ENTITY_STORES.items()}

    def marks(self) -> Iterator[Mark]:
        """DELETED documents and payments are gone; VOIDED and ARCHIVED objects still exist.
        A local payment over several invoices is one Xero Payment per invoice (`pays`); an
        overpayment is one bank transaction, marked in its line, paying what it allocates."""
        for entity, store in ENTITY_STORES.items():
            for obj in getattr(self.company, store).values():
                record_id = marked_id(obj.get(MARK_FIELDS[entity]))
                # A refund pays a credit note back: it is part of that note, not a payment.
                if record_id is None or obj.get("Status") == "DELETED" or "CreditNote" in obj:
                    continue
                pays = (self._invoice_mark(obj["Invoice"]),) if entity == "payment" else ()
                yield Mark(entity, record_id, pays)
        for transaction in self.company.bank_transactions.values():
            lines = transaction.get("LineItems") or [{}]
            record_id = marked_id(lines[0].get("Description"))
            if record_id is None or transaction.get("Status") == "DELETED":
                continue
            overpayment = self.company.overpayments.get(str(transaction.get("OverpaymentID")), {})
            yield Mark("payment", record_id, tuple(self._invoice_mark(a["Invoice"])
                                                   for a in overpayment.get("Allocations", [])))

    def _invoice_mark(self, ref: Json) -> str:
        invoice_id = str(ref.get("InvoiceID"))
        invoice = self.company.invoices.get(invoice_id, {})
        return marked_id(invoice.get("Reference")) or f"remote:{invoice_id}"

    def delete(self, entity: str, object_id: str) -> bool:
        store_name = ENTITY_STORES.get(entity)
        if store_name is None:
            return False
        store = getattr(self.company, store_name)
        found = store.get(object_id)
        if found is None:
            return False
        if entity == "payment":  # the invoice gets its balance back, as in Xero
            self.company.delete_payment(found)
        del store[object_id]
        return True


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"Type": None, "Title": title, "Status": status, "Detail": detail,
                         "Instance": str(uuid.uuid4()), "Extensions": {}}, status_code=status)
