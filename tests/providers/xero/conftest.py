"""Fixtures: an in-process Xero sandbox, a real OAuth connection to it, and a spec check.

Every request the client sends to the Accounting API is recorded by a wrapping transport
and, when the test ends, validated against Xero's official OpenAPI spec (loaded once).
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator

import httpx
import pytest
from openapi_core import Config, OpenAPI
from starlette.applications import Starlette
from xero_support import SpecRequest

from engine import ConnectionSettings
from providers._sandbox import Clock
from providers.xero import PLATFORM, XeroProvider, create_sandbox_app
from providers.xero.sandbox import DEMO_TENANT_ID
from tests.providers._support import Recording, SandboxTokens, connect, spec

BASE_URL = "http://xero.sandbox"


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    # Xero's spec does not pass the strict spec validator (string defaults on booleans);
    # requests are still checked against its paths, parameters and schemas.
    return OpenAPI.from_file_path(str(spec("xero/xero_accounting.yaml")),
                                  config=Config(spec_validator_cls=None))


@pytest.fixture
def app(clock: Clock) -> Starlette:
    return create_sandbox_app(clock=clock)


@pytest.fixture
def recording(app: Starlette) -> Recording:
    return Recording(httpx.ASGITransport(app=app))


@pytest.fixture
def settings(recording: Recording) -> ConnectionSettings:
    return ConnectionSettings(platform="xero", tenant_id=DEMO_TENANT_ID, client_id="syncdesk",
                              client_secret="secret", base_url=BASE_URL, timeout=0.3,
                              transport=recording)


@pytest.fixture
async def tokens(settings: ConnectionSettings) -> SandboxTokens:
    source, _ = await connect(PLATFORM, settings)
    return source


@pytest.fixture
async def provider(settings: ConnectionSettings, tokens: SandboxTokens, recording: Recording,
                   openapi: OpenAPI) -> AsyncIterator[XeroProvider]:
    client = PLATFORM.provider(settings, tokens)
    yield client
    await client.aclose()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unsupported scheme type")  # OAuth2 is not checked
        for request in recording.requests:
            if request.url.path.startswith("/api.xro/2.0"):
                openapi.validate_request(SpecRequest(request))  # type: ignore[arg-type]


@pytest.fixture
async def api(tokens: SandboxTokens, recording: Recording) -> AsyncIterator[httpx.AsyncClient]:
    """Raw calls to the Accounting API with the test's token, for the sandbox's own rules."""
    async with httpx.AsyncClient(
            transport=recording.inner, base_url=BASE_URL,
            headers={"Authorization": f"Bearer {tokens.current}",
                     "xero-tenant-id": DEMO_TENANT_ID}) as client:
        yield client


@pytest.fixture
async def control(recording: Recording) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's control API (faults, clock, deletes)."""
    async with httpx.AsyncClient(transport=recording.inner, base_url=BASE_URL) as client:
        yield client
