"""Businesses: the workspaces one store holds, each with its own ledger, connections, API
keys, webhook endpoints and audit.

A store always has at least one: business 1, `default`, which every store from before
businesses became (migration 13), and which an existing caller that names none still means.
A person names a business by its name or its id; with none named, the only one is meant, and
with several, none is guessed: the error lists them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from ._db import IntegrityError, SyncDB
from ._errors import ConfigError
from ._store import Store
from ._time import Clock, from_iso, to_iso, utcnow

DEFAULT_BUSINESS = 1
"""The business of a store that never added another, and of callers that name none."""

_HOLDINGS = (
    ("customers", "SELECT COUNT(*) FROM customers WHERE business_id = ?"),
    ("items", "SELECT COUNT(*) FROM items WHERE business_id = ?"),
    ("invoices", "SELECT COUNT(*) FROM invoices WHERE business_id = ?"),
    ("payments", "SELECT COUNT(*) FROM payments WHERE business_id = ?"),
    ("credit notes", "SELECT COUNT(*) FROM credit_notes WHERE business_id = ?"),
    ("connections", "SELECT COUNT(*) FROM connections WHERE business_id = ? "
                    "AND state != 'disconnected'"),
)
"""What keeps a business from being removed: its records and live connections."""


@dataclass(frozen=True)
class Business:
    id: int
    name: str
    created_at: datetime

    def __str__(self) -> str:
        return f"{self.name} (#{self.id})"


class Businesses:
    """Add, list, rename and remove businesses, and find the one a person named."""

    def __init__(self, store: Store, clock: Clock = utcnow) -> None:
        self.store = store
        self.clock = clock

    async def list(self) -> list[Business]:
        rows = await self.store.fetch_all("SELECT * FROM businesses ORDER BY id")
        return [Business(row["id"], row["name"], from_iso(row["created_at"])) for row in rows]

    async def add(self, name: str, *, actor: str) -> Business:
        name = _checked(name)
        now = to_iso(self.clock())

        def work(db: SyncDB) -> int:
            try:
                business = int(db.execute(
                    "INSERT INTO businesses (name, created_at) VALUES (?, ?) RETURNING id",
                    (name, now)).fetchone()[0])
            except IntegrityError:
                raise ConfigError(f"a business named {name!r} exists already") from None
            _audit(db, business, now, actor, "business_add", {"name": name})
            return business

        return Business(await self.store.run_write(work), name, from_iso(now))

    async def rename(self, ref: str, new_name: str, *, actor: str) -> Business:
        business = await self.find(ref)
        new_name = _checked(new_name)
        now = to_iso(self.clock())

        def work(db: SyncDB) -> None:
            try:
                db.execute("UPDATE businesses SET name = ? WHERE id = ?", (new_name, business.id))
            except IntegrityError:
                raise ConfigError(f"a business named {new_name!r} exists already") from None
            _audit(db, business.id, now, actor, "business_rename",
                   {"from": business.name, "to": new_name})

        await self.store.run_write(work)
        return Business(business.id, new_name, business.created_at)

    async def remove(self, ref: str, *, actor: str) -> Business:
        """Remove an empty business. One that still holds records or live connections is
        refused, naming them: removing it would lose the books of a real business."""
        business = await self.find(ref)
        held = []
        for what, sql in _HOLDINGS:
            count = int(await self.store.fetch_value(sql, (business.id,)) or 0)
            if count:
                held.append(f"{count} {what}")
        if held:
            raise ConfigError(f"business {business} still holds {', '.join(held)}; "
                              "nothing was removed")
        if len(await self.list()) == 1:
            raise ConfigError(f"{business} is the only business; a store keeps at least one")
        now = to_iso(self.clock())

        def work(db: SyncDB) -> None:
            # Disconnected connections keep their audit trail under the business's id; the
            # keys and endpoints of a business that is gone must not open anything.
            db.execute("UPDATE api_keys SET expires_at = ? WHERE business_id = ? AND "
                       "(expires_at IS NULL OR expires_at > ?)", (now, business.id, now))
            db.execute("UPDATE webhook_endpoints SET disabled_at = ? WHERE business_id = ? AND "
                       "disabled_at IS NULL", (now, business.id))
            db.execute("DELETE FROM businesses WHERE id = ?", (business.id,))
            _audit(db, business.id, now, actor, "business_remove", {"name": business.name})

        await self.store.run_write(work)
        return business

    async def find(self, ref: str | None) -> Business:
        """The business `ref` names (its name, or its id); with None, the only one."""
        known = await self.list()
        if ref is None:
            if len(known) == 1:
                return known[0]
            raise ConfigError("several businesses: name one with --business ("
                              + ", ".join(b.name for b in known) + ")")
        for business in known:
            if business.name == ref or str(business.id) == ref:
                return business
        raise ConfigError(f"no business {ref!r}; businesses: "
                          + ", ".join(b.name for b in known))


async def business_of(store: Store, connection_id: int) -> int:
    """The business a connection belongs to."""
    value = await store.fetch_value("SELECT business_id FROM connections WHERE id = ?",
                                    (connection_id,))
    if value is None:
        raise ConfigError(f"no connection {connection_id}")
    return int(value)


def _checked(name: str) -> str:
    name = name.strip()
    if not name:
        raise ConfigError("a business needs a name")
    if name.isdigit():
        # A bare number would read as another business's id wherever a business is named.
        raise ConfigError(f"{name!r}: a business's name cannot be only digits")
    return name


def _audit(db: SyncDB, business: int, now: str, actor: str, command: str,
           scope: dict[str, str]) -> None:
    db.execute("INSERT INTO audit (business_id, at, actor, command, scope, affected) "
               "VALUES (?, ?, ?, ?, ?, 1)", (business, now, actor, command, json.dumps(scope)))
