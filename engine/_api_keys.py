"""API keys: how a business's own app proves who it is to `syncdesk serve`.

A key is shown once, when it is made; the store keeps only its SHA-256 digest, so a copy of
the store gives no one the keys. The digest is what a request is looked up by: a key is 32
random bytes, so there is nothing to guess and no timing to learn from the lookup. Rotating a
key makes a new one and lets the old one work for an overlap, so an app can be redeployed
with the new key before the old one stops. A key belongs to one business, and opens only
that business's records; names are a business's own.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ._businesses import DEFAULT_BUSINESS
from ._db import AsyncDB, Row
from ._errors import ConfigError
from ._store import Store
from ._time import Clock, from_iso, to_iso, utcnow

PREFIX = "sdk_"


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    hint: str
    """The key's first characters, to tell keys apart in a list; never enough to use."""
    read_only: bool
    created_at: datetime
    expires_at: datetime | None
    """Set when the key was rotated (the end of its overlap) or revoked (then)."""
    business_id: int = DEFAULT_BUSINESS

    def live(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def _key(row: Row) -> ApiKey:
    return ApiKey(id=row["id"], name=row["name"], hint=row["hint"],
                  read_only=bool(row["read_only"]), created_at=from_iso(row["created_at"]),
                  expires_at=from_iso(row["expires_at"]) if row["expires_at"] else None,
                  business_id=row["business_id"])


class ApiKeys:
    """One business's keys; `authenticate` finds a key of any business."""

    def __init__(self, store: Store, clock: Clock = utcnow, *,
                 business: int = DEFAULT_BUSINESS) -> None:
        self.store = store
        self.clock = clock
        self.business = business

    async def create(self, name: str, *, read_only: bool = False) -> tuple[ApiKey, str]:
        """A new key: the row, and the secret, which nothing can show again."""
        name = name.strip()
        if not name:
            raise ConfigError("an API key needs a name (who uses it: the app, a script, …)")
        async with self.store.write() as db:
            if await self._live_named(db, name) is not None:
                raise ConfigError(f"an API key named {name!r} exists: rotate it, or revoke it "
                                  "first")
            secret = await self._insert(db, name, read_only)
            await self._audit(db, "api_key_create", name)
            row = await self._live_named(db, name)
        assert row is not None
        return _key(row), secret

    async def rotate(self, name: str, *, overlap: timedelta) -> tuple[ApiKey, str]:
        """A new secret under the same name; the old one works for `overlap` more."""
        now = self.clock()
        async with self.store.write() as db:
            old = await self._live_named(db, name)
            if old is None:
                raise ConfigError(f"no API key named {name!r}")
            await db.execute("UPDATE api_keys SET expires_at = ?, rotated = 1 WHERE id = ?",
                             (to_iso(now + overlap), old["id"]))
            secret = await self._insert(db, name, bool(old["read_only"]))
            await self._audit(db, "api_key_rotate", name)
            row = await self._live_named(db, name)
        assert row is not None
        return _key(row), secret

    async def revoke(self, name: str) -> int:
        """Every key of that name stops working now, the overlap of a rotation included."""
        now = to_iso(self.clock())
        async with self.store.write() as db:
            cursor = await db.execute(
                "UPDATE api_keys SET expires_at = ? WHERE business_id = ? AND name = ? AND "
                "(expires_at IS NULL OR expires_at > ?)", (now, self.business, name, now))
            if not cursor.rowcount:
                raise ConfigError(f"no working API key named {name!r}")
            await self._audit(db, "api_key_revoke", name)
            return cursor.rowcount

    async def list(self) -> list[ApiKey]:
        rows = await self.store.fetch_all(
            "SELECT * FROM api_keys WHERE business_id = ? ORDER BY name, id", (self.business,))
        return [_key(row) for row in rows]

    async def authenticate(self, secret: str) -> ApiKey | None:
        """The live key this secret is, or None."""
        if not secret.startswith(PREFIX):
            return None
        row = await self.store.fetch_one("SELECT * FROM api_keys WHERE digest = ?",
                                         (_digest(secret),))
        if row is None:
            return None
        key = _key(row)
        return key if key.live(self.clock()) else None

    async def _insert(self, db: AsyncDB, name: str, read_only: bool) -> str:
        secret = _new_secret()
        await db.execute(
            "INSERT INTO api_keys (business_id, name, hint, digest, read_only, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (self.business, name, secret[:len(PREFIX) + 4], _digest(secret), int(read_only),
             to_iso(self.clock())))
        return secret

    async def _live_named(self, db: AsyncDB, name: str) -> Row | None:
        row: Row | None = await (await db.execute(
            "SELECT * FROM api_keys WHERE business_id = ? AND name = ? AND rotated = 0 AND "
            "(expires_at IS NULL OR expires_at > ?) ORDER BY id DESC LIMIT 1",
            (self.business, name, to_iso(self.clock())))).fetchone()
        return row

    async def _audit(self, db: AsyncDB, command: str, name: str) -> None:
        await db.execute(
            "INSERT INTO audit (business_id, at, actor, command, scope, affected) "
            "VALUES (?, ?, ?, ?, ?, 1)",
            (self.business, to_iso(self.clock()), "cli", command, json.dumps({"key": name})))
