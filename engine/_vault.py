"""Access tokens for one connection, refreshed exactly once however many workers ask.

A refresh runs inside a store write transaction that holds the connection's token row: on
SQLite the transaction itself is the lock (`BEGIN IMMEDIATE`, database-wide, shared by every
process on the file); on PostgreSQL the row is read `FOR UPDATE`, so a refresh on another
host waits for this one to commit and then reads its token. Inside it the token row is read
again: if another worker, process or host already refreshed, its token is used and the
single-use refresh token is not spent twice. The platform's answer is stored in that same
transaction, so the new token is committed before anything uses it.

An answer can still be lost: the token endpoint times out after the platform rotated, or the
process dies between the answer and the commit. Either way the store keeps the refresh token
it held, and a refresh always goes out with that one; where the platform accepts it again
(a grace for lost answers) the connection recovers by itself. To know that an answer may
have been lost, each refresh first commits a count of refreshes sent with the stored token
(`UNANSWERED`); an answer stored clears it. A refresh sent while the count shows an earlier
one unanswered tells the platform's OAuth client so (`after_lost_answer`), and when the
platform then refuses, its client says in its own words what that means and what to do.

A refresh that gets no answer is `Transient`: the connection stays as it is and the next
request tries again. `invalid_grant` (`AuthRevoked`) marks the connection as needing
reconnection, in its own committed transaction, before the error goes up.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, Protocol

from ._db import AsyncDB
from ._errors import AuthRevoked, Transient
from ._port import TokenSet
from ._secrets import Sealer
from ._store import Store
from ._sync_state import mark_needs_reconnect
from ._time import Clock, from_iso, to_iso, utcnow


class Refresher(Protocol):
    """`OAuthClient.refresh` of the connection's platform."""

    def __call__(self, refresh_token: str, *,
                 after_lost_answer: bool = False) -> Awaitable[TokenSet]: ...


EARLY_REFRESH = timedelta(seconds=60)
"""Refresh this long before expiry, so a request does not leave with a token about to die."""

_READ = "SELECT sealed, access_expires_at FROM tokens WHERE connection_id = ?"
_HOLD = {"sqlite": _READ, "postgresql": _READ + " FOR UPDATE"}
"""The token row read inside a refresh's transaction, held by it until it ends."""

UNANSWERED = "unanswered_refreshes"
"""Key in the sealed bundle: refreshes sent with the stored refresh token whose answer was
never stored (lost, or the process died). Cleared when a new token set is stored."""


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
            row = await self.store.fetch_one(_READ, (self.connection_id,))
            if row is None:
                raise AuthRevoked("this connection has no tokens: connect it with "
                                  "`syncdesk connect`")
            secrets = self.sealer.unseal(row["sealed"])
            self._cached = (str(secrets["access_token"]), str(row["access_expires_at"]))
        if self._expiring(self._cached[1]):
            return await self.refreshed(self._cached[0])
        return self._cached[0]

    async def refreshed(self, rejected: str) -> str:
        # Announce the refresh durably first: if its answer never gets stored, the next
        # refresh knows the platform may already have spent the stored refresh token. Apart
        # too: the token row it waits for may be held by a refresh waiting for the platform.
        async with self.store.write_apart() as db:
            secrets, expires = await self._read(db)
            if self._still_good(secrets, expires, rejected):
                return self._use(secrets, expires)
            secrets[UNANSWERED] = int(secrets.get(UNANSWERED, 0)) + 1
            await db.execute("UPDATE tokens SET sealed = ? WHERE connection_id = ?",
                             (self.sealer.seal(secrets), self.connection_id))
        revoked: AuthRevoked | None = None
        # Held while the platform answers: on PostgreSQL that is this token's row alone.
        async with self.store.write_apart() as db:
            secrets, expires = await self._read(db)
            if self._still_good(secrets, expires, rejected):
                return self._use(secrets, expires)
            refresh_token = secrets.get("refresh_token")
            try:
                if not refresh_token:
                    raise AuthRevoked("the platform gave no refresh token: reconnect")
                tokens = await self.refresher(
                    str(refresh_token), after_lost_answer=int(secrets.get(UNANSWERED, 0)) > 1)
            except AuthRevoked as exc:
                revoked = exc
                await mark_needs_reconnect(db, self.connection_id, "Connection needs reconnecting",
                                           exc.message, to_iso(self.clock()))
            except Transient as exc:
                raise Transient(f"{exc.message}; syncdesk keeps the refresh token it holds "
                                "and tries it again on the next request",
                                code=exc.code, http_status=exc.http_status) from exc
            else:
                secrets.pop(UNANSWERED, None)
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
                return self._use(secrets, expires)
        raise revoked

    async def _read(self, db: AsyncDB) -> tuple[dict[str, Any], str]:
        """The sealed bundle and access-token expiry, read inside the write transaction and
        held by it."""
        row = await (await db.execute(_HOLD[self.store.dialect],
                                      (self.connection_id,))).fetchone()
        if row is None:
            raise AuthRevoked("this connection has no tokens: connect it again")
        return self.sealer.unseal(row["sealed"]), str(row["access_expires_at"])

    def _still_good(self, secrets: dict[str, Any], expires: str, rejected: str) -> bool:
        """Another worker or process refreshed since `rejected` was handed out."""
        return str(secrets["access_token"]) != rejected and not self._expiring(expires)

    def _use(self, secrets: dict[str, Any], expires: str) -> str:
        self._cached = (str(secrets["access_token"]), expires)
        return self._cached[0]

    def _expiring(self, expires_at: str) -> bool:
        return from_iso(expires_at) - EARLY_REFRESH <= self.clock()
