"""How the QuickBooks sandbox speaks at the edges: OAuth paths, realm, gateway faults, 429."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from providers._sandbox import AuthFailure, Clock, Mark, RateVerdict

from .._mapping import CREDIT_PURPOSE, marked_id
from ._rules import discard
from ._state import ENTITY_OF_CONTROL_NAME, Company, Obj
from ._wire import GatewayFault, QboFault, fault_response, throttle_response

_EXPIRED = GatewayFault("3200", "AuthenticationFailed", 401,
                        "Token expired: the access token has expired", "AUTHENTICATION")
_INVALID = GatewayFault("3200", "AuthenticationFailed", 401,
                        "Token invalid: the access token is not valid", "AUTHENTICATION")
MARK_FIELDS = {"Customer": "Notes", "Item": "PurchaseDesc", "Invoice": "PrivateNote",
               "CreditMemo": "PrivateNote", "Payment": "PrivateNote"}
"""Where the provider writes its mark on each entity (`providers.quickbooks._mapping`)."""
_CREDIT_SUFFIX = f":{CREDIT_PURPOSE}"

_WRONG_REALM = GatewayFault("3100", "ApplicationAuthorizationFailed", 403,
                            "The application is not authorized for this company", "SERVICE")


@dataclass
class QuickBooksDialect:
    company: Company
    clock: Clock
    token_path: str = "/oauth2/v1/tokens/bearer"
    authorize_path: str = "/connect/oauth2"
    revoke_path: str = "/v2/oauth2/tokens/revoke"

    def tenant_of(self, request: Request) -> str | None:
        realm = request.path_params.get("realm")
        return str(realm) if realm is not None else None

    def auth_error(self, failure: AuthFailure, request: Request) -> Response:
        fault = {AuthFailure.EXPIRED: _EXPIRED,
                 AuthFailure.WRONG_TENANT: _WRONG_REALM}.get(failure, _INVALID)
        return fault.response(self.clock.now())

    def rate_limited(self, verdict: RateVerdict, request: Request) -> Response:
        return throttle_response(self.clock.now())

    def server_error(self, status: int, request: Request) -> Response:
        fault = QboFault("10000", "An application error has occurred while processing your "
                         "request", "System Failure Error: An unexpected error occurred while "
                         "accessing or saving your data. Please wait a few minutes and try "
                         "again.", status=status, fault_type="SystemFault")
        return fault_response(fault, self.clock.now())

    def decorate(self, response: Response, verdict: RateVerdict, request: Request) -> None:
        # QBO sends no rate-limit headers; only a transaction id for support tickets.
        response.headers["intuit_tid"] = f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"

    def token_response(self, issued: dict[str, object]) -> dict[str, object]:
        return issued

    def authorize_params(self) -> dict[str, str]:
        return {"realmId": self.company.realm_id}

    def counts(self) -> dict[str, int]:
        return self.company.counts()

    def delete(self, entity: str, object_id: str) -> bool:
        name = ENTITY_OF_CONTROL_NAME.get(entity)
        return name is not None and discard(self.company, name, object_id)

    def marks(self) -> Iterator[Mark]:
        """Deleted transactions are gone from the company; voided ones count under the mark
        they had before the void. A payment linking a credit memo is the one that applies a
        credit note (its mark ends `:credit`): `credit_note_payment`, under the note's id."""
        for control, name in ENTITY_OF_CONTROL_NAME.items():
            for obj in self.company.rows(name):
                record_id = self._marked(name, obj)
                if record_id is None:
                    continue
                if name != "Payment":
                    yield Mark(control, record_id)
                elif record_id.endswith(_CREDIT_SUFFIX) and "PaymentRefNum" not in obj:
                    # Only syncdesk's own payments carry a PaymentRefNum (`payment_body`).
                    yield Mark("credit_note_payment", record_id.removesuffix(_CREDIT_SUFFIX),
                               self._pays(obj))
                else:
                    yield Mark(control, record_id, self._pays(obj))

    def _marked(self, name: str, obj: Obj) -> str | None:
        key = (name, obj["Id"])
        return marked_id(self.company.notes_before_void.get(key, obj.get(MARK_FIELDS[name])))

    def _pays(self, payment: Obj) -> tuple[str, ...]:
        invoices = self.company.objects["Invoice"]
        return tuple(
            (self._marked("Invoice", invoices[txn_id]) if txn_id in invoices else None)
            or f"remote:{txn_id}"
            for line in payment.get("Line") or [] for linked in line.get("LinkedTxn") or []
            if linked.get("TxnType") == "Invoice" and (txn_id := str(linked.get("TxnId"))))
