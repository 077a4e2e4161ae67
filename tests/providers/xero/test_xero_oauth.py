"""Xero's rule for a lost refresh answer: the existing refresh token may be retried for up to
30 minutes (developer.xero.com/faq/oauth2/oauth-refresh-fail), then a reconnect is needed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from engine import AuthRevoked, ConnectionSettings, Transient
from providers.xero import PLATFORM
from providers.xero._auth import TOKEN_PATH
from tests.providers._support import SandboxTokens


async def lose_a_refresh_answer(oauth: Any, old: str, control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/hang", json={"seconds": 30})
    await control.post("/_sandbox/faults", json={"kind": "drop", "path_contains": TOKEN_PATH})
    with pytest.raises(Transient, match="no answer within"):
        await oauth.refresh(old)


async def test_retried_within_30_minutes_the_old_token_works(
        app: Any, settings: ConnectionSettings, tokens: SandboxTokens,
        control: httpx.AsyncClient) -> None:
    oauth = PLATFORM.oauth(settings)
    old = tokens.refresh_token
    assert old is not None
    await lose_a_refresh_answer(oauth, old, control)
    await control.post("/_sandbox/clock", json={"advance": 1790})
    assert (await oauth.refresh(old, after_lost_answer=True)).refresh_token not in (None, old)
    assert app.state.sandbox.authority.regrants == 1


async def test_after_30_minutes_it_says_reconnect(settings: ConnectionSettings,
                                                  tokens: SandboxTokens,
                                                  control: httpx.AsyncClient) -> None:
    oauth = PLATFORM.oauth(settings)
    old = tokens.refresh_token
    assert old is not None
    await lose_a_refresh_answer(oauth, old, control)
    await control.post("/_sandbox/clock", json={"advance": 1801})
    with pytest.raises(AuthRevoked) as caught:
        await oauth.refresh(old, after_lost_answer=True)
    assert caught.value.message == (
        "Xero accepts the previous refresh token for only 30 minutes after a refresh whose "
        "answer was lost, and it refused it, so syncdesk holds no valid token: reconnect with "
        "`syncdesk connect xero`")
