"""Intuit's OAuth endpoints: real URLs, the same paths under base_url, realmId as tenant."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from engine import AuthRevoked, ConnectionSettings, Entity
from providers.quickbooks import PLATFORM, QuickBooksProvider
from tests.providers._support import REDIRECT_URI, SandboxTokens, connect

from .conftest import BASE, REALM, Recorder


def test_real_urls_when_no_base_url() -> None:
    oauth = PLATFORM.oauth(ConnectionSettings(platform="quickbooks", client_id="abc"))
    url = urlsplit(oauth.authorization_url(REDIRECT_URI, "st"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://appcenter.intuit.com/connect/oauth2"
    query = parse_qs(url.query)
    assert query["scope"] == ["com.intuit.quickbooks.accounting"]
    assert (query["client_id"], query["state"], query["response_type"]) == (["abc"], ["st"],
                                                                              ["code"])
    assert oauth.urls.token == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    assert oauth.urls.revoke == "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"


def test_real_api_host() -> None:
    from providers.quickbooks._auth import api_base

    production = ConnectionSettings(platform="quickbooks")
    sandbox = ConnectionSettings(platform="quickbooks", options={"environment": "sandbox"})
    assert api_base(production) == "https://quickbooks.api.intuit.com"
    assert api_base(sandbox) == "https://sandbox-quickbooks.api.intuit.com"


async def test_code_exchange_finds_the_realm(settings: ConnectionSettings) -> None:
    tokens, grant = await connect(PLATFORM, settings)
    assert [(t.tenant_id, t.name) for t in grant.tenants] == [(REALM, "Sandbox Company_US_1")]
    assert grant.tokens.refresh_expires_at is not None
    delta = grant.tokens.access_expires_at - grant.tokens.refresh_expires_at
    assert abs(delta.total_seconds() + 8_726_400 - 3600) < 5
    assert tokens.tokens.refresh_token


async def test_redirect_without_realm_is_refused(settings: ConnectionSettings) -> None:
    oauth = PLATFORM.oauth(settings)
    async with httpx.AsyncClient(transport=settings.transport) as client:
        consent = await client.get(oauth.authorization_url(REDIRECT_URI, "s"))
    location = consent.headers["location"].replace(f"&realmId={REALM}", "")
    with pytest.raises(AuthRevoked, match="realmId"):
        await oauth.exchange_code(location, REDIRECT_URI)


async def test_refresh_rotates_and_revoke_ends_the_grant(settings: ConnectionSettings,
                                                         tokens: SandboxTokens,
                                                         recorder: Recorder) -> None:
    oauth = PLATFORM.oauth(settings)
    old = tokens.tokens.refresh_token
    assert old is not None
    fresh = await oauth.refresh(old)
    assert fresh.refresh_token not in (None, old)
    with pytest.raises(AuthRevoked, match="invalid_grant"):
        await oauth.refresh(old)

    assert fresh.refresh_token is not None
    await oauth.revoke(fresh.refresh_token)
    revoke = recorder.requests[-1]
    assert revoke.url == f"{BASE}/v2/oauth2/tokens/revoke"
    assert json.loads(revoke.content) == {"token": fresh.refresh_token}
    tokens.tokens = fresh
    provider = QuickBooksProvider(settings, tokens)
    with pytest.raises(AuthRevoked):
        await provider.fetch(Entity.CUSTOMER, "1")
    await provider.aclose()
