"""The change feed: what changed on each connection's platform, read into the ledger; and the
platforms' webhooks, which ask for such a read at once.

Entry points (what the engine, the HTTP service, the CLI and tests call):

- `read_feed(store, connection_id, provider, platform=, title=, entities=)` — one feed cycle
  of one connection: for each entity, pages of `Provider.read_changes` from the stored cursor
  (the connection's creation time on its first read, never the whole history), at most
  `FeedSettings.pages_per_run` pages, each applied by `_inbound.apply_changes` in the one
  transaction that stores the cursor it came with. A crash re-reads at most one page, and a
  page applied twice changes nothing the second time. Returns a `FeedReport`. With
  `only_due`, only entities whose interval has passed or that a webhook marked due are read.
- `FeedRunner` — what the engine runs beside each connection worker: `read_feed(only_due)`
  when its next entity is due, so a feed is read every `FeedSettings.interval`, and within a
  poll of a webhook's mark (the engine's look at its connections wakes it). It reads through
  the worker's own provider, so through the connection's rate budget. A failure is a
  notification and a line in `feed_status`, never a stop of the pushes; an entity the
  platform cannot feed (`Unsupported`) is noted, not notified.
- `mark_due(store, connection_id, entities, now)` — "read these now", cross-process: the
  `serve` process writes it in the store, the engine's runner reads it.
- `HookInbox(store, platforms, sealer).receive(platform, headers, body)` — the engine side of
  `POST /v1/hooks/{platform}`: the platform's `WebhookReceiver` checks the signature with each
  of that platform's connection keys; a verified call marks the (connection, entity) feeds
  its events name as due — the payload's data is never applied, only its names are used. A
  refusal (bad or missing signature, no key) is logged and notified on the platform's
  connections, once while unread. A registration handshake (`WebhookReply.confirm`) is
  answered first, then `HookInbox.confirm` hands its code to each connection's provider
  (`ConfirmsWebhooks.confirm_webhook`) until one is accepted, and keeps it as that
  connection's key.
- `WebhookKeys(store, sealer)` — each connection's webhook key (QuickBooks verifier token,
  Xero webhook key, FreshBooks verifier), sealed as tokens are.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from ._connections import SettingsHook, live_connections, open_provider
from ._db import AsyncDB
from ._errors import AuthExpired, AuthRevoked, ConfigError, RateLimited, SyncError, Unsupported
from ._inbound import Inbound, InboundReport, apply_changes
from ._mappings import read_mappings
from ._models import Entity
from ._notify import raise_notification
from ._port import Platform, Provider, WebhookReply
from ._secrets import Sealer
from ._store import Store
from ._sync_state import mark_needs_reconnect
from ._time import Clock, from_iso, to_iso, utcnow

log = logging.getLogger("syncdesk.feed")

FEED_ENTITIES: tuple[Entity, ...] = (Entity.CUSTOMER, Entity.ITEM, Entity.INVOICE,
                                     Entity.CREDIT_NOTE, Entity.PAYMENT)
"""Read in this order: a payment's invoices are linked before it is read."""

FEED_NOTICE = "feed"
"""The notification slot (record id, with no entity) of a connection's feed failures: apart
from the connection's own slot, so a feed failure never hides a reconnect notice."""
HOOK_NOTICE = "webhooks"
"""The notification slot of refused incoming webhooks."""


@dataclass
class FeedSettings:
    interval: float = 60.0
    """Seconds between two reads of a connection's feed (`[engine] feed_interval`)."""
    page_size: int = 100
    """Changes asked for per page (`read_changes(limit=)`)."""
    pages_per_run: int = 10
    """Pages per entity per cycle at most; the rest is due again at once."""
    push_payments_to_other_platforms: bool = False
    """Send payments recorded on one platform to the business's other connections
    (`[feed] push_payments_to_other_platforms`)."""


@dataclass
class FeedReport:
    pages: int = 0
    changes: int = 0
    applied: InboundReport = field(default_factory=InboundReport)
    failures: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    """Entities this platform has no feed of, each with why."""


@dataclass(frozen=True)
class _Cursor:
    cursor: str | None
    read_at: datetime | None
    due_at: datetime | None


async def read_feed(store: Store, connection_id: int, provider: Provider, *, platform: str,
                    title: str, entities: Iterable[Entity],
                    settings: FeedSettings | None = None, clock: Clock = utcnow,
                    only_due: bool = False, stop: asyncio.Event | None = None) -> FeedReport:
    """One feed cycle of one connection (see the module docstring). `stop` ends it after
    the page in hand (the rest is read next time, from its cursor)."""
    stop = stop or asyncio.Event()
    settings = settings or FeedSettings()
    report = FeedReport()
    cursors = await _cursors(store, connection_id)
    now = clock()
    wanted = [entity for entity in FEED_ENTITIES if entity in set(entities)
              and (not only_due or _due(cursors.get(entity), now, settings.interval))]
    if not wanted:
        return report
    created = await store.fetch_value("SELECT created_at FROM connections WHERE id = ?",
                                      (connection_id,))
    if created is None:
        return report
    since = from_iso(created)
    mappings = await read_mappings(store, connection_id)
    inbound = Inbound(connection_id, platform, title,
                      settings.push_payments_to_other_platforms,
                      {value: key for key, value in mappings.payment_methods.items()})
    for entity in wanted:
        if stop.is_set():
            break
        row = cursors.get(entity)
        try:
            if not hasattr(provider, "read_changes"):
                raise Unsupported(f"syncdesk's {title} client has no change feed")
            await _read_entity(store, inbound, provider, entity,
                               row.cursor if row else None, since, settings, clock, report,
                               stop)
        except (Unsupported, NotImplementedError) as exc:
            why = exc.message if isinstance(exc, SyncError) else str(exc) or "no change feed"
            report.unsupported.append(f"{entity.label}: {why}")
            await _finish(store, connection_id, entity, clock(), now, f"not fed: {why}")
        except RateLimited as exc:
            # The budget is spent: the pushes have it first; the next cycle goes on from here.
            await _finish(store, connection_id, entity, clock(), now, exc.message)
            report.failures.append(f"{entity.label}: {exc.message}")
            break
        except (AuthRevoked, AuthExpired) as exc:
            await _failed(store, connection_id, entity, title, exc.message, clock(), now,
                          revoked=True)
            report.failures.append(f"{entity.label}: {exc.message}")
            break
        except SyncError as exc:
            await _failed(store, connection_id, entity, title, exc.message, clock(), now)
            report.failures.append(f"{entity.label}: {exc.message}")
        except Exception as exc:
            # A bug in reading or applying one entity's page must not stop the others, nor
            # the pushes: it is shown, the page (rolled back) is read again next interval.
            log.exception("feed of %s connection %s: %s", platform, connection_id,
                          entity.value)
            message = f"syncdesk could not read or apply it: {type(exc).__name__}: {exc}"
            await _failed(store, connection_id, entity, title, message, clock(), now)
            report.failures.append(f"{entity.label}: {message}")
    return report


async def _read_entity(store: Store, inbound: Inbound, provider: Provider, entity: Entity,
                       cursor: str | None, since: datetime, settings: FeedSettings,
                       clock: Clock, report: FeedReport, stop: asyncio.Event) -> None:
    started = clock()
    for n in range(settings.pages_per_run):
        if stop.is_set():
            return
        page = await provider.read_changes(entity, cursor, since, limit=settings.page_size)
        last = not page.more or n == settings.pages_per_run - 1
        async with store.write() as db:
            report.applied.add(await apply_changes(db, inbound, page.changes, clock()))
            await _save_cursor(db, inbound.connection_id, entity, page.cursor, clock())
            if last:
                # The read's end in its last page's transaction: one write per entity and
                # cycle when nothing changed, which is most cycles of most connections.
                await _settle(db, inbound.connection_id, entity, clock(), started, None,
                              page.more)
        report.pages += 1
        report.changes += len(page.changes)
        cursor = page.cursor
        if last:
            return


async def _save_cursor(db: AsyncDB, connection_id: int, entity: Entity,
                       cursor: str, now: datetime) -> None:
    await db.execute(
        "INSERT INTO feed_cursors (connection_id, entity, cursor, read_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (connection_id, entity) DO UPDATE SET "
        "cursor = excluded.cursor, read_at = excluded.read_at",
        (connection_id, entity.value, cursor, to_iso(now)))


async def _finish(store: Store, connection_id: int, entity: Entity, now: datetime,
                  started: datetime, error: str | None, *, again: bool = False) -> None:
    """The read is over: its error (or none), and the webhook's mark cleared if this read
    began after it. `again`: pages are left, so the feed is due at once."""
    async with store.write() as db:
        await _settle(db, connection_id, entity, now, started, error, again)


async def _settle(db: AsyncDB, connection_id: int, entity: Entity,
                  now: datetime, started: datetime, error: str | None, again: bool) -> None:
    await db.execute(
        "INSERT INTO feed_cursors (connection_id, entity, read_at, error, due_at) "
        "VALUES (?1, ?2, ?3, ?4, CASE WHEN ?5 THEN ?3 END) "
        "ON CONFLICT (connection_id, entity) DO UPDATE SET read_at = excluded.read_at, "
        "error = excluded.error, due_at = CASE WHEN ?5 THEN ?3 WHEN due_at <= ?6 THEN NULL "
        "ELSE due_at END",
        (connection_id, entity.value, to_iso(now), error, int(again), to_iso(started)))


async def _failed(store: Store, connection_id: int, entity: Entity, title: str, message: str,
                  now: datetime, started: datetime, *, revoked: bool = False) -> None:
    stamp = to_iso(now)
    async with store.write() as db:
        await _settle(db, connection_id, entity, now, started, message, False)
        if revoked:
            await mark_needs_reconnect(db, connection_id,
                                       f"{title}: connection needs reconnecting", message, stamp)
        else:
            await raise_notification(db, connection_id, None, FEED_NOTICE, kind="feed",
                                     title=f"{title}: reading {entity.label} changes failed",
                                     message=message, now=stamp)


def _due(row: _Cursor | None, now: datetime, interval: float) -> bool:
    if row is None or row.read_at is None or row.due_at is not None:
        return True
    return now - row.read_at >= timedelta(seconds=interval)


def _due_in(row: _Cursor | None, now: datetime, interval: float) -> float:
    if row is None or row.read_at is None or _due(row, now, interval):
        return 0.0
    return (row.read_at + timedelta(seconds=interval) - now).total_seconds()


async def _cursors(store: Store, connection_id: int) -> dict[Entity, _Cursor]:
    rows = await store.fetch_all(
        "SELECT entity, cursor, read_at, due_at FROM feed_cursors WHERE connection_id = ?",
        (connection_id,))
    return {Entity(row["entity"]): _Cursor(
        row["cursor"], from_iso(row["read_at"]) if row["read_at"] else None,
        from_iso(row["due_at"]) if row["due_at"] else None) for row in rows}


async def mark_due(store: Store, connection_id: int, entities: Iterable[Entity],
                   now: datetime) -> None:
    """Ask the engine to read these feeds now (the latest ask is kept, so one that comes
    during a read is read again after it)."""
    async with store.write() as db:
        await db.executemany(
            "INSERT INTO feed_cursors (connection_id, entity, due_at) VALUES (?, ?, ?) "
            "ON CONFLICT (connection_id, entity) DO UPDATE SET due_at = excluded.due_at",
            [(connection_id, entity.value, to_iso(now)) for entity in dict.fromkeys(entities)])


_LONGEST_SLEEP = 5.0
"""A feed's longest sleep between two looks at its cursors, however far its next read."""


@dataclass
class FeedRunner:
    """One connection's feed, read beside its worker while the engine runs."""

    store: Store
    connection_id: int
    platform: str
    title: str
    provider: Provider
    entities: frozenset[Entity]
    settings: FeedSettings = field(default_factory=FeedSettings)
    clock: Clock = utcnow
    poll: float = 1.0
    """The wait after a cycle, before the next is considered."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a webhook marked one of its feeds due (the engine's look sees the mark)."""

    async def run(self, ended: asyncio.Event) -> None:
        """Until `ended`: a cycle of what is due, then a sleep until the next entity is due
        (at most `_LONGEST_SLEEP`), cut short by `wake`. What the connection does not sync
        is noted first, so `feed status` says why that feed stays empty."""
        now = self.clock()
        for entity in FEED_ENTITIES:
            if entity not in self.entities:
                await _finish(self.store, self.connection_id, entity, now, now,
                              f"not fed: this {self.title} connection does not sync "
                              f"{entity.label}s")
        while not ended.is_set():
            self.wake.clear()
            try:
                wait = await self._due_in()
                if wait <= 0:
                    await read_feed(self.store, self.connection_id, self.provider,
                                    platform=self.platform, title=self.title,
                                    entities=self.entities, settings=self.settings,
                                    clock=self.clock, only_due=True, stop=ended)
                    wait = self.poll
            except Exception:
                # The store itself failed under the feed (each entity's own failures are
                # told by `read_feed`): the pushes go on, the feed tries again later.
                log.exception("feed of %s connection %s failed", self.platform,
                              self.connection_id)
                wait = self.settings.interval
            waits = {asyncio.ensure_future(ended.wait()),
                     asyncio.ensure_future(self.wake.wait())}
            await asyncio.wait(waits, timeout=min(wait, _LONGEST_SLEEP),
                               return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()

    async def _due_in(self) -> float:
        """Seconds until the first of its entities is due: 0 or less when one is now."""
        cursors = await _cursors(self.store, self.connection_id)
        now = self.clock()
        return min((_due_in(cursors.get(entity), now, self.settings.interval)
                    for entity in FEED_ENTITIES if entity in self.entities),
                   default=self.settings.interval)


@dataclass(frozen=True)
class FeedState:
    """Where one connection's feed of one entity stands (`syncdesk feed status`)."""

    connection_id: int
    platform: str
    entity: Entity
    read_at: datetime | None
    due: bool
    error: str | None


async def feed_states(store: Store) -> list[FeedState]:
    rows = await store.fetch_all(
        "SELECT f.connection_id, c.platform, f.entity, f.read_at, f.due_at, f.error "
        "FROM feed_cursors f JOIN connections c ON c.id = f.connection_id "
        "ORDER BY f.connection_id, f.entity")
    return [FeedState(row["connection_id"], row["platform"], Entity(row["entity"]),
                      from_iso(row["read_at"]) if row["read_at"] else None,
                      row["due_at"] is not None, row["error"]) for row in rows]


# -- webhooks in ----------------------------------------------------------------------------

@dataclass(frozen=True)
class WebhookKey:
    connection_id: int
    platform: str
    tenant_name: str
    hint: str
    updated_at: datetime


_KEYS_KEPT = 16
"""A connection's webhook keys kept at most: FreshBooks' five kinds of callback, registered
again a couple of times over."""


class WebhookKeys:
    """Each connection's key for its platform's incoming webhooks."""

    def __init__(self, store: Store, sealer: Sealer, clock: Clock = utcnow) -> None:
        self.store = store
        self.sealer = sealer
        self.clock = clock

    async def set(self, connection_id: int, key: str, actor: str) -> str:
        """Store the key, replacing every key the connection had; returns the hint shown
        for it."""
        return await self._keep(connection_id, key, actor, beside=False)

    async def add(self, connection_id: int, key: str, actor: str) -> str:
        """Store one more key beside the connection's others: FreshBooks signs each
        callback's events with that callback's own verifier, and a connection has one
        callback per kind of object. The newest `_KEYS_KEPT` stay (a callback registered
        again gets a new verifier)."""
        return await self._keep(connection_id, key, actor, beside=True)

    async def _keep(self, connection_id: int, key: str, actor: str, *, beside: bool) -> str:
        key = key.strip()
        if not key:
            raise ConfigError("a webhook key cannot be empty")
        now = to_iso(self.clock())
        # The others are read in the write's own transaction: FreshBooks verifies a
        # registration's callbacks side by side, and each confirmation adds its key.
        async with self.store.write() as db:
            if not await (await db.execute("SELECT 1 FROM connections WHERE id = ?",
                                           (connection_id,))).fetchone():
                raise ConfigError(f"no connection {connection_id}")
            sealed = await (await db.execute(
                "SELECT sealed FROM webhook_keys WHERE connection_id = ?",
                (connection_id,))).fetchone()
            earlier = [k for k in _unsealed(self.sealer.unseal(sealed[0]))
                       if k != key][-(_KEYS_KEPT - 1):] if beside and sealed else []
            hint = f"{key[:4]}…" if len(key) > 8 else "…"
            if earlier:
                hint += f" and {len(earlier)} more"
            await db.execute(
                "INSERT INTO webhook_keys (connection_id, sealed, hint, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (connection_id) DO UPDATE SET "
                "sealed = excluded.sealed, hint = excluded.hint, updated_at = excluded.updated_at",
                (connection_id, self.sealer.seal({"key": key, "earlier": earlier}), hint, now))
            await db.execute(
                "INSERT INTO audit (at, actor, command, scope, affected) VALUES (?, ?, ?, ?, 1)",
                (now, actor, "hooks_set_key", json.dumps({"connection_id": connection_id})))
        return hint

    async def listed(self) -> list[WebhookKey]:
        rows = await self.store.fetch_all(
            "SELECT k.connection_id, c.platform, c.tenant_name, k.hint, k.updated_at "
            "FROM webhook_keys k JOIN connections c ON c.id = k.connection_id ORDER BY 1")
        return [WebhookKey(row["connection_id"], row["platform"], row["tenant_name"],
                           row["hint"], from_iso(row["updated_at"])) for row in rows]

    async def of_platform(self, platform: str) -> list[tuple[int, str, str]]:
        """(connection id, tenant id, key) of every live connection of the platform."""
        rows = await self.store.fetch_all(
            "SELECT c.id, c.tenant_id, k.sealed FROM connections c JOIN webhook_keys k "
            "ON k.connection_id = c.id WHERE c.platform = ? AND c.state != 'disconnected' "
            "ORDER BY c.id", (platform,))
        return [(int(row["id"]), str(row["tenant_id"]), key) for row in rows
                for key in _unsealed(self.sealer.unseal(row["sealed"]))]


def _unsealed(sealed: Mapping[str, Any]) -> list[str]:
    """Oldest first: the newest is `key` (its hint is the one listed)."""
    return [*map(str, sealed.get("earlier", [])), str(sealed["key"])]


class ConfirmsWebhooks(Protocol):
    """A provider whose platform activates a webhook only when its registration code comes
    back (FreshBooks' `callback.verify`, `WebhookReply.confirm`)."""

    async def confirm_webhook(self, confirm: Mapping[str, str]) -> None:
        """Send the code back; raises a `SyncError` when the platform does not accept it."""
        ...


class HookInbox:
    """The engine side of `POST /v1/hooks/{platform}` (see the module docstring).

    `adjust` changes a connection's settings before its provider is opened for a
    registration handshake (tests hand in an in-process transport)."""

    def __init__(self, store: Store, platforms: Mapping[str, Platform], sealer: Sealer,
                 clock: Clock = utcnow, *, adjust: SettingsHook | None = None) -> None:
        self.store = store
        self.platforms = platforms
        self.sealer = sealer
        self.keys = WebhookKeys(store, sealer, clock)
        self.clock = clock
        self.adjust = adjust

    async def receive(self, platform: str, headers: Mapping[str, str],
                      body: bytes) -> WebhookReply:
        """Verify and mark what the call names due. A registration handshake's reply
        carries `confirm`: the caller answers first, then calls `confirm` with it."""
        found = self.platforms.get(platform)
        receiver = found.webhooks() if found is not None else None
        if found is None or receiver is None:
            return WebhookReply(404, f"no incoming webhooks for {platform!r}".encode())
        keys = await self.keys.of_platform(platform)
        # With no key yet, the receiver still answers what needs none (a handshake).
        reply = WebhookReply(401)
        for key in dict.fromkeys(key for _, _, key in keys) or [""]:
            reply = receiver.receive(headers, body, key)
            if reply.verified:
                await self._mark(keys, key, reply, found.capabilities.entities)
                return reply
            if reply.confirm is not None:
                return reply
        await self._refused(found, {connection for connection, _, _ in keys}, reply)
        return reply

    async def confirm(self, platform: str, confirm: Mapping[str, str]) -> int | None:
        """Hand a registration code to the platform through each of its connections until
        one is accepted; that connection keeps the code beside its other keys. Returns it, or
        None when none accepted (logged: the platform keeps the callback inactive)."""
        found = self.platforms.get(platform)
        if found is None:
            return None
        for connection in await live_connections(self.store):
            if connection.platform != platform:
                continue
            provider = await open_provider(self.store, connection, found, self.sealer,
                                           clock=self.clock, adjust=self.adjust)
            try:
                if not hasattr(provider, "confirm_webhook"):
                    return None
                await cast(ConfirmsWebhooks, provider).confirm_webhook(confirm)
            except SyncError as exc:
                log.info("%s connection %s did not take the webhook code: %s", platform,
                         connection.id, exc.message)
                continue
            finally:
                await provider.aclose()
            await self.keys.add(connection.id, confirm["verifier"], f"webhook:{platform}")
            return connection.id
        log.warning("no %s connection took the webhook registration code", platform)
        return None

    async def _mark(self, keys: Sequence[tuple[int, str, str]], key: str,
                    reply: WebhookReply, fed: frozenset[Entity]) -> None:
        by_tenant = {tenant: connection for connection, tenant, own in keys if own == key}
        due: dict[int, list[Entity]] = {}
        for event in reply.events:
            connection = by_tenant.get(event.tenant_id)
            if connection is None:
                continue
            # A payment applied on the platform shows as a change of its invoice (Xero sends
            # no payment events): an invoice's event reads the payments too.
            named = [event.entity, Entity.PAYMENT] if event.entity is Entity.INVOICE \
                else [event.entity]
            due.setdefault(connection, []).extend(e for e in named if e in fed)
        for connection, entities in due.items():
            await mark_due(self.store, connection, entities, self.clock())

    async def _refused(self, platform: Platform, keyed: set[int],
                       reply: WebhookReply) -> None:
        """Told on every live connection of the platform: one without a key is where the
        calls of a webhook set up before `hooks set-key` land, and its owner must hear of
        it as much as of a wrong key."""
        why = (reply.body.decode(errors="replace")[:200]
               or f"signature missing or wrong (HTTP {reply.status})")
        log.warning("refused a %s webhook: %s", platform.name, why)
        now = to_iso(self.clock())
        connections = [c.id for c in await live_connections(self.store)
                       if c.platform == platform.name]
        async with self.store.write() as db:
            for connection in connections:
                cause = (f"its signature did not verify with this connection's webhook key "
                         f"({why})" if connection in keyed
                         else "no webhook key is set for this connection")
                await raise_notification(
                    db, connection, None, HOOK_NOTICE, kind="webhook_refused",
                    title=f"{platform.title}: an incoming webhook was refused",
                    message=f"{cause}; if {platform.title} sends it, set the key it shows "
                            "with `syncdesk hooks set-key`", now=now)
