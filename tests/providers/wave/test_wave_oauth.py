"""Wave after a lost refresh answer: Wave documents nothing (PLATFORMS.md §3.6, UNCERTAIN);
the sandbox lets the old token be retried for 30 minutes while its successor is unused, and
syncdesk's words for a refusal name Wave and the command that fixes it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from engine import AuthRevoked, ConnectionSettings, Transient
from providers.wave import PLATFORM
from providers.wave._auth import TOKEN_PATH
from tests.providers._support import SandboxTokens


async def test_lost_refresh_answer_retried_then_refused_after_the_grace(
        app: Any, settings: ConnectionSettings, tokens: SandboxTokens,
        control: httpx.AsyncClient) -> None:
    oauth = PLATFORM.oauth(settings)
    old = tokens.refresh_token
    assert old is not None
    await control.post("/_sandbox/hang", json={"seconds": 30})
    for _ in range(2):
        await control.post("/_sandbox/faults", json={"kind": "drop",
                                                     "path_contains": TOKEN_PATH})
    with pytest.raises(Transient, match="no answer within"):
        await oauth.refresh(old)
    with pytest.raises(Transient, match="no answer within"):  # retried in grace, lost again
        await oauth.refresh(old, after_lost_answer=True)
    assert app.state.sandbox.authority.regrants == 1
    await control.post("/_sandbox/clock", json={"advance": 1801})  # from the first spend
    with pytest.raises(AuthRevoked) as caught:
        await oauth.refresh(old, after_lost_answer=True)
    assert caught.value.message == (
        "Wave refused the refresh token syncdesk holds after the answer to the last refresh "
        "was lost (Wave does not allow retrying it), so syncdesk holds no valid token: "
        "reconnect with `syncdesk connect wave`")
