"""Access tokens for one connection, refreshed exactly once however many workers ask.

A refresh runs inside a store write transaction (`BEGIN IMMEDIATE`, a database-level lock
shared by every process on the file). Inside it the token row is read again: if another
worker or process already refreshed, its token is used and the single-use refresh token is
not spent twice. `invalid_grant` marks the connection as needing reconnection, in its own
committed transaction, before the error goes up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiosqlite

from ._errors import AuthRevoked
from ._notify import raise_notification
from ._port import TokenSet
from ._secrets import Sealer
from ._store import Store
from ._time import Clock, from_iso, to_iso, utcnow

Refresher = Callable[[str], Awaitable[TokenSet]]

EARLY_REFRESH = timedelta(seconds=60)
"""Refresh this long before expiry, so a request does not leave with a token about to die."""


class TokenVault:
    """Implements `engine.TokenSource` for one connection."""

    def __init__(self, store: Store, connection_id: int, refresher: Refresher,
                 sealer: Sealer, clock: Clock = utcnow) -> None:
        self.store = store
        self.connection_id = connection_id
        self.refresher = refresher
        self.sealer = sealer
        self.clock = clock
        self.refreshes = 0
        self._cached: tuple[str, str] | None = None  # (access token, expires at ISO)

    async def access_token(self) -> str:
        if self._cached is None or self._expiring(self._cached[1]):
            row = await self.store.fetch_one(
                "SELECT sealed, access_expires_at FROM tokens WHERE connection_id = ?",
                (self.connection_id,),
            )
            if row is None:
                raise AuthRevoked("this connection has no tokens: connect it with "
                                  "`syncdesk connect`")
            secrets = self.sealer.unseal(row["sealed"])
            self._cached = (str(secrets["access_token"]), str(row["access_expires_at"]))
        if self._expiring(self._cached[1]):
            return await self.refreshed(self._cached[0])
        return self._cached[0]

    async def refreshed(self, rejected: str) -> str:
        revoked: AuthRevoked | None = None
        async with self.store.write() as db:
            row = await (await db.execute(
                "SELECT sealed, access_expires_at FROM tokens WHERE connection_id = ?",
                (self.connection_id,),
            )).fetchone()
            if row is None:
                raise AuthRevoked("this connection has no tokens: connect it again")
            secrets = self.sealer.unseal(row["sealed"])
            current = str(secrets["access_token"])
            if current != rejected and not self._expiring(str(row["access_expires_at"])):
                self._cached = (current, str(row["access_expires_at"]))
                return current
            refresh_token = secrets.get("refresh_token")
            try:
                if not refresh_token:
                    raise AuthRevoked("the platform gave no refresh token: reconnect")
                tokens = await self.refresher(str(refresh_token))
            except AuthRevoked as exc:
                revoked = exc
                await _needs_reconnect(db, self.connection_id, exc, to_iso(self.clock()))
            else:
                secrets.update(access_token=tokens.access_token,
                               refresh_token=tokens.refresh_token or refresh_token)
                expires = to_iso(tokens.access_expires_at)
                await db.execute(
                    "UPDATE tokens SET sealed = ?, access_expires_at = ?, "
                    "refresh_expires_at = COALESCE(?, refresh_expires_at), "
                    "generation = generation + 1, updated_at = ? WHERE connection_id = ?",
                    (self.sealer.seal(secrets), expires,
                     to_iso(tokens.refresh_expires_at) if tokens.refresh_expires_at else None,
                     to_iso(self.clock()), self.connection_id),
                )
                self.refreshes += 1
                self._cached = (tokens.access_token, expires)
                return tokens.access_token
        raise revoked

    def _expiring(self, expires_at: str) -> bool:
        return from_iso(expires_at) - EARLY_REFRESH <= self.clock()


async def _needs_reconnect(db: aiosqlite.Connection, connection_id: int, error: AuthRevoked,
                           now: str) -> None:
    reason = f"needs reconnecting: {error.message}"
    await db.execute(
        "UPDATE connections SET state = 'needs_reconnect', state_reason = ?, updated_at = ? "
        "WHERE id = ?", (reason, now, connection_id),
    )
    await raise_notification(db, connection_id, None, None, kind="auth",
                             title="Connection needs reconnecting", message=reason, now=now)
