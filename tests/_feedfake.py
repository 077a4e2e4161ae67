"""A platform that lives in memory, for the way back's engine tests (feed, inbound, hooks).

Pushes are kept and answered with `R-<local id>`; the change feed is a list per entity that a
test appends to as a person on the platform would act, read in pages whose cursor is the
position reached. Every read goes through the connection's budget (`settings.budget`), as a
real provider's requests do, and is counted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from engine import (
    Capabilities,
    Change,
    ChangeKind,
    ChangePage,
    ConnectionSettings,
    Customer,
    EngineSettings,
    Entity,
    Grant,
    Invoice,
    Item,
    Ledger,
    Limits,
    NewConnection,
    Operation,
    PlatformEvent,
    PushRequest,
    Quota,
    Record,
    RemoteAccount,
    RemoteAllocation,
    RemoteContact,
    RemoteCustomer,
    RemoteItem,
    RemoteOption,
    RemotePayment,
    RemoteRef,
    RemoteState,
    RemoteTaxCode,
    Sealer,
    Store,
    SyncEngine,
    SyncError,
    TokenSet,
    TokenSource,
    WebhookReply,
    WorkerSettings,
    add_connection,
)

SIGNATURE = "x-fake-signature"
T0 = datetime(2026, 9, 1, tzinfo=UTC)


def sign(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


class FakeReceiver:
    """Signed JSON: {"events": [{"tenant", "entity", "id"}]}; `{"verify": code}` is a
    registration handshake that needs no signature (FreshBooks' shape)."""

    def receive(self, headers: Mapping[str, str], body: bytes, secret: str) -> WebhookReply:
        given = headers.get(SIGNATURE, "")
        if json.loads(body or b"{}").get("verify"):
            return WebhookReply(200, b"OK", confirm={"callback_id": "cb-1",
                                                     "verifier": json.loads(body)["verify"]})
        if not secret or not hmac.compare_digest(given, sign(secret, body)):
            return WebhookReply(401, b"refused: signature does not match")
        events = tuple(PlatformEvent(e["tenant"], Entity(e["entity"]), e["id"])
                       for e in json.loads(body)["events"])
        return WebhookReply(200, events=events, verified=True)


@dataclass
class FakeProvider:
    budget: Any = None
    changes: dict[Entity, list[Change]] = field(default_factory=dict)
    pushed: list[PushRequest] = field(default_factory=list)
    reads: list[tuple[Entity, str | None, datetime]] = field(default_factory=list)
    failing: dict[Entity, Exception] = field(default_factory=dict)
    confirmed: list[Mapping[str, str]] = field(default_factory=list)
    accepts: str | None = None
    """The registration code this platform accepts back (None: any)."""

    async def push(self, request: PushRequest) -> RemoteRef:
        self.pushed.append(request)
        return RemoteRef(f"R-{request.record.id}", "0")

    async def push_batch(self, requests: Sequence[PushRequest]) -> Sequence[RemoteRef]:
        return [await self.push(request) for request in requests]

    async def find(self, entity: Entity, record: Record) -> RemoteRef | None:
        return None

    async def fetch(self, entity: Entity, remote_id: str) -> RemoteRef | None:
        return RemoteRef(remote_id)

    async def list_remote(self, entity: Entity) -> AsyncIterator[RemoteRef]:
        for _ in ():
            yield RemoteRef("")

    async def list_customers(self) -> AsyncIterator[RemoteCustomer]:
        for _ in ():
            yield RemoteCustomer("", "")

    async def list_items(self) -> AsyncIterator[RemoteItem]:
        for _ in ():
            yield RemoteItem("", "")

    async def list_accounts(self) -> AsyncIterator[RemoteAccount]:
        for _ in ():
            yield RemoteAccount("", "", "")

    async def list_tax_codes(self) -> AsyncIterator[RemoteTaxCode]:
        for _ in ():
            yield RemoteTaxCode("", "")

    async def list_payment_methods(self) -> AsyncIterator[RemoteOption]:
        for _ in ():
            yield RemoteOption("", "")

    async def list_classes(self) -> AsyncIterator[RemoteOption]:
        for _ in ():
            yield RemoteOption("", "")

    async def list_locations(self) -> AsyncIterator[RemoteOption]:
        for _ in ():
            yield RemoteOption("", "")

    async def read_changes(self, entity: Entity, cursor: str | None, since: datetime, *,
                           limit: int = 1000) -> ChangePage:
        if self.budget is not None:
            async with self.budget.slot():
                pass
        self.reads.append((entity, cursor, since))
        if entity in self.failing:
            raise self.failing[entity]
        log = self.changes.get(entity, [])
        start = int(cursor or 0)
        chunk = log[start:start + limit]
        end = start + len(chunk)
        return ChangePage(chunk, str(end), more=end < len(log))

    async def list_states(self, entity: Entity) -> AsyncIterator[RemoteState]:
        for _ in ():
            yield RemoteState("", Decimal(0))

    async def confirm_webhook(self, confirm: Mapping[str, str]) -> None:
        if self.accepts is not None and confirm["verifier"] != self.accepts:
            raise SyncError("that code is not this account's")
        self.confirmed.append(confirm)

    def quota(self) -> Quota | None:
        return None

    async def aclose(self) -> None:
        pass

    # -- what a person does on the platform ----------------------------------------------

    def record(self, entity: Entity, change: Change) -> None:
        self.changes.setdefault(entity, []).append(change)

    def paid(self, remote_id: str, amount: str, *allocations: tuple[str, str],
             mark: str | None = None, at: datetime = T0) -> None:
        self.record(Entity.PAYMENT, Change(
            Entity.PAYMENT, remote_id, ChangeKind.UPSERTED, at, payment=RemotePayment(
                remote_id, "R-C-1", date(2026, 9, 5), Decimal(amount), reference=remote_id,
                mark=mark, allocations=tuple(RemoteAllocation(i, Decimal(a))
                                             for i, a in allocations))))

    def gone(self, entity: Entity, remote_id: str, kind: ChangeKind = ChangeKind.DELETED,
             at: datetime = T0) -> None:
        self.record(entity, Change(entity, remote_id, kind, at))

    def contact(self, remote_id: str, at: datetime, **fields: Any) -> None:
        self.record(Entity.CUSTOMER, Change(Entity.CUSTOMER, remote_id, ChangeKind.UPSERTED,
                                            at, contact=RemoteContact(remote_id, **fields)))


class _OAuth:
    def authorization_url(self, redirect_uri: str, state: str) -> str:
        return ""

    async def exchange_code(self, redirect_url: str, redirect_uri: str) -> Grant:
        raise NotImplementedError

    async def refresh(self, refresh_token: str, *, after_lost_answer: bool = False
                      ) -> TokenSet:
        return _tokens()

    async def revoke(self, token: str) -> None:
        pass


def _tokens() -> TokenSet:
    return TokenSet("access", "refresh", datetime.now(UTC) + timedelta(days=1))


@dataclass
class FakePlatform:
    """One provider per tenant, kept, so a test acts on the platform the engine reads."""

    name: str = "fake"
    title: str = "Fake"
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(
        operations={entity: frozenset(Operation) for entity in Entity},
        limits=Limits(per_minute=10_000, concurrency=2), idempotency_keys=True))
    providers: dict[str, FakeProvider] = field(default_factory=dict)
    receiver: FakeReceiver | None = field(default_factory=FakeReceiver)

    def oauth(self, settings: ConnectionSettings) -> _OAuth:
        return _OAuth()

    def provider(self, settings: ConnectionSettings, tokens: TokenSource) -> FakeProvider:
        provider = self.providers.setdefault(settings.tenant_id, FakeProvider())
        provider.budget = settings.budget
        return provider

    def webhooks(self) -> FakeReceiver | None:
        return self.receiver

    async def connect(self, store: Store, sealer: Sealer, tenant: str) -> int:
        self.providers.setdefault(tenant, FakeProvider())
        return await add_connection(store, NewConnection(
            platform=self.name, tenant_id=tenant, tenant_name=f"Tenant {tenant}",
            tokens=_tokens()), sealer, clock=lambda: T0)


MARIA = Customer(id="C-1", display_name="Maria Lopez", email="maria@example.com",
                 phone="555-0100")
TILE = Item(id="TILE", sku="TILE", name="Tile", unit_price=Decimal("10"))


def invoice(number: str, total: str = "100", customer: str = "C-1") -> Invoice:
    return Invoice.model_validate({
        "id": number, "number": number, "customer_id": customer, "issue_date": "2026-09-01",
        "status": "sent", "lines": [{"item_id": "TILE", "quantity": "1", "unit_price": total}]})


def engine_for(store: Store, platform: FakePlatform, sealer: Sealer,
               **settings: Any) -> SyncEngine:
    worker = WorkerSettings(throttle=False, backoff_base=0.01, backoff_cap=0.05,
                            dependency_wait=0.0, seed=1)
    return SyncEngine(store, {platform.name: platform}, sealer,  # type: ignore[dict-item]
                      settings=EngineSettings(worker=worker, poll_interval=0.01, **settings))


async def synced(store: Store, sealer: Sealer, *tenants: str,
                 records: Sequence[Record] = ()) -> tuple[FakePlatform, dict[str, int]]:
    """Tenants connected, and the records (Maria, tile, INV-1 and INV-2 by default) pushed
    to each: the state a platform's change comes back to."""
    platform = FakePlatform()
    connections = {tenant: await platform.connect(store, sealer, tenant)
                   for tenant in tenants or ("A",)}
    await Ledger(store).upsert(list(records) or [MARIA, TILE, invoice("INV-1"),
                                                 invoice("INV-2"), invoice("INV-3")])
    await engine_for(store, platform, sealer).run(until_idle=True)
    return platform, connections


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait on the store's state (each look is a read), never on a fixed time."""
    for _ in range(2000):
        if await check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")
