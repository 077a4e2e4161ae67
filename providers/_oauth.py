"""OAuth2 authorization-code flow with rotating refresh tokens, shared by every platform.

authlib builds and parses the OAuth2 messages (RFC 6749, RFC 7009); httpx carries them, so
tests can hand in an in-process sandbox transport. A platform subclasses `OAuth2Endpoints`
to name its URLs and to discover its tenants after consent.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import (
    parse_authorization_code_response,
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7009.parameters import prepare_revoke_token_request

from engine import AuthRevoked, ConnectionSettings, Grant, Tenant, TokenSet, Transient

from ._http import tls


@dataclass(frozen=True)
class OAuthUrls:
    authorize: str
    token: str
    revoke: str | None
    scope: str


class OAuth2Endpoints:
    """The OAuth client of one platform; implements `engine.OAuthClient`."""

    urls: OAuthUrls
    client_auth: str = "basic"
    """How the client authenticates at the token endpoint: "basic" header or "post" body."""

    def __init__(self, settings: ConnectionSettings, urls: OAuthUrls) -> None:
        self.settings = settings
        self.urls = urls

    def authorization_url(self, redirect_uri: str, state: str) -> str:
        return str(prepare_grant_uri(
            self.urls.authorize, self.settings.client_id, "code",
            redirect_uri=redirect_uri, scope=self.urls.scope, state=state,
        ))

    async def exchange_code(self, redirect_url: str, redirect_uri: str) -> Grant:
        try:
            params = parse_authorization_code_response(redirect_url)
        except Exception as exc:  # authlib raises its own errors for a redirect without code
            raise AuthRevoked(f"the redirect URL carries no authorization code: {exc}") from None
        tokens = await self._token_request(
            prepare_token_request("authorization_code", code=params["code"],
                                  redirect_uri=redirect_uri)
        )
        tenants = await self.discover_tenants(tokens, redirect_url)
        return Grant(tokens=tokens, tenants=tenants)

    async def discover_tenants(self, tokens: TokenSet, redirect_url: str) -> Sequence[Tenant]:
        """Which organisations the consent covers. Platforms override this."""
        return []

    lost_answer_advice: str = ("the platform refused the refresh token syncdesk holds after "
                               "the answer to the last refresh was lost: reconnect with "
                               "`syncdesk connect`")
    """What a refusal means after a lost refresh answer: the platform's rule, what to do."""

    async def refresh(self, refresh_token: str, *, after_lost_answer: bool = False) -> TokenSet:
        try:
            return await self._token_request(
                prepare_token_request("refresh_token", refresh_token=refresh_token)
            )
        except AuthRevoked as exc:
            if not after_lost_answer or exc.code != "invalid_grant":
                raise
            raise AuthRevoked(self.lost_answer_advice, code=exc.code,
                              http_status=exc.http_status) from exc

    async def revoke(self, token: str) -> None:
        if self.urls.revoke is None:
            return
        body, headers = prepare_revoke_token_request(token, "refresh_token")
        await self._post(self.urls.revoke, body, headers)

    # -- plumbing -------------------------------------------------------------------------

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.settings.transport, verify=tls(),
                                 timeout=self.settings.timeout)

    async def _token_request(self, body: str) -> TokenSet:
        response = await self._post(self.urls.token, body,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        try:
            payload: dict[str, Any] = response.json()
        except ValueError:
            raise Transient(
                f"token endpoint answered HTTP {response.status_code} with a body that is not JSON",
                http_status=response.status_code,
            ) from None
        error = payload.get("error")
        if error in ("invalid_grant", "invalid_client", "unauthorized_client"):
            description = payload.get("error_description") or ""
            raise AuthRevoked(
                f"{error}{': ' + description if description else ''} — "
                "the connection must be reconnected",
                code=str(error), http_status=response.status_code,
            )
        if error or response.status_code >= 400 or "access_token" not in payload:
            raise Transient(f"token endpoint failed: HTTP {response.status_code} {payload}",
                            code=str(error) if error else None, http_status=response.status_code)
        return token_set(payload)

    async def _post(self, url: str, body: str, headers: dict[str, str]) -> httpx.Response:
        headers = {**headers, "Accept": "application/json"}
        if self.client_auth == "basic":
            pair = f"{self.settings.client_id}:{self.settings.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            extra = httpx.QueryParams({"client_id": self.settings.client_id,
                                       "client_secret": self.settings.client_secret})
            body = f"{body}&{extra}" if body else str(extra)
        try:
            # httpx bounds each phase; this bounds the whole exchange, in-process too, so an
            # answer that never comes is a Transient, never a hang.
            async with self.http() as client, asyncio.timeout(self.settings.timeout):
                return await client.post(url, content=body, headers=headers)
        except TimeoutError:
            raise Transient(f"the token endpoint gave no answer within "
                            f"{self.settings.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise Transient(f"token endpoint unreachable: {type(exc).__name__}: {exc}") from exc


def token_set(payload: dict[str, Any], now: datetime | None = None) -> TokenSet:
    """A token response as a `TokenSet` (expiry fields become absolute times)."""
    now = now or datetime.now(UTC)
    refresh_in = (payload.get("x_refresh_token_expires_in")
                  or payload.get("refresh_token_expires_in"))
    return TokenSet(
        access_token=str(payload["access_token"]),
        refresh_token=payload.get("refresh_token"),
        access_expires_at=now + timedelta(seconds=int(payload.get("expires_in", 3600))),
        refresh_expires_at=now + timedelta(seconds=int(refresh_in)) if refresh_in else None,
    )
