"""How the FreshBooks sandbox speaks at the edges: account in the path, auth and 429 bodies.

- Tenant: the `{accountId}` of `/accounting/account/{accountId}/…`; an account outside the
  grant gets 403 errno 1003 AccessDenied in the accounting error shape.
- Auth: a missing, unknown, expired or revoked token gets 401 with the newer services'
  body `{"errno":401,"message":"invalid_token: The request token failed to authenticate or
  validate."}` (SDK fixture); FreshBooks does not tell expiry from revocation.
- Limits: none published and no headers (UNCERTAIN); 429 with
  `{"errno":429,"message":"Too Many Requests"}` and no Retry-After.
- 5xx: errno 500 FreshAlchemyUnexpected in the accounting shape.
- Tokens: `token_type` Bearer, `expires_in` 43200, `scope`, `created_at` (epoch seconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from providers._sandbox import AuthFailure, Clock, Mark, RateVerdict

from .._auth import AUTHORIZE_PATH, REVOKE_PATH, SCOPE, TOKEN_PATH
from .._mapping import marked_id
from . import _rules as rules
from ._routes import counted, error_response
from ._state import CREDIT_TYPE, Books, Json

INVALID_TOKEN = "invalid_token: The request token failed to authenticate or validate."

ENTITY_STORES = {"customer": "clients", "item": "items", "invoice": "invoices",
                 "payment": "payments", "credit_note": "credit_notes"}
NOUNS = {"customer": "client", "item": "item", "invoice": "invoice", "payment": "payment",
         "credit_note": "credit_note"}
"""The engine's entity names as FreshBooks names its objects (and its webhook events)."""
MARK_FIELDS = {"customer": "note", "item": "description", "invoice": "po_number",
               "payment": "note", "credit_note": "po_number"}
"""Where the provider writes its marker (`providers.freshbooks._mapping`)."""
DELETED = 1
"""`vis_state`: 0 active, 1 deleted, 2 archived (an archived object still exists)."""


@dataclass
class FreshBooksDialect:
    books: Books
    clock: Clock
    token_path: str = TOKEN_PATH
    authorize_path: str = AUTHORIZE_PATH
    revoke_path: str = REVOKE_PATH

    def tenant_of(self, request: Request) -> str | None:
        account = request.path_params.get("account_id")
        return str(account) if account is not None else None

    def auth_error(self, failure: AuthFailure, request: Request) -> Response:
        if failure is AuthFailure.WRONG_TENANT:
            return error_response(403, rules.FbError(
                rules.ACCESS_DENIED, "accountid", "The server understood the request, but "
                "refuses to authorize it.", "account", self.tenant_of(request)))
        return JSONResponse({"errno": 401, "message": INVALID_TOKEN}, status_code=401)

    def rate_limited(self, verdict: RateVerdict, request: Request) -> Response:
        return JSONResponse({"errno": 429, "message": "Too Many Requests"}, status_code=429)

    def server_error(self, status: int, request: Request) -> Response:
        return error_response(status, rules.FbError(
            500, None, "An unexpected error occurred. Please try again.", "server"))

    def decorate(self, response: Response, verdict: RateVerdict, request: Request) -> None:
        return None  # FreshBooks sends no quota headers

    def token_response(self, issued: dict[str, object]) -> dict[str, object]:
        return {"access_token": issued["access_token"], "token_type": "Bearer",
                "expires_in": issued["expires_in"], "refresh_token": issued["refresh_token"],
                "scope": SCOPE, "created_at": int(self.clock.now().timestamp())}

    def authorize_params(self) -> dict[str, str]:
        return {}

    def counts(self) -> dict[str, int]:
        return counted(self.books)

    def marks(self) -> Iterator[Mark]:
        """A payment of type Credit applies a credit note and carries the note's marker:
        `credit_note_payment`. A local payment over several invoices is one FreshBooks
        payment per invoice (`pays`)."""
        for entity, store in ENTITY_STORES.items():
            for obj in getattr(self.books, store).values():
                record_id = marked_id(obj.get(MARK_FIELDS[entity]))
                if record_id is None or obj["vis_state"] == DELETED:
                    continue
                if entity != "payment":
                    yield Mark(entity, record_id)
                    continue
                invoice = self.books.invoices.get(obj["invoiceid"], {})
                pays = (marked_id(invoice.get("po_number")) or f"remote:{obj['invoiceid']}",)
                kind = "credit_note_payment" if obj.get("type") == CREDIT_TYPE else entity
                yield Mark(kind, record_id, pays)

    def delete(self, entity: str, object_id: str) -> bool:
        """Soft-delete (`vis_state` 1) behind the client's back, as a FreshBooks user does."""
        store: dict[int, Json] | None = getattr(self.books, ENTITY_STORES.get(entity, ""), None)
        found = store.get(int(object_id)) if store is not None and object_id.isdigit() else None
        if found is None or found["vis_state"] != 0:
            return False
        if entity == "payment":
            self.books.delete_payment(found)
        elif entity == "credit_note":
            self.books.update_credit_note(found, {"vis_state": 1})
        else:
            self.books.soft_delete(NOUNS[entity], found)
        return True
