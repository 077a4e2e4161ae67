"""The public surface of providers.wave: names, capability table, real URLs, connecting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

import providers.wave
from console import cli
from console._fleet import SandboxFleet
from console._wiring import platforms
from engine import ConnectionSettings, Entity, Operation, Platform
from providers.wave import CAPABILITIES, PLATFORM, WaveOAuth


def test_exported_members() -> None:
    assert sorted(providers.wave.__all__) == [
        "CAPABILITIES", "PLATFORM", "WaveOAuth", "WavePlatform", "WaveProvider",
        "create_sandbox_app"]
    platform: Platform = PLATFORM
    assert (platform.name, platform.title) == ("wave", "Wave")
    assert platforms()["wave"] is PLATFORM  # the composition root finds it by PLATFORM


def test_capability_table_names_what_wave_cannot_do() -> None:
    assert CAPABILITIES.entities == {Entity.CUSTOMER, Entity.ITEM, Entity.INVOICE}
    assert CAPABILITIES.supports(Entity.INVOICE, Operation.VOID)
    assert not CAPABILITIES.supports(Entity.CUSTOMER, Operation.VOID)
    assert not CAPABILITIES.supports(Entity.PAYMENT)
    assert not CAPABILITIES.supports(Entity.CREDIT_NOTE)
    assert CAPABILITIES.unsupported[Entity.PAYMENT].startswith(
        "Wave's public API cannot apply a payment to an invoice")
    assert CAPABILITIES.unsupported[Entity.CREDIT_NOTE].startswith(
        "Wave's public API has no credit notes")
    assert (CAPABILITIES.limits.per_minute, CAPABILITIES.limits.batch_size) == (60, 1)
    assert CAPABILITIES.idempotency_keys is False


def test_real_platform_urls() -> None:
    oauth = WaveOAuth(ConnectionSettings(platform="wave", client_id="abc"))
    assert oauth.urls.token == "https://api.waveapps.com/oauth2/token/"
    assert oauth.urls.revoke is None  # Wave documents no revoke endpoint
    assert oauth.authorization_url("https://x/cb", "s").startswith(
        "https://api.waveapps.com/oauth2/authorize/?")
    assert oauth.hosts.api == "https://gql.waveapps.com"
    assert "invoice:write" in oauth.urls.scope and "invoice:read" in oauth.urls.scope


def test_connect_wave_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with SandboxFleet(["wave"]) as fleet:
        base_url = fleet.urls["wave"]

        def approve(prompt: str = "") -> str:
            """The person opens the printed address and pastes where the browser went."""
            printed = capsys.readouterr().out
            url = re.search(r"(http://\S+/oauth2/authorize/\S+)", printed)
            assert url is not None, printed
            consent = httpx.get(url.group(1), follow_redirects=False)
            assert consent.status_code == 302
            return consent.headers["location"]

        monkeypatch.setattr("builtins.input", approve)
        code = cli.main(["connect", "wave", "--base-url", base_url, "--client-id", "x",
                         "--client-secret", "y", "--paste"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "connected Wave: Northwind Home Services (connection 1)" in out


async def test_connect_sandbox_stores_the_business(store: Any, sealer: Any) -> None:
    from console._wiring import connect_sandbox

    app = providers.wave.create_sandbox_app()
    ids = await connect_sandbox(store, PLATFORM, "http://wave.sandbox", sealer,
                                transport=httpx.ASGITransport(app=app))
    row = await store.fetch_one("SELECT tenant_id, tenant_name, unsupported FROM connections "
                                "WHERE id = ?", (ids[0],))
    assert (row["tenant_id"], row["tenant_name"]) == (app.state.books.id,
                                                      "Northwind Home Services")
    assert "cannot apply a payment" in row["unsupported"]
