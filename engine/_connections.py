"""Connections: one tenant of one platform, its sealed tokens and how to reach it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from ._businesses import DEFAULT_BUSINESS
from ._errors import ConfigError
from ._limiter import RateGate
from ._models import Entity
from ._port import ConnectionSettings, Platform, Provider, TokenSet
from ._secrets import Sealer
from ._store import Store
from ._sync_state import queue_everything
from ._time import Clock, to_iso, utcnow
from ._vault import TokenVault


@dataclass(frozen=True)
class NewConnection:
    platform: str
    tenant_id: str
    tenant_name: str
    tokens: TokenSet
    client_id: str = ""
    client_secret: str = ""
    base_url: str | None = None
    unsupported: Mapping[Entity, str] | None = None
    """Entities the platform cannot take, and why: their jobs are shown as skipped."""
    business_id: int = DEFAULT_BUSINESS


async def add_connection(store: Store, new: NewConnection, sealer: Sealer,
                         clock: Clock = utcnow) -> int:
    """Store a connection with its tokens and queue every record for its first sync.

    Connecting a tenant that is already known replaces its tokens and reactivates it; its
    records keep their statuses and links, and only what changed while it was disconnected
    is queued. A tenant belongs to one business: connecting it to another is refused.
    """
    now = to_iso(clock())
    sealed = sealer.seal({"access_token": new.tokens.access_token,
                          "refresh_token": new.tokens.refresh_token,
                          "client_secret": new.client_secret})
    unsupported = json.dumps({e.value: why for e, why in (new.unsupported or {}).items()})
    async with store.write() as db:
        row = await (await db.execute(
            "INSERT INTO connections (business_id, platform, tenant_id, tenant_name, base_url, "
            "client_id, unsupported, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (platform, tenant_id) DO UPDATE SET tenant_name = excluded.tenant_name, "
            "base_url = excluded.base_url, client_id = excluded.client_id, "
            "unsupported = excluded.unsupported, state = 'active', state_reason = NULL, "
            "updated_at = excluded.updated_at WHERE business_id = excluded.business_id "
            "RETURNING id",
            (new.business_id, new.platform, new.tenant_id, new.tenant_name, new.base_url,
             new.client_id, unsupported, now, now),
        )).fetchone()
        if row is None:
            raise ConfigError(f"{new.platform} tenant {new.tenant_name!r} is connected to "
                              "another business; disconnect it there first")
        connection_id = int(row[0])
        await db.execute(
            "INSERT INTO tokens (connection_id, sealed, access_expires_at, refresh_expires_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (connection_id) DO UPDATE SET "
            "sealed = excluded.sealed, access_expires_at = excluded.access_expires_at, "
            "refresh_expires_at = excluded.refresh_expires_at, generation = generation + 1, "
            "updated_at = excluded.updated_at",
            (connection_id, sealed, to_iso(new.tokens.access_expires_at),
             to_iso(new.tokens.refresh_expires_at) if new.tokens.refresh_expires_at else None,
             now),
        )
        await queue_everything(db, connection_id, now)
    return connection_id


@dataclass(frozen=True)
class ConnectionRow:
    id: int
    platform: str
    tenant_id: str
    tenant_name: str
    state: str
    base_url: str | None
    client_id: str
    business_id: int = DEFAULT_BUSINESS


async def live_connections(store: Store) -> list[ConnectionRow]:
    """Connections the engine should drive (not disconnected)."""
    rows = await store.fetch_all(
        "SELECT id, platform, tenant_id, tenant_name, state, base_url, client_id, business_id "
        "FROM connections WHERE state != 'disconnected' ORDER BY id"
    )
    return [ConnectionRow(**dict(row)) for row in rows]


async def connection_settings(store: Store, connection: ConnectionRow,
                              sealer: Sealer) -> ConnectionSettings:
    sealed = await store.fetch_value("SELECT sealed FROM tokens WHERE connection_id = ?",
                                     (connection.id,))
    secret = str(sealer.unseal(sealed).get("client_secret", "")) if sealed else ""
    return ConnectionSettings(
        platform=connection.platform, tenant_id=connection.tenant_id,
        client_id=connection.client_id, client_secret=secret, base_url=connection.base_url,
    )


SettingsHook = Callable[[ConnectionRow, ConnectionSettings], ConnectionSettings]


async def open_provider(store: Store, connection: ConnectionRow, platform: Platform,
                        sealer: Sealer, *, clock: Clock = utcnow,
                        adjust: SettingsHook | None = None) -> Provider:
    """A connection's provider, its tokens refreshed through the store's lock.

    `adjust` changes the settings first (a timeout, or an in-process transport in tests).
    The caller closes the provider.
    """
    settings = await connection_settings(store, connection, sealer)
    if adjust is not None:
        settings = adjust(connection, settings)
    if settings.budget is None:
        # Reads outside the engine (a pull, a check) spend the same platform limits.
        settings = replace(settings, budget=RateGate(platform.capabilities.limits, clock=clock))
    vault = TokenVault(store, connection.id, platform.oauth(settings).refresh, sealer, clock)
    return platform.provider(settings, vault)
