"""Intuit's OAuth2 endpoints and where a QuickBooks connection's API lives.

Real URLs come from Intuit's discovery document (PLATFORMS.md §1.8). With
`ConnectionSettings.base_url` set, every endpoint keeps its path under that one base URL.
The tenant is the company's `realmId`, which Intuit appends to the consent redirect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

import httpx

from engine import AuthRevoked, ConnectionSettings, Tenant, TokenSet
from providers._oauth import OAuth2Endpoints, OAuthUrls

AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/v2/oauth2/tokens/revoke"
SCOPE = "com.intuit.quickbooks.accounting"

_API_HOSTS = {
    "production": "https://quickbooks.api.intuit.com",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
}


def api_base(settings: ConnectionSettings) -> str:
    """Where `/v3/company/…` lives; `options["environment"]` picks Intuit's developer sandbox."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    return _API_HOSTS[str(settings.options.get("environment", "production"))]


def oauth_urls(settings: ConnectionSettings) -> OAuthUrls:
    if settings.base_url:
        base = settings.base_url.rstrip("/")
        return OAuthUrls(authorize=base + AUTHORIZE_PATH, token=base + TOKEN_PATH,
                         revoke=base + REVOKE_PATH, scope=SCOPE)
    return OAuthUrls(
        authorize="https://appcenter.intuit.com" + AUTHORIZE_PATH,
        token="https://oauth.platform.intuit.com" + TOKEN_PATH,
        revoke="https://developer.api.intuit.com" + REVOKE_PATH,
        scope=SCOPE,
    )


class QuickBooksOAuth(OAuth2Endpoints):
    client_auth = "basic"
    # Intuit keeps a superseded refresh token working until its successor is used (reported
    # by integrators, UNCERTAIN: PLATFORMS.md §1.8), so a refusal after a lost answer means
    # even that did not hold.
    lost_answer_advice = ("QuickBooks refused the refresh token syncdesk holds after the "
                          "answer to the last refresh was lost, so syncdesk holds no valid "
                          "token: reconnect with `syncdesk connect quickbooks`")

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings, oauth_urls(settings))

    async def discover_tenants(self, tokens: TokenSet, redirect_url: str) -> Sequence[Tenant]:
        realm = parse_qs(urlsplit(redirect_url).query).get("realmId", [""])[0]
        if not realm:
            raise AuthRevoked("the QuickBooks redirect carries no realmId: consent was given "
                              "without the accounting scope")
        return [Tenant(tenant_id=realm, name=await self._company_name(tokens, realm))]

    async def revoke(self, token: str) -> None:
        # Intuit documents a JSON body here, unlike RFC 7009's form encoding.
        await self._post(self.urls.revoke or "", json.dumps({"token": token}),
                         {"Content-Type": "application/json"})

    async def _company_name(self, tokens: TokenSet, realm: str) -> str:
        """The company's own name, for the user to recognise; the realm id if unreadable."""
        url = f"{api_base(self.settings)}/v3/company/{realm}/companyinfo/{realm}"
        headers = {"Authorization": f"Bearer {tokens.access_token}",
                   "Accept": "application/json"}
        try:
            async with self.http() as client:
                response = await client.get(url, headers=headers,
                                            params={"minorversion": "75"})
            return str(response.json()["CompanyInfo"]["CompanyName"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return f"QuickBooks company {realm}"
