"""The HTTP side every REST/GraphQL provider shares: auth, timeouts, refreshes, bad bodies.

`ApiClient.send()` returns a response only when it got one it can read; every other outcome
is a taxonomy error: timeouts and connection failures are `Transient`, and an expired access
token is refreshed (through the engine's `TokenSource`, under its lock) and retried, at most
`REFRESHES` times.
Platform-specific error bodies are left to the platform's own error mapper.

Every request — write, lookup, page of a list, retry after a refresh — takes a slot of the
connection's `RequestBudget` first, and reports the quota headers of its answer back to it:
this is the one place all of a provider's HTTP passes, so nothing goes out unbudgeted.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from engine import AuthExpired, ConnectionSettings, Quota, RequestBudget, TokenSource, Transient

QuotaReader = Callable[[httpx.Response], Quota | None]


@functools.cache
def tls() -> ssl.SSLContext:
    """The one TLS context of every client the process makes: each built its own, ~8 ms
    of loading the CA bundle, which an engine starting 1,000 connections paid 1,000 times."""
    return httpx.create_ssl_context()


REFRESHES = 2
"""Refreshes one request may ask for. The first can hand back the token another worker
stored while this request held an older one, and that token may have expired by then too;
the second is then the platform's own answer."""


class ApiClient:
    def __init__(
        self,
        settings: ConnectionSettings,
        tokens: TokenSource,
        *,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        is_expired_token: Callable[[httpx.Response], bool] = lambda r: r.status_code == 401,
        read_quota: QuotaReader | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self._is_expired_token = is_expired_token
        self._read_quota = read_quota
        self.last_quota: Quota | None = None
        self.budget: RequestBudget | None = settings.budget
        self.http = httpx.AsyncClient(
            base_url=base_url,
            transport=settings.transport,
            verify=tls(),
            timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
            headers={"Accept": "application/json", **(headers or {})},
        )

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        batch: bool = False,
        promised: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """`batch`: the request is one of the platform's batch writes (its own budget).
        `promised`: called as the request leaves the budget's gate (the release of the room
        `RequestBudget.promise_batch` kept for it)."""
        token = await self.tokens.access_token()
        response = await self._send_once(method, url, token, params, json_body, content, headers,
                                         batch, promised)
        for _ in range(REFRESHES):
            if not self._is_expired_token(response):
                return response
            token = await self.tokens.refreshed(token)
            response = await self._send_once(method, url, token, params, json_body, content,
                                             headers, batch, None)
        if self._is_expired_token(response):
            raise AuthExpired("the platform rejected a freshly refreshed access token",
                              http_status=response.status_code)
        return response

    async def _send_once(self, method: str, url: str, token: str,
                         params: Mapping[str, Any] | None, json_body: Any,
                         content: str | bytes | None,
                         headers: Mapping[str, str] | None, batch: bool,
                         promised: Callable[[], None] | None) -> httpx.Response:
        if self.budget is None:
            return await self._exchange(method, url, token, params, json_body, content, headers)
        async with self.budget.slot(batch=batch):
            if promised is not None:
                promised()
            response = await self._exchange(method, url, token, params, json_body, content,
                                            headers)
        self.budget.observe(self.last_quota)
        return response

    async def _exchange(self, method: str, url: str, token: str,
                        params: Mapping[str, Any] | None, json_body: Any,
                        content: str | bytes | None,
                        headers: Mapping[str, str] | None) -> httpx.Response:
        request_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        try:
            # httpx timeouts bound each phase; this bounds the whole exchange, in-process too.
            async with asyncio.timeout(self.settings.timeout):
                response = await self.http.request(method, url, params=params, json=json_body,
                                                   content=content, headers=request_headers)
        except (TimeoutError, httpx.TimeoutException):
            raise Transient(
                f"no answer within {self.settings.timeout:g} s ({method} {url}); "
                "the outcome of a write is unknown until reconciled"
            ) from None
        except httpx.HTTPError as exc:
            raise Transient(f"network error on {method} {url}: {type(exc).__name__}: {exc}") \
                from exc
        if self._read_quota is not None:
            self.last_quota = self._read_quota(response) or self.last_quota
        return response

    async def aclose(self) -> None:
        await self.http.aclose()


def read_json(response: httpx.Response) -> Any:
    """The body as JSON; an HTML page, XML or a cut-off body becomes a `Transient` error."""
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        kind = response.headers.get("content-type", "unknown content type")
        preview = response.text[:120].replace("\n", " ")
        raise Transient(
            f"the platform answered HTTP {response.status_code} with {kind} that is not valid "
            f"JSON: {preview!r}",
            http_status=response.status_code,
        ) from None


def now_utc() -> datetime:
    return datetime.now(UTC)
