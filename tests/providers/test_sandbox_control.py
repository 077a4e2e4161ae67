"""The control API every sandbox shares: the marks audit and the idempotency-key window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from providers import freshbooks, quickbooks, wave, xero

SANDBOXES: dict[str, Callable[..., Any]] = {
    "quickbooks": quickbooks.create_sandbox_app, "xero": xero.create_sandbox_app,
    "wave": wave.create_sandbox_app, "freshbooks": freshbooks.create_sandbox_app}
WITH_KEYS = {"quickbooks", "xero"}


async def call(platform: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    app = SANDBOXES[platform]()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sandbox") as client:
        return await client.request(method, path, **kwargs)


@pytest.mark.parametrize("platform", SANDBOXES)
async def test_a_fresh_sandbox_holds_nothing_of_ours(platform: str) -> None:
    # Each demo company holds someone else's customer and invoice: none carries our mark.
    answer = await call(platform, "GET", "/_sandbox/marks")
    assert answer.json() == {"marks": {"customer": {}, "item": {}, "invoice": {},
                                       "payment": {}, "credit_note": {}}, "parts": {}}


@pytest.mark.parametrize("platform", SANDBOXES)
async def test_the_key_window_is_set_where_the_platform_has_keys(platform: str) -> None:
    answer = await call(platform, "POST", "/_sandbox/idempotency", json={"window_seconds": 5})
    if platform in WITH_KEYS:
        assert answer.json() == {"window_seconds": 5.0, "live_keys": 0}
        assert (await call(platform, "GET", "/_sandbox/idempotency")).json()[
            "window_seconds"] == 360.0
    else:
        assert answer.status_code == 404
        assert answer.json() == {"error": "this platform has no idempotency keys"}


@pytest.mark.parametrize("body", [{}, {"window_seconds": "soon"}, {"window_seconds": -1}])
async def test_a_bad_window_is_refused(body: dict[str, Any]) -> None:
    answer = await call("xero", "POST", "/_sandbox/idempotency", json=body)
    assert answer.status_code == 400 and "window_seconds" in answer.json()["error"]


async def test_a_latency_delays_each_api_request_before_it_is_handled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = quickbooks.create_sandbox_app(limits_enabled=False)
    context = app.state.sandbox
    waits: list[tuple[float, int]] = []

    async def sleep(seconds: float) -> None:
        waits.append((seconds, context.requests))

    monkeypatch.setattr("providers._sandbox._app.asyncio.sleep", sleep)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sandbox") as client:
        await client.get("/v3/company/x/companyinfo/x")
        assert waits == []  # the default answers at once
        assert (await client.get("/_sandbox/latency")).json() == {"seconds": 0.0}
        answer = await client.post("/_sandbox/latency", json={"seconds": 0.25})
        assert answer.json() == {"seconds": 0.25}
        await client.get("/_sandbox/state")  # control routes are not the platform's
        refused = await client.get("/v3/company/x/companyinfo/x")
    # Before the guard counted it, so limits see the request when it arrives.
    assert waits == [(0.25, 1)] and refused.status_code == 401


@pytest.mark.parametrize("body", [{}, {"seconds": "slow"}, {"seconds": -0.1}, {"seconds": 61}])
async def test_a_bad_latency_is_refused(body: dict[str, Any]) -> None:
    answer = await call("wave", "POST", "/_sandbox/latency", json=body)
    assert answer.status_code == 400 and "latency" in answer.json()["error"]
