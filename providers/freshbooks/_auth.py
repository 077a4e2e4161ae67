"""FreshBooks' OAuth2 endpoints and tenant discovery.

Consent happens at `auth.freshbooks.com/oauth/authorize/`; tokens at
`api.freshbooks.com/auth/oauth/token`, where the client sends its id and secret in the body
(FreshBooks' SDKs do; HTTP Basic is not documented). Access tokens live 12 hours; a refresh
token never expires but works exactly once (PLATFORMS.md §4.6). The revoke endpoint is
UNCERTAIN (`/auth/oauth/revoke`, RFC 7009 form) and is used as such.

Tenants: `GET /auth/api/v1/users/me` lists the businesses the user belongs to; each
`business_memberships[].business.account_id` is the `{accountId}` of the accounting URLs.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from engine import AuthExpired, ConnectionSettings, Tenant, TokenSet, Transient
from providers._http import read_json
from providers._oauth import OAuth2Endpoints, OAuthUrls

AUTHORIZE_PATH = "/oauth/authorize/"
TOKEN_PATH = "/auth/oauth/token"
REVOKE_PATH = "/auth/oauth/revoke"
ME_PATH = "/auth/api/v1/users/me"
API_HOST = "https://api.freshbooks.com"
AUTH_HOST = "https://auth.freshbooks.com"

SCOPE = " ".join(
    f"user:{name}:{mode}"
    for name in ("clients", "billable_items", "invoices", "payments", "credit_notes")
    for mode in ("read", "write")
) + " user:taxes:read user:profile:read"


def api_base(settings: ConnectionSettings) -> str:
    return settings.base_url.rstrip("/") if settings.base_url else API_HOST


def accounting_base(settings: ConnectionSettings) -> str:
    """Where one account's accounting resources live."""
    return f"{api_base(settings)}/accounting/account/{settings.tenant_id}"


class FreshBooksOAuth(OAuth2Endpoints):
    client_auth = "post"
    lost_answer_advice = ("FreshBooks spends each refresh token once and the answer to the "
                          "last refresh was lost, so syncdesk holds no valid token: reconnect "
                          "with `syncdesk connect freshbooks`")

    def __init__(self, settings: ConnectionSettings) -> None:
        api = api_base(settings)
        auth = settings.base_url.rstrip("/") if settings.base_url else AUTH_HOST
        super().__init__(settings, OAuthUrls(authorize=auth + AUTHORIZE_PATH,
                                             token=api + TOKEN_PATH, revoke=api + REVOKE_PATH,
                                             scope=SCOPE))

    async def discover_tenants(self, tokens: TokenSet, redirect_url: str) -> Sequence[Tenant]:
        try:
            async with self.http() as client:
                response = await client.get(
                    api_base(self.settings) + ME_PATH,
                    headers={"Authorization": f"Bearer {tokens.access_token}",
                             "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise Transient(f"GET {ME_PATH} failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 401:
            raise AuthExpired(f"FreshBooks refused the new access token at {ME_PATH}",
                              http_status=401)
        if response.status_code != 200:
            raise Transient(f"GET {ME_PATH} answered HTTP {response.status_code}",
                            http_status=response.status_code)
        body = read_json(response)
        try:
            memberships = body["response"]["business_memberships"]
            return [Tenant(tenant_id=str(m["business"]["account_id"]),
                           name=str(m["business"].get("name") or m["business"]["account_id"]))
                    for m in memberships if m["business"].get("account_id")]
        except (KeyError, TypeError) as exc:
            raise Transient(f"GET {ME_PATH} answered without business memberships: "
                            f"{str(body)[:120]!r}") from exc
