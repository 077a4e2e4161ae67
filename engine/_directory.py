"""Customers and items that already live on a platform: pulled, matched, linked or imported.

At setup (and on the weekly full sync) each platform's customers and items are read page by
page. A remote customer whose normalised name and email match a local one is linked to it,
so the first sync updates it instead of creating a twin; one that matches nothing becomes a
new local customer, classified by `classify()`, and is linked to where it came from. Items
match by SKU first, then by normalised name. Remote objects already linked are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import aiosqlite

from ._classify import classify, normalise_name
from ._errors import NotFound
from ._ledger import Ledger
from ._models import Customer, Entity, Item
from ._port import Provider, RemoteCustomer, RemoteItem, RemoteRef
from ._store import Store
from ._sync_state import SyncState, link_synced
from ._time import Clock, to_iso, utcnow


@dataclass
class PullReport:
    customers_linked: int = 0
    customers_imported: int = 0
    items_linked: int = 0
    items_imported: int = 0


class CustomerIndex:
    """Local customers by normalised name; emails decide between namesakes.

    Same name and same email match. Same name where either side has no email matches when
    exactly one local customer has that name: two "Maria Lopez" without emails are not
    guessed at (the platform's one becomes a new local customer instead).
    """

    def __init__(self, rows: list[tuple[str, str, str | None]]) -> None:
        self._by_name: dict[str, list[tuple[str, str]]] = {}
        for record_id, name, email in rows:
            self._by_name.setdefault(normalise_name(name), []).append(
                (record_id, _email(email)))

    def match(self, name: str, email: str | None) -> str | None:
        candidates = self._by_name.get(normalise_name(name), [])
        wanted = _email(email)
        exact = [record_id for record_id, known in candidates if wanted and known == wanted]
        if exact:
            return exact[0]
        loose = [record_id for record_id, known in candidates if not wanted or not known]
        return loose[0] if len(candidates) == 1 and loose else None


def _email(email: str | None) -> str:
    return (email or "").strip().casefold()


async def pull_directory(store: Store, connection_id: int, platform: str, provider: Provider,
                         clock: Clock = utcnow) -> PullReport:
    report = PullReport()
    known = {row["remote_id"] for row in await store.fetch_all(
        "SELECT remote_id FROM sync_links WHERE connection_id = ? AND entity IN "
        "('customer', 'item')", (connection_id,))}
    linked_local = {(row["entity"], row["record_id"]) for row in await store.fetch_all(
        "SELECT entity, record_id FROM sync_links WHERE connection_id = ?", (connection_id,))}
    customers = CustomerIndex([(r["id"], r["display_name"], r["email"]) for r in
                               await store.fetch_all("SELECT id, display_name, email "
                                                     "FROM customers")])
    items_by_sku = {str(r["sku"]).casefold(): r["id"]
                    for r in await store.fetch_all("SELECT id, sku FROM items")}
    items_by_name = {normalise_name(r["name"]): r["id"]
                     for r in await store.fetch_all("SELECT id, name FROM items")}
    imports: list[Customer | Item] = []
    linked: dict[tuple[Entity, str], tuple[int, RemoteRef]] = {}
    now = to_iso(clock())

    async for remote in provider.list_customers():
        if remote.remote_id in known:
            continue
        ref = RemoteRef(remote.remote_id, number=remote.display_name)
        local = customers.match(remote.display_name, remote.email)
        if local is not None and (Entity.CUSTOMER.value, local) not in linked_local:
            await _link(store, connection_id, Entity.CUSTOMER, local, ref, now)
            report.customers_linked += 1
        elif local is None:
            customer = _imported_customer(platform, remote)
            if customer is not None:
                imports.append(customer)
                linked[(Entity.CUSTOMER, customer.id)] = (connection_id, ref)
                report.customers_imported += 1

    async for item in provider.list_items():
        if item.remote_id in known:
            continue
        ref = RemoteRef(item.remote_id, number=item.name)
        local = items_by_sku.get((item.sku or "").casefold()) or items_by_name.get(
            normalise_name(item.name))
        if local is not None and (Entity.ITEM.value, local) not in linked_local:
            await _link(store, connection_id, Entity.ITEM, local, ref, now)
            report.items_linked += 1
        elif local is None:
            new_item = _imported_item(platform, item)
            if new_item is not None:
                imports.append(new_item)
                linked[(Entity.ITEM, new_item.id)] = (connection_id, ref)
                report.items_imported += 1

    if imports:
        await Ledger(store, clock).upsert(imports, partial=True, linked=linked)
    return report


async def _link(store: Store, connection_id: int, entity: Entity, record_id: str,
                ref: RemoteRef, now: str) -> None:
    await store.run_write(lambda db: link_synced(db, connection_id, entity, record_id, ref, now))


def _local_id(platform: str, remote_id: str) -> str:
    return f"{platform}:{remote_id}"[:64]


def _imported_customer(platform: str, remote: RemoteCustomer) -> Customer | None:
    """A platform customer as a local one; None if its data cannot pass our own rules."""
    try:
        return Customer(id=_local_id(platform, remote.remote_id),
                        display_name=remote.display_name.replace(":", " ")[:100],
                        company=remote.company, email=remote.email, phone=remote.phone,
                        classification=classify(remote.display_name, remote.company))
    except ValueError:
        return None


def _imported_item(platform: str, remote: RemoteItem) -> Item | None:
    try:
        return Item(id=_local_id(platform, remote.remote_id),
                    sku=(remote.sku or remote.remote_id)[:30], name=remote.name[:100],
                    unit_price=remote.unit_price or Decimal(0),
                    income_accounts={platform: remote.income_account}
                    if remote.income_account else {})
    except ValueError:
        return None


async def check_links(store: Store, connection_id: int, provider: Provider, title: str,
                      clock: Clock = utcnow) -> int:
    """Compare the links with the live objects the platform lists; mark the deleted ones broken.

    One paged list per linked entity instead of one read per link. A link the list leaves
    out is read once by id before it is called broken: lists skip what a read by id still
    finds (archived contacts, inactive names) and pages can shift under concurrent writes.
    """
    state = SyncState(store)
    by_entity: dict[Entity, list[aiosqlite.Row]] = {}
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
