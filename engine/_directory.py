"""Customers and items that already live on a platform: pulled, matched, linked or imported.

At setup (and on the weekly full sync) each platform's customers and items are read page by
page. Remote objects already linked are left alone. The rest are matched to local records:

Customers (`CustomerIndex`), in this order:
1. The same email (case and spaces aside) as exactly one local customer: that customer.
2. The same normalised name (`normalise_name`) and the same phone (its digits, the last ten)
   as exactly one local customer: that customer.
3. The same normalised name where neither an email nor a phone tells them apart (one side
   has none, or several local customers fit): uncertain. It is not guessed: nothing is linked
   or imported, the pull records it in `directory_doubts` and reports it, and the operator
   decides (`confirm`: link it to a local customer, or import it as a new one).
4. Otherwise (no such name, or every namesake has a different email or phone): a new local
   customer, classified by the ledger and linked to where it came from.

So one customer seen on two platforms is one local customer with a link on each: the second
pull finds the customer the first one imported. Items match by SKU first, then by normalised
name; an item linked this way keeps the platform's own code as its link's number, and every
later push names the linked object (`PushRequest.refs`), never the local SKU.

Local ids of imported records are `<platform>:<remote id>` where that fits the ledger's id
rules (64 characters, plain characters); otherwise `<platform>:#<digest>`, a stable digest
of the whole remote id, so ids long enough to share a 64-character prefix (Wave's) never
collapse into one. The report counts what was written, not what was tried: a record the
ledger refuses is listed in `rejected` with its reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ._businesses import business_of
from ._classify import normalise_name
from ._db import Row, SyncDB
from ._errors import NotFound
from ._ledger import Ledger, describe
from ._models import Customer, Entity, Item
from ._port import Provider, RemoteCustomer, RemoteItem, RemoteRef
from ._store import Store
from ._sync_state import SyncState, link_synced
from ._time import Clock, to_iso, utcnow


@dataclass(frozen=True)
class Doubt:
    """A platform customer that may or may not be a local one: left for a person."""

    remote_id: str
    remote_name: str
    candidates: tuple[str, ...]
    """The local customers it may be."""
    reason: str

    def __str__(self) -> str:
        return (f"{self.remote_name!r} ({self.remote_id}) may be local customer "
                f"{' or '.join(self.candidates)}: {self.reason}")


@dataclass
class PullReport:
    customers_linked: int = 0
    customers_imported: int = 0
    items_linked: int = 0
    items_imported: int = 0
    rejected: list[str] = field(default_factory=list)
    """Remote objects the ledger refused, each with why; none of them was written."""
    doubts: list[Doubt] = field(default_factory=list)
    """Customers not linked nor imported until the operator says which they are."""


@dataclass(frozen=True)
class _Local:
    record_id: str
    email: str
    phone: str


class CustomerIndex:
    """Local customers by email and by normalised name (the rule of the module docstring)."""

    def __init__(self, rows: list[tuple[str, str, str | None, str | None]]) -> None:
        self._by_email: dict[str, list[str]] = {}
        self._by_name: dict[str, list[_Local]] = {}
        for record_id, name, email, phone in rows:
            local = _Local(record_id, _email(email), _phone(phone))
            if local.email:
                self._by_email.setdefault(local.email, []).append(record_id)
            self._by_name.setdefault(normalise_name(name), []).append(local)

    def match(self, remote: RemoteCustomer) -> str | Doubt | None:
        """The local customer's id, a `Doubt`, or None for a new customer."""
        email, phone = _email(remote.email), _phone(remote.phone)
        same_email = self._by_email.get(email, []) if email else []
        if len(same_email) == 1:
            return same_email[0]
        if same_email:
            return self._doubt(remote, same_email, "several local customers have its email")
        namesakes = self._by_name.get(normalise_name(remote.display_name), [])
        confirmed = [c.record_id for c in namesakes if phone and c.phone == phone]
        if len(confirmed) == 1:
            return confirmed[0]
        if confirmed:
            return self._doubt(remote, confirmed, "several local customers have its name "
                                                  "and phone")
        open_ = [c.record_id for c in namesakes
                 if not ((email and c.email and c.email != email)
                         or (phone and c.phone and c.phone != phone))]
        if not open_:
            return None
        return self._doubt(remote, open_, "the same name, and no email or phone to tell "
                                          "whether it is the same customer")

    @staticmethod
    def _doubt(remote: RemoteCustomer, candidates: list[str], reason: str) -> Doubt:
        return Doubt(remote.remote_id, remote.display_name, tuple(candidates), reason)


def _email(email: str | None) -> str:
    return (email or "").strip().casefold()


def _phone(phone: str | None) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())[-10:]


async def pull_directory(store: Store, connection_id: int, platform: str, provider: Provider,
                         clock: Clock = utcnow, *,
                         confirm: Mapping[str, str | None] | None = None) -> PullReport:
    """Read the platform's customers and items; link, import or hold each (see above).

    `confirm` is the operator's word on customers held in doubt, by remote id: the local
    customer's id to link it to, or None to import it as a new customer."""
    confirm = confirm or {}
    report = PullReport()
    # By entity: QuickBooks numbers customers and items apart, so customer 1 is not item 1.
    known = {(Entity(row["entity"]), row["remote_id"]) for row in await store.fetch_all(
        "SELECT entity, remote_id FROM sync_links WHERE connection_id = ? AND entity IN "
        "('customer', 'item')", (connection_id,))}
    linked_local = {(row["entity"], row["record_id"]) for row in await store.fetch_all(
        "SELECT entity, record_id FROM sync_links WHERE connection_id = ?", (connection_id,))}
    business = await business_of(store, connection_id)
    local_customers = await store.fetch_all(
        "SELECT id, display_name, email, json_extract(doc, '$.phone') AS phone FROM customers "
        "WHERE business_id = ?", (business,))
    customers = CustomerIndex([(r["id"], r["display_name"], r["email"], r["phone"])
                               for r in local_customers])
    existing = {(Entity.CUSTOMER, r["id"]) for r in local_customers}
    local_items = await store.fetch_all("SELECT id, sku, name FROM items WHERE business_id = ?",
                                        (business,))
    existing |= {(Entity.ITEM, r["id"]) for r in local_items}
    items_by_sku = {str(r["sku"]).casefold(): r["id"] for r in local_items}
    items_by_name = {normalise_name(r["name"]): r["id"] for r in local_items}
    skus = set(items_by_sku)
    imports: list[Customer | Item] = []
    linked: dict[tuple[Entity, str], tuple[int, RemoteRef]] = {}
    now = to_iso(clock())

    async def link(entity: Entity, local: str, ref: RemoteRef) -> bool:
        if (entity, local) in linked_local:
            return False
        linked_local.add((entity, local))
        await store.run_write(lambda db: link_synced(db, connection_id, entity, local, ref,
                                                     now))
        return True

    async for remote in provider.list_customers():
        if (Entity.CUSTOMER, remote.remote_id) in known:
            continue
        ref = RemoteRef(remote.remote_id, number=remote.display_name)
        local = confirm[remote.remote_id] if remote.remote_id in confirm \
            else customers.match(remote)
        if isinstance(local, Doubt):
            report.doubts.append(local)
        elif local is not None and (Entity.CUSTOMER, local) not in existing:
            report.rejected.append(f"customer {remote.display_name!r} ({remote.remote_id}): "
                                   f"no local customer {local!r} to link it to")
        elif local is not None:
            if await link(Entity.CUSTOMER, local, ref):
                report.customers_linked += 1
            else:
                report.doubts.append(Doubt(remote.remote_id, remote.display_name, (local,),
                                           f"{local} is linked to another {platform} "
                                           "customer already"))
        elif (Entity.CUSTOMER, local_id := _local_id(platform, remote.remote_id)) in existing:
            if await link(Entity.CUSTOMER, local_id, ref):
                report.customers_linked += 1
        else:
            imported = _imported_customer(local_id, remote)
            if isinstance(imported, str):
                report.rejected.append(f"customer {remote.display_name!r} "
                                       f"({remote.remote_id}): {imported}")
            else:
                imports.append(imported)
                linked[(Entity.CUSTOMER, imported.id)] = (connection_id, ref)

    async for item in provider.list_items():
        if (Entity.ITEM, item.remote_id) in known:
            continue
        # The platform's own code, where it has one: what a push names the item by.
        ref = RemoteRef(item.remote_id, number=item.sku or item.name)
        match = items_by_sku.get((item.sku or "").casefold()) or items_by_name.get(
            normalise_name(item.name))
        local_id = match or _local_id(platform, item.remote_id)
        if match is not None or (Entity.ITEM, local_id) in existing:
            if await link(Entity.ITEM, local_id, ref):
                report.items_linked += 1
            continue
        new_item = _imported_item(local_id, platform, item, skus)
        if isinstance(new_item, str):
            report.rejected.append(f"item {item.name!r} ({item.remote_id}): {new_item}")
        else:
            skus.add(new_item.sku.casefold())
            imports.append(new_item)
            linked[(Entity.ITEM, new_item.id)] = (connection_id, ref)

    if imports:
        result = await Ledger(store, clock, business=business).upsert(
            imports, partial=True, linked=linked)
        refused = {rejection.record: rejection.message for rejection in result.rejected}
        written: dict[Entity, set[str]] = {Entity.CUSTOMER: set(), Entity.ITEM: set()}
        for record in imports:
            entity = Entity.CUSTOMER if isinstance(record, Customer) else Entity.ITEM
            why = refused.get(describe(entity, record))
            if why is None:
                written[entity].add(record.id)
            else:
                report.rejected.append(f"{describe(entity, record)}: {why}")
        report.customers_imported = len(written[Entity.CUSTOMER])
        report.items_imported = len(written[Entity.ITEM])
    await store.run_write(lambda db: _record_doubts(db, connection_id, report.doubts, now))
    return report


def _record_doubts(db: SyncDB, connection_id: int, doubts: list[Doubt],
                   now: str) -> None:
    """The connection's doubts as this pull left them: earlier ones it settled are gone."""
    db.execute("DELETE FROM directory_doubts WHERE connection_id = ?", (connection_id,))
    db.executemany(
        "INSERT INTO directory_doubts (connection_id, entity, remote_id, remote_name, "
        "candidates, reason, seen_at) VALUES (?, 'customer', ?, ?, ?, ?, ?)",
        [(connection_id, d.remote_id, d.remote_name, json.dumps(d.candidates), d.reason, now)
         for d in doubts])


_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:/-]+$")
_ID_LENGTH = 64
_SKU_LENGTH = 30


def _digest(remote_id: str, size: int) -> str:
    return hashlib.sha256(remote_id.encode()).hexdigest()[:size]


def _local_id(platform: str, remote_id: str) -> str:
    natural = f"{platform}:{remote_id}"
    if len(natural) <= _ID_LENGTH and _PLAIN_ID.match(remote_id):
        return natural
    # '#' never occurs in a natural id, so a digest id cannot equal one.
    return f"{platform}:#{_digest(remote_id, 32)}"


def _imported_customer(local_id: str, remote: RemoteCustomer) -> Customer | str:
    """A platform customer as a local one, or why its data cannot pass our own rules."""
    try:
        return Customer(id=local_id, display_name=remote.display_name.replace(":", " ")[:100],
                        company=remote.company, email=remote.email, phone=remote.phone)
    except ValueError as exc:
        return _first_error(exc)


def _imported_item(local_id: str, platform: str, remote: RemoteItem,
                   skus: set[str]) -> Item | str:
    """A platform item as a local one, or why not. Its SKU is the platform's where that is
    free and fits; otherwise one made from the remote id (stable, and unique with it)."""
    sku = remote.sku or ""
    if not sku or len(sku) > _SKU_LENGTH or sku.casefold() in skus:
        sku = f"{platform[:4]}-{_digest(remote.remote_id, 16)}"
    try:
        return Item(id=local_id, sku=sku, name=remote.name[:100],
                    unit_price=remote.unit_price or Decimal(0),
                    income_accounts={platform: remote.income_account}
                    if remote.income_account else {})
    except ValueError as exc:
        return _first_error(exc)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors(include_url=False)[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    return str(exc)


async def check_links(store: Store, connection_id: int, provider: Provider, title: str,
                      clock: Clock = utcnow) -> int:
    """Compare the links with the live objects the platform lists; mark the deleted ones broken.

    One paged list per linked entity instead of one read per link. A link the list leaves
    out is read once by id before it is called broken: lists skip what a read by id still
    finds (archived contacts, inactive names) and pages can shift under concurrent writes.
    """
    state = SyncState(store)
    by_entity: dict[Entity, list[Row]] = {}
    for row in await state.synced_links(connection_id):
        by_entity.setdefault(Entity(row["entity"]), []).append(row)
    broken = 0
    for entity, rows in by_entity.items():
        live = {ref.remote_id async for ref in provider.list_remote(entity)}
        for row in rows:
            if live.issuperset(row["remote_id"].split(",")):
                continue
            if await provider.fetch(entity, row["remote_id"]) is not None:
                continue
            label = f"{entity.label} {row['label']}"
            error = NotFound(f"{label} ({row['remote_id']}) no longer exists on {title}")
            await state.mark_broken(row["id"], connection_id, entity, row["record_id"], label,
                                    error, clock())
            broken += 1
    return broken
