"""Webhooks out to the business's own app: a record failing, recovering, a connection needing
reconnect, told to every endpoint the business registered.

Events are raised in the transaction that changes the sync state (`raise_for_notice` from
`raise_notification`, `raise_recovered` from a success), so no code path can forget one and
none is told of a change that rolled back. They are deduplicated per endpoint and subject,
as notifications are per problem: a record that keeps failing is one `record.failed` until it
recovers, and its recovery one `record.recovered`; a connection's lost grant is one
`connection.needs_reconnect` per notification it raised. UNIQUE (endpoint_id, event_key)
makes a second insert of the same event a no-op whatever calls it.

The `Deliverer` runs beside the engine's workers. It POSTs each due delivery as JSON signed
with HMAC-SHA256 (`sign`; receivers check it with `verify`), a 2xx answer delivers it, any
other answer, a timeout or a refused connection is tried again after `WebhookPolicy`'s
back-off until it gives up and marks the delivery failed with the last error. Delivery is at
least once (an engine stopped between the receiver's answer and the store's commit sends it
again): receivers dedupe on the `Syncdesk-Event-Id` header. Events of one subject reach an
endpoint in the order they were raised: a later one waits while an earlier one is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ._businesses import DEFAULT_BUSINESS
from ._db import AsyncDB, Row, SyncDB
from ._errors import ConfigError
from ._models import Entity
from ._secrets import Sealer
from ._store import Store
from ._time import Clock, from_iso, to_iso, utcnow

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("syncdesk.webhooks")

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


class WebhookEvent(StrEnum):
    RECORD_FAILED = "record.failed"
    """A record failed, was skipped (unmapped) or lost its link on a platform."""
    RECORD_RECOVERED = "record.recovered"
    """A record told as failed reached the platform after all."""
    CONNECTION_NEEDS_RECONNECT = "connection.needs_reconnect"
    """The platform revoked the grant: nothing syncs until someone reconnects it."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


_FAILING_NOTICES = frozenset({"failed", "skipped", "broken_link"})
"""Notification kinds of a record that did not reach its platform."""


# -- signing ------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `Syncdesk-Signature` header: `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}`
    keyed with the endpoint's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes | str, signature: str, *,
           tolerance: float | None = 300.0, now: float | None = None) -> bool:
    """For receivers: True if `signature` (the `Syncdesk-Signature` header; several
    comma-separated values are each tried) signs this timestamp and raw body with `secret`,
    and the timestamp is within `tolerance` seconds of `now` (default: the clock), so a
    captured request cannot be replayed later. `tolerance=None` skips the age check."""
    raw = body.encode() if isinstance(body, str) else body
    if tolerance is not None:
        try:
            age = abs((time.time() if now is None else now) - int(timestamp))
        except ValueError:
            return False
        if age > tolerance:
            return False
    expected = sign(secret, timestamp, raw)
    return any(hmac.compare_digest(expected, given.strip()) for given in signature.split(","))


# -- the retry policy ---------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookPolicy:
    """When to try a delivery again: 2^(n-1) seconds after the n-th failed try, capped;
    after `max_attempts` tries, never (the delivery is failed). The defaults spread 16 tries
    over about four hours, long enough for an app to come back from a deploy or an outage."""

    max_attempts: int = 16
    backoff_base: float = 1.0
    backoff_cap: float = 3600.0

    def retry_in(self, attempts: int) -> timedelta | None:
        """After `attempts` failed tries: how long until the next, or None to give up."""
        if attempts >= self.max_attempts:
            return None
        return timedelta(seconds=min(self.backoff_cap,
                                     self.backoff_base * 2 ** min(attempts - 1, 32)))


# -- endpoints and the delivery log -------------------------------------------------------


@dataclass(frozen=True)
class WebhookEndpoint:
    id: int
    url: str
    hint: str
    """The secret's first characters, to tell secrets apart; never enough to sign with."""
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class WebhookDelivery:
    id: int
    endpoint_id: int
    url: str
    event_id: str
    """What the `Syncdesk-Event-Id` header carries, the same on every try."""
    kind: WebhookEvent
    connection_id: int
    entity: Entity | None
    record_id: str | None
    status: DeliveryStatus
    attempts: int
    last_status: int | None
    """The HTTP status of the last answer; None if there was none (a timeout)."""
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None


def event_id(delivery_id: int) -> str:
    return f"evt_{delivery_id}"


def _endpoint(row: Row) -> WebhookEndpoint:
    return WebhookEndpoint(id=row["id"], url=row["url"], hint=row["hint"],
                    created_at=from_iso(row["created_at"]),
                    disabled_at=from_iso(row["disabled_at"]) if row["disabled_at"] else None)


def _delivery(row: Row) -> WebhookDelivery:
    pending = row["status"] == DeliveryStatus.PENDING
    return WebhookDelivery(
        id=row["id"], endpoint_id=row["endpoint_id"], url=row["url"],
        event_id=event_id(row["id"]), kind=WebhookEvent(row["kind"]),
        connection_id=row["connection_id"],
        entity=Entity(row["entity"]) if row["entity"] else None,
        record_id=row["record_id"] or None, status=DeliveryStatus(row["status"]),
        attempts=row["attempts"], last_status=row["last_status"], last_error=row["last_error"],
        created_at=from_iso(row["created_at"]),
        next_attempt_at=from_iso(row["next_attempt_at"]) if pending else None,
        delivered_at=from_iso(row["delivered_at"]) if row["delivered_at"] else None)


class Webhooks:
    """A business's webhook endpoints, and the log of what was delivered to them."""

    def __init__(self, store: Store, clock: Clock = utcnow, *,
                 business: int = DEFAULT_BUSINESS) -> None:
        self.store = store
        self.clock = clock
        self.business = business

    async def add(self, url: str, sealer: Sealer) -> tuple[WebhookEndpoint, str]:
        """A new endpoint: the row, and its signing secret, which nothing shows again."""
        parsed = urlparse(url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"a webhook URL is http(s)://host/path, not {url!r}")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        async with self.store.write() as db:
            row = await (await db.execute(
                "INSERT INTO webhook_endpoints (business_id, url, secret, hint, created_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING *",
                (self.business, url.strip(), sealer.seal({"secret": secret}),
                 secret[:len(SECRET_PREFIX) + 4], to_iso(self.clock())))).fetchone()
            assert row is not None
            await self._audit(db, "webhook_add", {"endpoint": row["id"], "url": url})
        assert row is not None
        return _endpoint(row), secret

    async def endpoints(self) -> list[WebhookEndpoint]:
        """The live endpoints (a removed one only shows in the delivery log)."""
        rows = await self.store.fetch_all(
            "SELECT * FROM webhook_endpoints WHERE business_id = ? AND disabled_at IS NULL "
            "ORDER BY id", (self.business,))
        return [_endpoint(row) for row in rows]

    async def remove(self, endpoint_id: int) -> None:
        """No more events for it, nor tries of those pending; its log stays."""
        async with self.store.write() as db:
            cursor = await db.execute(
                "UPDATE webhook_endpoints SET disabled_at = ? WHERE id = ? AND business_id = ? "
                "AND disabled_at IS NULL", (to_iso(self.clock()), endpoint_id, self.business))
            if not cursor.rowcount:
                raise ConfigError(f"no webhook endpoint {endpoint_id}")
            await self._audit(db, "webhook_remove", {"endpoint": endpoint_id})

    async def deliveries(self, *, failed_only: bool = False, limit: int = 100
                         ) -> list[WebhookDelivery]:
        """The newest deliveries first."""
        where = "AND d.status = 'failed'" if failed_only else ""
        rows = await self.store.fetch_all(
            "SELECT d.*, e.url FROM webhook_deliveries d "
            "JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE e.business_id = ? "
            f"{where} ORDER BY d.id DESC LIMIT ?", (self.business, limit))
        return [_delivery(row) for row in rows]

    async def _audit(self, db: AsyncDB, command: str,
                     scope: dict[str, Any]) -> None:
        await db.execute(
            "INSERT INTO audit (business_id, at, actor, command, scope, affected) "
            "VALUES (?, ?, ?, ?, ?, 1)",
            (self.business, to_iso(self.clock()), "cli", command, json.dumps(scope)))


# -- raising events (inside the sync state's own transaction) -----------------------------

# One delivery per live endpoint whose latest event for the subject is (or is not) of the
# kind given: `?4` compares to it, `?5` says which way. The key names the subject and the
# event it follows (the last part, a number, so a record id holding ':' stays unambiguous),
# so the same raise twice is the same key.
_RAISE = (
    "INSERT INTO webhook_deliveries (endpoint_id, event_key, kind, connection_id, "
    "entity, record_id, payload, next_attempt_at, created_at) "
    "SELECT e.id, ?1 || ':' || ?2 || ':' || ?3 || ':' || ?6 || ':' || COALESCE(last.id, 0), "
    "?1, ?2, ?3, ?6, ?7, ?8, ?8 "
    "FROM webhook_endpoints e LEFT JOIN webhook_deliveries last ON last.id = ("
    "SELECT MAX(d.id) FROM webhook_deliveries d WHERE d.endpoint_id = e.id "
    "AND d.connection_id = ?2 AND d.entity = ?3 AND d.record_id = ?6) "
    "WHERE e.disabled_at IS NULL AND e.business_id = "
    "(SELECT business_id FROM connections WHERE id = ?2) "
    "AND CASE WHEN COALESCE(last.kind, '') = ?4 THEN 1 ELSE 0 END = ?5 "
    "ON CONFLICT DO NOTHING"
)


async def raise_for_notice(db: AsyncDB, connection_id: int, entity: Entity | None,
                           record_id: str | None, *, kind: str, title: str, message: str,
                           now: str, notice_id: int | None) -> None:
    """The event a notification stands for, if the app is told of that kind of problem.
    `notice_id` is the notification's id when it was raised anew, None when an unread one
    already stood for the problem."""
    if kind in _FAILING_NOTICES and entity is not None and record_id is not None:
        payload = _payload(WebhookEvent.RECORD_FAILED,
                           (connection_id, await _platform(db, connection_id)),
                           (entity, record_id, kind), title, message, now)
        # Not after a record.failed: a record that keeps failing is told once.
        await db.execute(_RAISE, (WebhookEvent.RECORD_FAILED.value, connection_id,
                                  entity.value, WebhookEvent.RECORD_FAILED.value, False,
                                  record_id, payload, now))
    elif kind == "auth" and notice_id is not None:
        payload = _payload(WebhookEvent.CONNECTION_NEEDS_RECONNECT,
                           (connection_id, await _platform(db, connection_id)), None, title,
                           message, now)
        await db.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, event_key, kind, "
            "connection_id, payload, next_attempt_at, created_at) "
            "SELECT id, ?1, ?2, ?3, ?4, ?5, ?5 FROM webhook_endpoints WHERE disabled_at IS NULL "
            "AND business_id = (SELECT business_id FROM connections WHERE id = ?3) "
            "ON CONFLICT DO NOTHING",
            (f"{WebhookEvent.CONNECTION_NEEDS_RECONNECT.value}:{notice_id}",
             WebhookEvent.CONNECTION_NEEDS_RECONNECT.value, connection_id, payload, now))


def raise_recovered(db: SyncDB,
                    synced: Iterable[tuple[int, Entity, str]], now: str) -> None:
    """`record.recovered` for each synced (connection, entity, record) whose latest event at
    an endpoint is a `record.failed`. A success is the engine's hot path: with no endpoint
    this is one read of an empty table, with some one statement for the whole batch (in a
    `Store.run_write` transaction, as the success's other writes)."""
    if db.execute("SELECT 1 FROM webhook_endpoints WHERE disabled_at IS NULL "
                  "LIMIT 1").fetchone() is None:
        return
    kind = WebhookEvent.RECORD_RECOVERED
    synced = list(synced)
    platforms = {row[0]: str(row[1]) for row in db.execute(
        "SELECT id, platform FROM connections WHERE id IN "
        f"({', '.join(str(int(c)) for c in {c for c, _, _ in synced})})")}
    db.executemany(_RAISE, [
        (kind.value, connection_id, entity.value, WebhookEvent.RECORD_FAILED.value, True,
         record_id, _payload(kind, (connection_id, platforms.get(connection_id)),
                             (entity, record_id, "synced"),
                             f"{entity.label} {record_id} synced", "", now), now)
        for connection_id, entity, record_id in synced])


async def _platform(db: AsyncDB, connection_id: int) -> str | None:
    async with db.execute("SELECT platform FROM connections WHERE id = ?",
                          (connection_id,)) as cursor:
        row = await cursor.fetchone()
    return str(row[0]) if row else None


def _payload(kind: WebhookEvent, connection: tuple[int, str | None],
             record: tuple[Entity, str, str] | None, title: str, message: str,
             now: str) -> str:
    return json.dumps({
        "type": kind.value, "created_at": now,
        "connection": {"id": connection[0], "platform": connection[1]},
        "record": None if record is None else {"entity": record[0].value, "id": record[1],
                                               "status": record[2]},
        "title": title, "message": message,
    }, separators=(",", ":"))


# -- delivering ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    id: int
    url: str
    kind: str
    payload: str
    attempts: int
    sealed: bytes


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    status: int | None
    error: str | None
    give_up: bool = False


class Deliverer:
    """Sends due deliveries; one per store, beside the engine's workers (the engine's lease
    keeps it the only one)."""

    def __init__(self, store: Store, sealer: Sealer, *, clock: Clock = utcnow,
                 policy: WebhookPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, timeout: float = 10.0,
                 batch: int = 20) -> None:
        self.store = store
        self.sealer = sealer
        self.clock = clock
        self.policy = policy or WebhookPolicy()
        self.transport = transport
        """Tests hand in an `httpx.MockTransport` or an ASGI app's; production, nothing."""
        self.timeout = timeout
        self.batch = batch
        self._client: httpx.AsyncClient | None = None

    async def run(self, stop: asyncio.Event, poll_interval: float) -> None:
        """Deliver until `stop`; a round that finds nothing due waits `poll_interval`. A
        store error is logged and the next round tries again, as the engine's workers do."""
        try:
            while not stop.is_set():
                try:
                    sent = await self.deliver_due()
                except Exception:
                    log.exception("webhook delivery round failed; trying again")
                    sent = 0
                if not sent:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), poll_interval)
        finally:
            await self.aclose()

    async def deliver_due(self) -> int:
        """One round: every due delivery (up to `batch`) tried once, at the same time."""
        now = self.clock()
        rows = await self.store.fetch_all(
            "SELECT d.id, d.kind, d.payload, d.attempts, e.url, e.secret "
            "FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
            "WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND e.disabled_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o "
            "WHERE o.endpoint_id = d.endpoint_id AND o.connection_id = d.connection_id "
            "AND o.entity = d.entity AND o.record_id = d.record_id AND o.id < d.id "
            "AND o.status = 'pending') "
            "ORDER BY d.next_attempt_at, d.id LIMIT ?", (to_iso(now), self.batch))
        due = [_Due(r["id"], r["url"], r["kind"], r["payload"], r["attempts"], r["secret"])
               for r in rows]
        if not due:
            return 0
        outcomes = await asyncio.gather(*(self._send(d) for d in due))
        await self._record(list(zip(due, outcomes, strict=True)))
        return len(due)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _send(self, due: _Due) -> _Outcome:
        try:
            secret = str(self.sealer.unseal(due.sealed)["secret"])
        except ConfigError as error:
            # Signing is impossible with this key; no later try would do better.
            return _Outcome(False, None, str(error), give_up=True)
        body = json.dumps({"id": event_id(due.id), **json.loads(due.payload)},
                          separators=(",", ":")).encode()
        timestamp = str(int(self.clock().timestamp()))
        headers = {"Content-Type": "application/json", "User-Agent": "syncdesk-webhooks",
                   "Syncdesk-Event-Id": event_id(due.id), "Syncdesk-Event": due.kind,
                   "Syncdesk-Timestamp": timestamp,
                   "Syncdesk-Signature": sign(secret, timestamp, body)}
        # httpx is loaded on the first delivery, not with the engine: the console, which
        # imports the engine to paint its first screen, never sends a webhook.
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.transport, timeout=self.timeout)
        try:
            response = await self._client.post(due.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return _Outcome(False, None, f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as error:
            return _Outcome(False, None, f"{type(error).__name__}: {error}")
        if response.is_success:
            return _Outcome(True, response.status_code, None)
        return _Outcome(False, response.status_code,
                        f"HTTP {response.status_code}: {response.text[:200]}".rstrip(": "))

    async def _record(self, tried: list[tuple[_Due, _Outcome]]) -> None:
        now = self.clock()
        stamp = to_iso(now)
        async with self.store.write() as db:
            for due, outcome in tried:
                attempts = due.attempts + 1
                if outcome.delivered:
                    await db.execute(
                        "UPDATE webhook_deliveries SET status = 'delivered', attempts = ?, "
                        "last_status = ?, last_error = NULL, delivered_at = ? WHERE id = ?",
                        (attempts, outcome.status, stamp, due.id))
                    continue
                wait = None if outcome.give_up else self.policy.retry_in(attempts)
                await db.execute(
                    "UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status = ?, "
                    "last_error = ?, next_attempt_at = ? WHERE id = ?",
                    (DeliveryStatus.PENDING.value if wait else DeliveryStatus.FAILED.value,
                     attempts, outcome.status, outcome.error,
                     to_iso(now + wait) if wait else None, due.id))
