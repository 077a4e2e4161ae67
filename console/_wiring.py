"""The composition root's parts: which platforms exist, and how a connection is made.

This is the only place that imports `providers`: the engine receives platforms as a mapping.
"""

from __future__ import annotations

import importlib
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from engine import (
    DEFAULT_BUSINESS,
    ConfigError,
    ConnectionSettings,
    Grant,
    MappingKind,
    NewConnection,
    Platform,
    Sealer,
    Store,
    add_connection,
    parse_kind,
)

if TYPE_CHECKING:
    import httpx

from ._names import PLATFORM_NAMES

ENV_CONFIG = "SYNCDESK_CONFIG"


def platforms() -> dict[str, Platform]:
    """The platforms whose folder is present under `providers/`."""
    found: dict[str, Platform] = {}
    for name in PLATFORM_NAMES:
        try:
            module = importlib.import_module(f"providers.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"providers.{name}":
                raise
            continue
        found[name] = module.PLATFORM
    return found


def sandbox_app(name: str, **options: Any) -> Any:
    """The named platform's sandbox (a Starlette app)."""
    if name not in platforms():
        raise ConfigError(f"no sandbox for {name!r}; platforms here: {', '.join(platforms())}")
    module = importlib.import_module(f"providers.{name}")
    return module.create_sandbox_app(**options)


@dataclass(frozen=True)
class Config:
    """`config.toml`: platform credentials, key bindings, the weekly schedule."""

    keymap: Mapping[str, str] = field(default_factory=dict)
    platforms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    schedule: str | None = None
    engine: Mapping[str, float] = field(default_factory=dict)
    """`[engine]` tunables other than the schedule and the audit (see `ENGINE_TUNABLES`)."""
    weekly_audit: bool = False
    """`[engine] weekly_audit = true`: the weekly sync also runs the drift audit."""
    push_payments: bool = False
    """`[feed] push_payments_to_other_platforms = true`: a payment recorded on one platform
    is sent to the business's other connections too (docs/WAYBACK.md)."""
    mappings: Mapping[str, tuple[ConfigMapping, ...]] = field(default_factory=dict)
    """`[mappings.<connection id or platform>]`: set at `engine run` and `demo` start,
    checked against the platform's lists like any other mapping (`mapping_sections`)."""

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        import os

        path = path or Path(os.environ.get(ENV_CONFIG) or Path(
            platformdirs.user_config_dir("syncdesk", appauthor=False)) / "config.toml")
        if not path.exists():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        keymap = data.get("keymap", {})
        if not isinstance(keymap, dict) or not all(isinstance(v, str) for v in keymap.values()):
            raise ConfigError(f"{path}: [keymap] maps binding ids to keys, e.g. retry = \"t\"")
        unknown = set(data) - {"keymap", "platforms", "engine", "mappings", "feed"}
        if unknown:
            raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; "
                              "expected [keymap], [platforms.<name>], [engine], "
                              "[mappings.<connection>], [feed]")
        push_payments = feed_section(path, data.get("feed", {}))
        engine = dict(data.get("engine", {}))
        schedule = engine.pop("schedule", None)
        weekly_audit = engine.pop("weekly_audit", False)
        if not isinstance(weekly_audit, bool):
            raise ConfigError(f"{path}: [engine] weekly_audit is true or false, "
                              f"not {weekly_audit!r}")
        for key, value in engine.items():
            if key not in ENGINE_TUNABLES:
                raise ConfigError(f"{path}: [engine] {key} is not a setting; known: schedule, "
                                  f"weekly_audit, {', '.join(ENGINE_TUNABLES)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{path}: [engine] {key} must be a positive number "
                                  f"({ENGINE_TUNABLES[key]}), not {value!r}")
        return cls(keymap=keymap, platforms=data.get("platforms", {}), schedule=schedule,
                   engine=engine, weekly_audit=weekly_audit, push_payments=push_payments,
                   mappings=mapping_sections(path, data.get("mappings", {})))


ConfigMapping = tuple[MappingKind, str | None, str]
"""One mapping of config.toml: kind, local key (None for a connection-wide kind), value."""


def mapping_sections(path: Path, sections: Any) -> dict[str, tuple[ConfigMapping, ...]]:
    """`[mappings.<connection>]` tables, shaped like this (values are the platform's codes):

        [mappings.quickbooks]
        default_income_account = "79"
        deposit_account = "35"
        [mappings.quickbooks.tax_code]
        GST = "TAX"
        [mappings.quickbooks.income_account]
        TILE-SQFT = "79"
    """
    if not isinstance(sections, dict):
        raise ConfigError(f"{path}: [mappings] holds one table per connection, "
                          "[mappings.<connection id or platform>]")
    found: dict[str, tuple[ConfigMapping, ...]] = {}
    for connection, table in sections.items():
        where = f"{path}: [mappings.{connection}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table of kind = value")
        entries: list[ConfigMapping] = []
        for name, value in table.items():
            try:
                kind = parse_kind(name)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            if not kind.keyed:
                if not isinstance(value, str):
                    raise ConfigError(f"{where} {name} is one platform code, e.g. "
                                      f'{name} = "…", not {value!r}')
                entries.append((kind, None, value))
                continue
            if not isinstance(value, dict) or not all(
                    isinstance(v, str) for v in value.values()):
                raise ConfigError(f"{where} {name} maps each {kind.key_label} to a platform "
                                  f'code: [mappings.{connection}.{name}] then KEY = "CODE"')
            entries.extend((kind, str(key), code) for key, code in value.items())
        found[str(connection)] = tuple(entries)
    return found


def feed_section(path: Path, section: Any) -> bool:
    """`[feed]`: push_payments_to_other_platforms = true | false (the only key)."""
    if not isinstance(section, dict) or set(section) - {"push_payments_to_other_platforms"}:
        raise ConfigError(f"{path}: [feed] takes push_payments_to_other_platforms = true or "
                          "false")
    value = section.get("push_payments_to_other_platforms", False)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: [feed] push_payments_to_other_platforms is true or "
                          f"false, not {value!r}")
    return value


ENGINE_TUNABLES = {
    "poll_interval": "seconds between looks for new work when idle",
    "feed_interval": "seconds between two reads of each connection's change feed",
    "stop_grace": "seconds a stop lets the round in progress finish",
    "max_attempts": "counted attempts before a record fails",
    "backoff_base": "seconds of the first retry's back-off ceiling",
    "backoff_cap": "longest back-off, seconds",
}


async def connect_sandbox(store: Store, platform: Platform, base_url: str, sealer: Sealer,
                          *, client_id: str = "syncdesk-demo",
                          client_secret: str = "demo-secret",
                          transport: httpx.AsyncBaseTransport | None = None,
                          business_id: int = DEFAULT_BUSINESS) -> list[int]:
    """Connect a business to a sandbox through the real authorization-code flow.

    The sandbox's consent page approves at once, so following its redirect by hand stands in
    for the person clicking "Connect" in a browser.
    """
    settings = ConnectionSettings(platform=platform.name, client_id=client_id,
                                  client_secret=client_secret, base_url=base_url,
                                  transport=transport)
    oauth = platform.oauth(settings)
    redirect_uri = "http://127.0.0.1/callback"
    state = secrets.token_urlsafe(12)
    import httpx  # loaded when connecting, not when the console starts

    async with httpx.AsyncClient(timeout=10, transport=transport) as client:
        consent = await client.get(oauth.authorization_url(redirect_uri, state),
                                   follow_redirects=False)
    location = consent.headers.get("location")
    if consent.status_code != 302 or not location:
        raise ConfigError(f"{platform.title} sandbox at {base_url} did not redirect back "
                          f"(HTTP {consent.status_code})")
    grant = await oauth.exchange_code(location, redirect_uri)
    return await store_grant(store, platform, grant, settings, sealer, business_id=business_id)


async def store_grant(store: Store, platform: Platform, grant: Grant,
                      settings: ConnectionSettings, sealer: Sealer, *,
                      business_id: int = DEFAULT_BUSINESS) -> list[int]:
    """Save one connection of the business per granted tenant, each queued for its first
    sync."""
    if not grant.tenants:
        raise ConfigError(f"{platform.title} granted access to no organisation")
    return [await add_connection(store, NewConnection(
        platform=platform.name, tenant_id=tenant.tenant_id, tenant_name=tenant.name,
        tokens=grant.tokens, client_id=settings.client_id,
        client_secret=settings.client_secret, base_url=settings.base_url,
        unsupported=platform.capabilities.unsupported, business_id=business_id,
    ), sealer) for tenant in grant.tenants]
