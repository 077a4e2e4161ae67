"""The record a platform folder registers with the composition root (`engine.Platform`).

Every platform is the same few facts: its short name, its title, its capability table, and
how to build its OAuth client, its provider for one connection and, where it sends them, its
incoming-webhook receiver. Each folder's
`_platform.py` fills in one `ProviderPlatform` and names its type (`XeroPlatform`, …) so
`PLATFORM.oauth()` and `PLATFORM.provider()` keep their precise return types.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from engine import (
    Capabilities,
    ConnectionSettings,
    OAuthClient,
    Provider,
    TokenSource,
    WebhookReceiver,
)

OAuthT = TypeVar("OAuthT", bound=OAuthClient)
ProviderT = TypeVar("ProviderT", bound=Provider)


@dataclass(frozen=True)
class ProviderPlatform(Generic[OAuthT, ProviderT]):
    """Implements `engine.Platform` from a name, a title, capabilities and two factories."""

    name: str
    """Short name used in config, CLI and the store: quickbooks, xero, wave, freshbooks."""
    title: str
    capabilities: Capabilities
    make_oauth: Callable[[ConnectionSettings], OAuthT]
    make_provider: Callable[[ConnectionSettings, TokenSource], ProviderT]
    make_webhooks: Callable[[], WebhookReceiver] | None = None
    """The platform's incoming-webhook receiver; None where it sends no webhooks (Wave)."""

    def oauth(self, settings: ConnectionSettings) -> OAuthT:
        return self.make_oauth(settings)

    def provider(self, settings: ConnectionSettings, tokens: TokenSource) -> ProviderT:
        return self.make_provider(settings, tokens)

    def webhooks(self) -> WebhookReceiver | None:
        return self.make_webhooks() if self.make_webhooks is not None else None


def lazy_sandbox(package: str) -> Callable[[str], Any]:
    """A platform package's module `__getattr__`: `create_sandbox_app` is imported on first
    use. A sandbox pulls in Starlette (and GraphQL on Wave); the console's dashboard only
    reads a platform's capabilities, and its first paint must not wait for four emulators."""

    def attribute(name: str) -> Any:
        if name == "create_sandbox_app":
            return importlib.import_module(f"{package}.sandbox").create_sandbox_app
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return attribute
