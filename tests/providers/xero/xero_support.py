"""Test doubles shared by the Xero tests: a recording transport, spec requests, tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from engine import Grant
from providers.xero import XeroOAuth

REDIRECT_URI = "https://syncdesk.example/callback"
XERO_API = "https://api.xero.com"


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox and keeps a copy of each one."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


class SpecRequest:
    """An httpx request as openapi-core reads it, addressed to the real Xero host."""

    def __init__(self, request: httpx.Request) -> None:
        url = urlsplit(str(request.url))
        self.host_url = XERO_API
        self.path = url.path
        self.method = request.method.lower()
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(url.query)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )


class SandboxTokens:
    """A TokenSource that connects through the real authorization-code flow."""

    def __init__(self, oauth: XeroOAuth, transport: httpx.AsyncBaseTransport) -> None:
        self.oauth = oauth
        self.transport = transport
        self.grant: Grant | None = None
        self.current = ""
        self.refresh_token: str | None = None
        self.refreshes = 0

    async def connect(self) -> Grant:
        url = self.oauth.authorization_url(REDIRECT_URI, "state-1")
        async with httpx.AsyncClient(transport=self.transport) as client:
            consent = await client.get(url, follow_redirects=False)
        self.grant = await self.oauth.exchange_code(consent.headers["location"], REDIRECT_URI)
        self.current = self.grant.tokens.access_token
        self.refresh_token = self.grant.tokens.refresh_token
        return self.grant

    async def access_token(self) -> str:
        return self.current

    async def refreshed(self, rejected: str) -> str:
        if rejected == self.current:
            assert self.refresh_token is not None
            tokens = await self.oauth.refresh(self.refresh_token)
            self.current, self.refresh_token = tokens.access_token, tokens.refresh_token
            self.refreshes += 1
        return self.current


def api_requests(recording: Recording) -> list[httpx.Request]:
    return [r for r in recording.requests if r.url.path.startswith("/api.xro/2.0")]


def as_dict(value: Any) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value
