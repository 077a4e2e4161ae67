"""What the Xero tests share beyond `tests.providers._support`: spec requests, API reads, a
person's own app on the organisation."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from engine import ConnectionSettings
from providers.xero import PLATFORM
from providers.xero.sandbox import DEMO_TENANT_ID
from tests.providers._support import Recording, connect

XERO_API = "https://api.xero.com"
SANDBOX_URL = "http://xero.sandbox"


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


def api_requests(recording: Recording) -> list[httpx.Request]:
    return [r for r in recording.requests if r.url.path.startswith("/api.xro/2.0")]


def as_dict(value: Any) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value


async def persons_app(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    """Someone's own app on the same Xero organisation, with its own grant: what a person's
    changes on Xero are made through (close it when done)."""
    settings = ConnectionSettings(platform="xero", tenant_id=DEMO_TENANT_ID,
                                  client_id="bookkeepers-app", client_secret="theirs",
                                  base_url=SANDBOX_URL, transport=transport)
    tokens, _ = await connect(PLATFORM, settings)
    return httpx.AsyncClient(transport=transport, base_url=SANDBOX_URL, headers={
        "Authorization": f"Bearer {tokens.current}", "xero-tenant-id": DEMO_TENANT_ID,
        "Accept": "application/json"})
