"""Xero's OAuth2 endpoints and tenant discovery.

Xero splits its identity service over three hosts (login, identity, api). A sandbox or proxy
serves all of them under one base URL with the same paths, so only the hosts change.
Tenants come from `GET /connections` (spec `xero-identity.yaml`): one row per organisation
the user connected; its `tenantId` goes into the `xero-tenant-id` header of every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from engine import ConnectionSettings, Tenant, TokenSet, Transient
from providers._http import read_json
from providers._oauth import OAuth2Endpoints, OAuthUrls

AUTHORIZE_PATH = "/identity/connect/authorize"
TOKEN_PATH = "/connect/token"
REVOKE_PATH = "/connect/revocation"
CONNECTIONS_PATH = "/connections"
API_PATH = "/api.xro/2.0"

SCOPE = ("openid profile email offline_access accounting.transactions accounting.contacts "
         "accounting.settings.read")


@dataclass(frozen=True)
class XeroHosts:
    login: str
    identity: str
    api: str

    @classmethod
    def of(cls, settings: ConnectionSettings) -> XeroHosts:
        if settings.base_url:
            base = settings.base_url.rstrip("/")
            return cls(login=base, identity=base, api=base)
        return cls(login="https://login.xero.com", identity="https://identity.xero.com",
                   api="https://api.xero.com")


class XeroOAuth(OAuth2Endpoints):
    """Authorization-code flow; the client authenticates with HTTP Basic (spec `BasicAuth`)."""

    # developer.xero.com/faq/oauth2/oauth-refresh-fail: without an answer, the existing
    # refresh token may be retried for up to 30 minutes.
    lost_answer_advice = ("Xero accepts the previous refresh token for only 30 minutes after "
                          "a refresh whose answer was lost, and it refused it, so syncdesk "
                          "holds no valid token: reconnect with `syncdesk connect xero`")

    def __init__(self, settings: ConnectionSettings) -> None:
        self.hosts = XeroHosts.of(settings)
        super().__init__(settings, OAuthUrls(
            authorize=self.hosts.login + AUTHORIZE_PATH,
            token=self.hosts.identity + TOKEN_PATH,
            revoke=self.hosts.identity + REVOKE_PATH,
            scope=SCOPE,
        ))

    async def discover_tenants(self, tokens: TokenSet, redirect_url: str) -> Sequence[Tenant]:
        async with self.http() as client:
            try:
                response = await client.get(
                    self.hosts.api + CONNECTIONS_PATH,
                    headers={"Authorization": f"Bearer {tokens.access_token}",
                             "Accept": "application/json"},
                )
            except httpx.HTTPError as exc:
                raise Transient(f"GET /connections failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise Transient(f"GET /connections answered HTTP {response.status_code}",
                            http_status=response.status_code)
        rows = read_json(response)
        return [Tenant(tenant_id=str(row["tenantId"]), name=str(row.get("tenantName", "")))
                for row in rows if row.get("tenantType", "ORGANISATION") == "ORGANISATION"]
