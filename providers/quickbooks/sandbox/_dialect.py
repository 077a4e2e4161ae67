"""How the QuickBooks sandbox speaks at the edges: OAuth paths, realm, gateway faults, 429."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from providers._sandbox import AuthFailure, Clock, RateVerdict

from ._rules import discard
from ._state import ENTITY_OF_CONTROL_NAME, Company
from ._wire import GatewayFault, QboFault, fault_response, throttle_response

_EXPIRED = GatewayFault("3200", "AuthenticationFailed", 401,
                        "Token expired: the access token has expired", "AUTHENTICATION")
_INVALID = GatewayFault("3200", "AuthenticationFailed", 401,
                        "Token invalid: the access token is not valid", "AUTHENTICATION")
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
