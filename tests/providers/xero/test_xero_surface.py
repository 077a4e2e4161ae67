"""The public surface of providers.xero, and the real URLs when no base_url is set."""

from __future__ import annotations

import providers.xero
from engine import ConnectionSettings, Entity, Operation, Platform
from providers.xero import PLATFORM, XeroOAuth


def test_exported_members() -> None:
    assert sorted(providers.xero.__all__) == [
        "PLATFORM", "XeroOAuth", "XeroPlatform", "XeroProvider", "create_sandbox_app"]
    platform: Platform = PLATFORM
    assert platform.name == "xero"
    assert PLATFORM.capabilities.limits.batch_size == 50
    # An edited payment is a delete and a create inside one push; every entity is batched.
    assert PLATFORM.capabilities.supports(Entity.PAYMENT, Operation.UPDATE)
    assert PLATFORM.capabilities.batched == frozenset(Entity)


def test_real_platform_urls() -> None:
    oauth = XeroOAuth(ConnectionSettings(platform="xero", client_id="abc"))
    assert oauth.urls.token == "https://identity.xero.com/connect/token"
    assert oauth.urls.revoke == "https://identity.xero.com/connect/revocation"
    assert oauth.authorization_url("https://x/cb", "s").startswith(
        "https://login.xero.com/identity/connect/authorize?")
    assert oauth.hosts.api == "https://api.xero.com"
