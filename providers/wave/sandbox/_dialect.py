"""How the Wave sandbox speaks at the edges: auth and limit errors, tokens, control API.

- Tenant: Wave names the business inside each request (`businessId`, `business(id:)`), not
  in a header, so the shared guard sees no tenant; the resolvers check the grant instead.
- Auth: a missing, unknown, expired or revoked token is a GraphQL error with code
  `UNAUTHENTICATED` in an HTTP 200 answer (PLATFORMS.md §3.4). The messages are this
  sandbox's (Wave's own are UNCERTAIN); an expired token says "expired", which is what
  lets a reader tell it from a revoked one.
- Limits: Wave publishes none and sends no quota headers. Over the limit the sandbox
  answers HTTP 429 with `Retry-After` and a GraphQL error (body UNCERTAIN).
- Server errors: 500 is a GraphQL `INTERNAL_SERVER_ERROR`; 502–504 come from the load
  balancer in front of it, as an HTML page.
- Tokens: `token_type` Bearer, access 7200 s, plus the `userId` and `businessId` of the
  grant as Wave's OAuth guide shows.
- Revoke: Wave documents no revoke endpoint; the path here exists only because the shared
  sandbox kit serves one, and syncdesk's Wave client never calls it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from providers._sandbox import AuthFailure, Mark, RateVerdict

from .._auth import AUTHORIZE_PATH, SCOPE, TOKEN_PATH
from .._mapping import marked_id
from ._state import Books

REVOKE_PATH = "/oauth2/revoke/"

_AUTH_MESSAGES = {
    AuthFailure.MISSING: "You must be authenticated: send an Authorization: Bearer token.",
    AuthFailure.EXPIRED: "The access token has expired.",
    AuthFailure.REVOKED: "The access token has been revoked.",
}
_INVALID_TOKEN = "The access token is invalid."

STORES = {"customer": "customers", "item": "products", "invoice": "invoices",
          "payment": "transactions"}
"""Entity names of the control API → the books' stores (a payment can only be a money
transaction on Wave)."""
MARK_FIELDS = {"customer": ("customers", "displayId"), "item": ("products", "description"),
               "invoice": ("invoices", "footer")}
"""Where the provider writes its mark (`providers.wave._mapping`); Wave takes no payments or
credit notes from syncdesk, so nothing else is ever marked."""


@dataclass
class WaveDialect:
    books: Books
    token_path: str = TOKEN_PATH
    authorize_path: str = AUTHORIZE_PATH
    revoke_path: str = REVOKE_PATH

    def tenant_of(self, request: Request) -> str | None:
        return None

    def auth_error(self, failure: AuthFailure, request: Request) -> Response:
        return graphql_error(_AUTH_MESSAGES.get(failure, _INVALID_TOKEN), "UNAUTHENTICATED")

    def rate_limited(self, verdict: RateVerdict, request: Request) -> Response:
        response = graphql_error("Rate limit exceeded. Try again later.", "TOO_MANY_REQUESTS",
                                 status=429)
        response.headers["Retry-After"] = str(max(verdict.retry_after, 1))
        return response

    def server_error(self, status: int, request: Request) -> Response:
        if status == 500:
            return graphql_error("Internal server error", "INTERNAL_SERVER_ERROR", status=500)
        return HTMLResponse(f"<html><body><h1>{status} Service Unavailable</h1></body></html>",
                            status_code=status)

    def decorate(self, response: Response, verdict: RateVerdict, request: Request) -> None:
        return None  # Wave sends no rate-limit or request-id headers

    def token_response(self, issued: dict[str, object]) -> dict[str, object]:
        return {"access_token": issued["access_token"], "token_type": "Bearer",
                "expires_in": issued["expires_in"], "refresh_token": issued["refresh_token"],
                "scope": SCOPE, "userId": "VXNlcjox", "businessId": self.books.id}

    def authorize_params(self) -> dict[str, str]:
        return {}

    def counts(self) -> dict[str, int]:
        return {entity: len(getattr(self.books, store)) for entity, store in STORES.items()}

    def marks(self) -> Iterator[Mark]:
        """A deleted invoice is gone from the books; an archived product is Wave's deleted
        product (there is no productDelete), and `find` passes it over, so it is not counted."""
        for entity, (store, field_name) in MARK_FIELDS.items():
            for obj in getattr(self.books, store).values():
                record_id = marked_id(obj.get(field_name))
                if record_id is not None and not obj.get("isArchived"):
                    yield Mark(entity, record_id)

    def delete(self, entity: str, object_id: str) -> bool:
        store = STORES.get(entity)
        if store is None:
            return False
        return getattr(self.books, store).pop(object_id, None) is not None


def graphql_error(message: str, code: str, *, status: int = 200) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {
        "id": str(uuid.uuid4()), "code": code}}], "data": None}, status_code=status)
