"""Every HTTP client a process makes shares one TLS context: an engine starting 1,000
connections built 1,000 of them (CA bundle loaded each time, ~8-36 ms apiece; issue #16)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from engine import ConnectionSettings
from providers._http import ApiClient, tls
from providers._oauth import OAuth2Endpoints, OAuthUrls


class _Tokens:
    async def access_token(self) -> str:
        return "token"

    async def refreshed(self, rejected: str) -> str:
        return "token"


async def test_clients_of_many_connections_share_one_tls_context(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    tls.cache_clear()
    try:
        urls = OAuthUrls("https://example.invalid/a", "https://example.invalid/t", None, "")
        clients = []
        for n in range(3):
            settings = ConnectionSettings(platform="xero", tenant_id=str(n))
            clients += [ApiClient(settings, _Tokens(), base_url="https://example.invalid").http,
                        OAuth2Endpoints(settings, urls).http()]
        for client in clients:
            await client.aclose()
        assert len(made) == 1
    finally:
        tls.cache_clear()
