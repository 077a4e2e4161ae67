"""The record a platform folder registers with the composition root (`engine.Platform`).

Every platform is the same five facts: its short name, its title, its capability table, and
how to build its OAuth client and its provider for one connection. Each folder's
`_platform.py` fills in one `ProviderPlatform` and names its type (`XeroPlatform`, …) so
`PLATFORM.oauth()` and `PLATFORM.provider()` keep their precise return types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from engine import Capabilities, ConnectionSettings, OAuthClient, Provider, TokenSource

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

    def oauth(self, settings: ConnectionSettings) -> OAuthT:
        return self.make_oauth(settings)

    def provider(self, settings: ConnectionSettings, tokens: TokenSource) -> ProviderT:
        return self.make_provider(settings, tokens)
