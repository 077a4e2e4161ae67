"""Wave's OAuth2 endpoints, its GraphQL endpoint, and business discovery.

Wave serves consent and tokens from `api.waveapps.com` and the API from `gql.waveapps.com`
(PLATFORMS.md §3.1, §3.6); a sandbox or proxy serves both under one base URL with the same
paths. The client authenticates at the token endpoint with `client_id`/`client_secret` in
the form body, as Wave's OAuth guide shows. Wave documents no revoke endpoint, so `revoke`
does nothing: a user removes the app from Wave's own settings.

The tenant is a business: after consent, the `businesses` query lists those the token may
use, and each becomes a connection whose id goes into every mutation's `businessId`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from engine import ConnectionSettings, Tenant, TokenSet, Transient
from providers._oauth import OAuth2Endpoints, OAuthUrls

from . import _documents as gql
from ._errors import data_of, reading

AUTHORIZE_PATH = "/oauth2/authorize/"
TOKEN_PATH = "/oauth2/token/"
API_PATH = "/graphql/public"

# `write` does not imply `read` on Wave (OAuth Scopes page), so both are asked for.
SCOPE = ("business:read customer:read customer:write product:read product:write "
         "invoice:read invoice:write account:read sales_tax:read user:read")

BUSINESS_PAGE_SIZE = 50


@dataclass(frozen=True)
class WaveHosts:
    oauth: str
    api: str

    @classmethod
    def of(cls, settings: ConnectionSettings) -> WaveHosts:
        if settings.base_url:
            base = settings.base_url.rstrip("/")
            return cls(oauth=base, api=base)
        return cls(oauth="https://api.waveapps.com", api="https://gql.waveapps.com")


class WaveOAuth(OAuth2Endpoints):
    client_auth = "post"
    # Wave does not document whether a refresh token can be retried after a lost answer
    # (PLATFORMS.md §3.6, UNCERTAIN); syncdesk tries, and says so when Wave refuses.
    lost_answer_advice = ("Wave refused the refresh token syncdesk holds after the answer to "
                          "the last refresh was lost (Wave does not allow retrying it), so "
                          "syncdesk holds no valid token: reconnect with "
                          "`syncdesk connect wave`")

    def __init__(self, settings: ConnectionSettings) -> None:
        self.hosts = WaveHosts.of(settings)
        super().__init__(settings, OAuthUrls(
            authorize=self.hosts.oauth + AUTHORIZE_PATH,
            token=self.hosts.oauth + TOKEN_PATH,
            revoke=None,
            scope=SCOPE,
        ))

    async def discover_tenants(self, tokens: TokenSet, redirect_url: str) -> Sequence[Tenant]:
        tenants: list[Tenant] = []
        page, pages = 1, 1
        headers = {"Authorization": f"Bearer {tokens.access_token}",
                   "Accept": "application/json"}
        async with self.http() as client:
            while page <= pages:
                body = {"query": gql.BUSINESSES,
                        "variables": {"page": page, "pageSize": BUSINESS_PAGE_SIZE}}
                try:
                    response = await client.post(self.hosts.api + API_PATH, json=body,
                                                 headers=headers)
                except httpx.HTTPError as exc:
                    raise Transient(f"Wave's businesses query failed: "
                                    f"{type(exc).__name__}: {exc}") from exc
                data = data_of(response)
                with reading("businesses"):
                    listing = data["businesses"]
                    pages = int(listing["pageInfo"]["totalPages"])
                    # Personal businesses lack invoicing; archived ones are hidden in Wave.
                    tenants += [Tenant(tenant_id=str(node["id"]), name=str(node["name"]))
                                for node in (edge["node"] for edge in listing["edges"])
                                if not node["isPersonal"] and not node["isArchived"]]
                page += 1
        return tenants
