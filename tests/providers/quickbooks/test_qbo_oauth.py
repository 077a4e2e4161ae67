"""Intuit's OAuth endpoints: real URLs, the same paths under base_url, realmId as tenant."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from engine import AuthRevoked, ConnectionSettings, Entity, Transient
from providers.quickbooks import PLATFORM, QuickBooksProvider
from providers.quickbooks._auth import TOKEN_PATH
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
    rotated = await oauth.refresh(old)
    assert rotated.refresh_token not in (None, old)
    assert rotated.refresh_token is not None
    fresh = await oauth.refresh(rotated.refresh_token)  # the new one is used…
    with pytest.raises(AuthRevoked, match="invalid_grant"):
        await oauth.refresh(old)  # …so the previous one is finished

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


async def test_previous_refresh_token_works_until_the_new_one_is_used(
        settings: ConnectionSettings, tokens: SandboxTokens, control: httpx.AsyncClient) -> None:
    """Intuit's rule as the sandbox models it (UNCERTAIN, see the sandbox's docstring): a
    refresh whose answer was lost is retried with the old token, even a day later."""
    oauth = PLATFORM.oauth(settings)
    old = tokens.tokens.refresh_token
    assert old is not None
    lost = await oauth.refresh(old)  # the platform answered; say the answer never arrived
    await control.post("/_sandbox/clock", json={"advance": 86_400})
    retried = await oauth.refresh(old, after_lost_answer=True)
    assert retried.refresh_token not in (None, old, lost.refresh_token)
    assert lost.refresh_token is not None and retried.refresh_token is not None
    with pytest.raises(AuthRevoked, match="invalid_grant"):
        await oauth.refresh(lost.refresh_token)  # retired: one grant, one live refresh token
    await oauth.refresh(retried.refresh_token)
    with pytest.raises(AuthRevoked) as caught:
        await oauth.refresh(old, after_lost_answer=True)
    assert caught.value.code == "invalid_grant"
    assert caught.value.message == (
        "QuickBooks refused the refresh token syncdesk holds after the answer to the last "
        "refresh was lost, so syncdesk holds no valid token: reconnect with "
        "`syncdesk connect quickbooks`")


async def test_lost_token_answer_is_transient_and_the_pair_was_issued(
        app: Any, settings: ConnectionSettings, tokens: SandboxTokens,
        control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/hang", json={"seconds": 30})
    await control.post("/_sandbox/faults", json={"kind": "drop", "path_contains": TOKEN_PATH})
    oauth = PLATFORM.oauth(replace(settings, timeout=0.3))
    assert tokens.tokens.refresh_token is not None
    with pytest.raises(Transient, match=r"no answer within 0\.3 s"):
        await oauth.refresh(tokens.tokens.refresh_token)
    assert app.state.sandbox.authority.refreshes == 1
    assert (await oauth.refresh(tokens.tokens.refresh_token)).access_token
