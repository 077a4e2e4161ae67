"""FreshBooks OAuth: real URLs, users/me as tenant discovery, single-use refresh tokens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from console._fleet import SandboxFleet
from console._wiring import connect_sandbox, platforms
from engine import AuthRevoked, ConnectionSettings, Entity, Sealer, Store, Transient
from providers.freshbooks import PLATFORM, FreshBooksProvider
from providers.freshbooks._auth import TOKEN_PATH
from tests.providers._support import REDIRECT_URI, SandboxTokens, connect

from .conftest import ACCOUNT, BASE, Recorder


def test_real_urls_when_no_base_url() -> None:
    oauth = PLATFORM.oauth(ConnectionSettings(platform="freshbooks", client_id="abc"))
    url = urlsplit(oauth.authorization_url(REDIRECT_URI, "st"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == \
        "https://auth.freshbooks.com/oauth/authorize/"
    query = parse_qs(url.query)
    assert (query["client_id"], query["state"], query["response_type"]) == (["abc"], ["st"],
                                                                              ["code"])
    assert "user:invoices:write" in query["scope"][0].split()
    assert oauth.urls.token == "https://api.freshbooks.com/auth/oauth/token"
    assert oauth.urls.revoke == "https://api.freshbooks.com/auth/oauth/revoke"


async def test_code_exchange_finds_the_account(settings: ConnectionSettings,
                                               recorder: Recorder) -> None:
    tokens, grant = await connect(PLATFORM, settings)
    assert [(t.tenant_id, t.name) for t in grant.tenants] == [(ACCOUNT, "Sandbox Renovations")]
    assert grant.tokens.refresh_expires_at is None  # FreshBooks refresh tokens never expire
    hours = (grant.tokens.access_expires_at - datetime.now(UTC)).total_seconds() / 3600
    assert 11.9 < hours <= 12
    token_call = next(r for r in recorder.requests if r.url.path == "/auth/oauth/token")
    form = dict(parse_qsl(token_call.content.decode()))
    # The client's credentials travel in the body, as FreshBooks' SDKs send them.
    assert (form["client_id"], form["client_secret"], form["grant_type"]) == (
        "syncdesk", "secret", "authorization_code")
    assert "authorization" not in token_call.headers
    me = next(r for r in recorder.requests if r.url.path == "/auth/api/v1/users/me")
    assert me.headers["authorization"] == f"Bearer {tokens.tokens.access_token}"


async def test_refresh_token_works_exactly_once(settings: ConnectionSettings,
                                                tokens: SandboxTokens) -> None:
    oauth = PLATFORM.oauth(settings)
    old = tokens.tokens.refresh_token
    assert old is not None
    fresh = await oauth.refresh(old)
    assert fresh.refresh_token not in (None, old)
    with pytest.raises(AuthRevoked, match="invalid_grant") as caught:
        await oauth.refresh(old)
    assert caught.value.code == "invalid_grant"


async def test_two_racing_refreshes_have_one_winner(settings: ConnectionSettings,
                                                    tokens: SandboxTokens) -> None:
    oauth = PLATFORM.oauth(settings)
    assert tokens.tokens.refresh_token is not None
    results = await asyncio.gather(oauth.refresh(tokens.tokens.refresh_token),
                                   oauth.refresh(tokens.tokens.refresh_token),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["AuthRevoked", "TokenSet"]


async def test_refresh_tokens_do_not_age(settings: ConnectionSettings, tokens: SandboxTokens,
                                         control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/clock", json={"advance": 3 * 365 * 86_400})
    assert tokens.tokens.refresh_token is not None
    assert (await PLATFORM.oauth(settings).refresh(tokens.tokens.refresh_token)).access_token


async def test_token_endpoint_takes_json_too(control: httpx.AsyncClient,
                                             tokens: SandboxTokens) -> None:
    response = await control.post("/auth/oauth/token", json={
        "grant_type": "refresh_token", "refresh_token": tokens.tokens.refresh_token,
        "client_id": "syncdesk", "client_secret": "secret"})
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 43200)
    assert {"access_token", "refresh_token", "scope", "created_at"} <= set(body)


async def test_revoke_ends_the_grant(settings: ConnectionSettings, tokens: SandboxTokens,
                                     recorder: Recorder) -> None:
    assert tokens.tokens.refresh_token is not None
    await PLATFORM.oauth(settings).revoke(tokens.tokens.refresh_token)
    revoke = recorder.requests[-1]
    assert revoke.url == f"{BASE}/auth/oauth/revoke"
    assert dict(parse_qsl(revoke.content.decode()))["token"] == tokens.tokens.refresh_token
    provider = FreshBooksProvider(settings, tokens)
    with pytest.raises(AuthRevoked):
        await provider.fetch(Entity.CUSTOMER, "1")
    await provider.aclose()


async def test_users_me_refused_without_a_token(control: httpx.AsyncClient) -> None:
    response = await control.get("/auth/api/v1/users/me")
    assert response.status_code == 401
    assert response.json() == {"errno": 401, "message": "invalid_token: The request token "
                               "failed to authenticate or validate."}


@pytest.mark.e2e
async def test_connect_against_the_sandbox_on_loopback(store: Store, sealer: Sealer) -> None:
    assert "freshbooks" in platforms()
    with SandboxFleet(["freshbooks"]) as fleet:
        url = fleet.urls["freshbooks"]
        [connection_id] = await connect_sandbox(store, platforms()["freshbooks"], url, sealer)
        row = await store.fetch_one("SELECT platform, tenant_id, tenant_name FROM connections "
                                    "WHERE id = ?", (connection_id,))
        assert row is not None
        assert (row["platform"], row["tenant_id"], row["tenant_name"]) == (
            "freshbooks", ACCOUNT, "Sandbox Renovations")
        async with httpx.AsyncClient(base_url=url) as client:
            served = (await client.get("/_sandbox/state")).json()["requests"]
        assert served == 1  # users/me, over the wire


async def test_a_lost_refresh_answer_leaves_no_valid_token_and_says_so(
        app: Any, settings: ConnectionSettings, tokens: SandboxTokens,
        control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/hang", json={"seconds": 30})
    await control.post("/_sandbox/faults", json={"kind": "drop", "path_contains": TOKEN_PATH})
    oauth = PLATFORM.oauth(settings)
    old = tokens.tokens.refresh_token
    assert old is not None
    with pytest.raises(Transient, match="no answer within"):
        await oauth.refresh(old)
    assert app.state.sandbox.authority.refreshes == 1  # spent, and the new pair never arrived
    with pytest.raises(AuthRevoked) as caught:
        await oauth.refresh(old, after_lost_answer=True)
    assert caught.value.message == (
        "FreshBooks spends each refresh token once and the answer to the last refresh was "
        "lost, so syncdesk holds no valid token: reconnect with `syncdesk connect freshbooks`")
