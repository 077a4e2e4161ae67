"""Fixtures: an in-process Wave sandbox and a provider connected through real OAuth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette
from wave_support import BASE_URL, Ledger, Recording

from engine import ConnectionSettings
from providers._sandbox import Clock
from providers.wave import PLATFORM, WaveProvider, create_sandbox_app
from tests.providers._support import SandboxTokens, connect


@pytest.fixture
def app(clock: Clock) -> Starlette:
    # The 60/minute limit has tests of its own; the rest run far faster than that.
    return create_sandbox_app(clock=clock, limits_enabled=False)


@pytest.fixture
def recording(app: Starlette) -> Recording:
    return Recording(httpx.ASGITransport(app=app))


@pytest.fixture
async def tokens(recording: Recording) -> SandboxTokens:
    settings = ConnectionSettings(platform="wave", client_id="syncdesk",
                                  client_secret="secret", base_url=BASE_URL,
                                  transport=recording)
    source, _ = await connect(PLATFORM, settings)
    return source


@pytest.fixture
def settings(recording: Recording, tokens: SandboxTokens) -> ConnectionSettings:
    assert tokens.grant is not None
    return ConnectionSettings(platform="wave", tenant_id=tokens.grant.tenants[0].tenant_id,
                              client_id="syncdesk", client_secret="secret",
                              base_url=BASE_URL, timeout=0.3, transport=recording)


@pytest.fixture
async def provider(settings: ConnectionSettings,
                   tokens: SandboxTokens) -> AsyncIterator[WaveProvider]:
    client = PLATFORM.provider(replace(settings, timeout=2.0), tokens)
    yield client
    await client.aclose()


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
async def control(recording: Recording) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's control API (faults, clock, deletes) and raw GraphQL access."""
    async with httpx.AsyncClient(transport=recording.inner, base_url=BASE_URL) as client:
        yield client
