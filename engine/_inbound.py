"""The way back: what a platform's changes do to the ledger and to sync state.

`apply_changes` takes one feed page's changes inside the transaction that also stores the
feed's cursor (`_feed`), so a page is applied whole or not at all, and applying it twice
changes nothing the second time. Each change runs under its own savepoint: one the ledger
refuses is rolled back alone and told (a notification naming it), never left to stall the feed.

Rules, by what changed on the platform:

- **A payment recorded there** (no syncdesk mark naming a local payment, no link to one)
  that is applied to invoices syncdesk synced on that connection becomes ONE ledger payment,
  with an allocation per invoice (the local ids of those invoices, through their links) and
  the customer of its first such invoice. Its id comes from (platform, connection, remote id),
  so a re-read finds it again; `origins` says where it came from. It is linked on that
  connection as already synced to that remote object, so it is never pushed back there; on
  the business's other connections its job is skipped, saying why, unless
  `push_payments_elsewhere` (config `[feed] push_payments_to_other_platforms = true`).
  A payment applied only to invoices syncdesk does not know is not the business's concern
  here, and is left alone.
- **The same payment read again** replaces the ledger payment's amount, date and
  allocations: a payment moved between invoices moves its allocations. An allocation to an
  invoice syncdesk does not know is no allocation in the ledger: that part of the payment is
  unapplied there, and told (a notification naming the platform's invoice ids and amounts),
  never dropped silently.
- **A payment of ours** (its mark names a local payment, or a link names it) is not imported:
  an edit of it on the platform is drift, which the audit reports.
- **A customer (contact) edit** of a linked customer: name, email, phone and billing address
  are compared (case, spacing and phone punctuation aside). The later change wins by
  timestamp: the platform's `changed_at` against the local record's last update (a tie
  keeps the ledger's). A platform win updates the local customer (linked there as synced,
  so it is not pushed back; the business's other platforms get it). A ledger win re-queues
  the push to that platform. Either way the losing values are kept in `record_history`
  with the winner's (`syncdesk history customer ID`). A value the platform leaves empty is
  "not said", never a clearing: platforms that do not carry a field would wipe it otherwise.
- **Deleted or voided** there: a payment that came from that platform is deleted (voided)
  in the ledger; anything else linked turns `broken_link` with one notification per object
  (`mark_gone`). The ledger's own documents stay as they are: the business's app owns them.

Everything else (documents' and items' edits) is the drift audit's to compare.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ._businesses import DEFAULT_BUSINESS
from ._db import AsyncDB, Row
from ._directory import _local_id
from ._errors import InputError
from ._ledger import upsert_inbound
from ._models import Address, Customer, Entity, EntryStatus, Payment
from ._notify import raise_notification
from ._port import Change, ChangeKind, RemoteContact, RemotePayment, RemoteRef
from ._schema import TABLE_OF
from ._store import Store
from ._sync_state import mark_gone, requeue, skip_elsewhere, skip_from_elsewhere
from ._time import from_iso, to_iso

_MINE = " AND business_id = (SELECT business_id FROM connections WHERE id = ?)"
"""Narrows a ledger read to the business of the connection given as its parameter."""


@dataclass(frozen=True)
class Inbound:
    """The connection a page of changes came from, and how its payments travel on."""

    connection_id: int
    platform: str
    title: str
    push_payments_elsewhere: bool = False
    methods: Mapping[str, str] = field(default_factory=dict)
    """Platform payment method → the local one (the connection's mappings, reversed)."""


@dataclass
class InboundReport:
    """What a run of the feed did, counted."""

    payments_imported: int = 0
    payments_updated: int = 0
    payments_ended: int = 0
    customers_updated: int = 0
    customers_kept: int = 0
    """Contact edits older than the ledger's: the ledger's values were pushed again."""
    broken: int = 0
    ours: int = 0
    """Changes of syncdesk's own payments: the audit's, not imported."""
    ignored: int = 0
    rejected: list[str] = field(default_factory=list)

    def add(self, other: InboundReport) -> None:
        for name, value in vars(other).items():
            if isinstance(value, list):
                getattr(self, name).extend(value)
            else:
                setattr(self, name, getattr(self, name) + value)


def payment_id(platform: str, connection_id: int, remote_id: str) -> str:
    """The ledger id of a payment recorded on a platform: the same on every re-read."""
    return _local_id(f"{platform}.{connection_id}.payment", remote_id)


async def apply_changes(db: AsyncDB, inbound: Inbound, changes: Sequence[Change],
                        now: datetime) -> InboundReport:
    """Apply one page's changes inside the caller's transaction (see the module docstring)."""
    applied = InboundReport()
    stamp = to_iso(now)
    for change in changes:
        await db.execute("SAVEPOINT change")
        try:
            await _apply(db, inbound, change, stamp, applied)
        except InputError as refused:
            await db.execute("ROLLBACK TO change")
            await _refused(db, inbound, change, str(refused), stamp)
            applied.rejected.append(f"{change.entity.label} {change.remote_id}: {refused}")
        await db.execute("RELEASE change")
    return applied


async def _apply(db: AsyncDB, inbound: Inbound, change: Change, now: str,
                 applied: InboundReport) -> None:
    if change.kind in (ChangeKind.DELETED, ChangeKind.VOIDED):
        await _gone(db, inbound, change, now, applied)
    elif change.entity is Entity.PAYMENT and change.payment is not None:
        await _payment(db, inbound, change.payment, now, applied)
    elif change.entity is Entity.CUSTOMER and change.contact is not None:
        await _contact(db, inbound, change, now, applied)
    else:
        applied.ignored += 1


# -- payments ------------------------------------------------------------------------------

async def _payment(db: AsyncDB, inbound: Inbound, remote: RemotePayment,
                   now: str, applied: InboundReport) -> None:
    imported = await _origin(db, inbound.connection_id, Entity.PAYMENT, remote.remote_id)
    if imported is None and await _ours(db, inbound.connection_id, remote):
        applied.ours += 1
        return
    known: dict[str, Decimal] = {}
    unknown: list[str] = []
    for allocation in remote.allocations:
        invoice = await _linked(db, inbound.connection_id, Entity.INVOICE,
                                allocation.invoice_remote_id)
        if invoice is None:
            unknown.append(f"{allocation.invoice_remote_id} ({allocation.amount})")
        else:
            known[invoice[0]] = known.get(invoice[0], Decimal(0)) + allocation.amount
    existing = await _payment_doc(db, imported, inbound.connection_id) if imported else None
    if not known and existing is None:
        applied.ignored += 1
        return
    record_id = imported or payment_id(inbound.platform, inbound.connection_id,
                                       remote.remote_id)
    before = existing or {}
    # Its customer and currency are its first known invoice's; a payment moved off every
    # invoice syncdesk knows keeps what it had (all of it unapplied now).
    first = await _invoice(db, next(iter(known)), inbound.connection_id) if known else None
    customer, currency = first or (before["customer_id"], before["currency"])
    payment = _checked(Payment, f"payment {remote.reference or remote.remote_id}", {
        "id": record_id, "customer_id": customer, "date": remote.date.isoformat(),
        "amount": str(remote.amount), "currency": remote.currency or currency,
        "method": inbound.methods.get(remote.method or "") or before.get("method", "other"),
        "reference": remote.reference or before.get("reference"),
        "status": EntryStatus.ACTIVE.value,
        "allocations": [{"invoice_id": i, "amount": str(a)} for i, a in known.items()]})
    result = await _write(db, inbound, payment, RemoteRef(remote.remote_id), now)
    if imported is None:
        await db.execute(
            "INSERT INTO origins (entity, record_id, connection_id, remote_id, created_at) "
            "VALUES ('payment', ?, ?, ?, ?)",
            (record_id, inbound.connection_id, remote.remote_id, now))
        applied.payments_imported += 1
    elif result:
        applied.payments_updated += 1
    if unknown:
        await raise_notification(
            db, inbound.connection_id, Entity.PAYMENT, record_id, kind="feed_unmatched",
            title=f"payment {payment.reference or record_id} on {inbound.title} is applied "
                  "to invoices syncdesk does not know",
            message=f"{inbound.title} applies it to invoice(s) {', '.join(unknown)}, which "
                    "syncdesk did not sync: the ledger keeps that part of the payment "
                    "unapplied (`syncdesk audit` shows it as the payment's balance)",
            now=now)


async def _ours(db: AsyncDB, connection_id: int, remote: RemotePayment) -> bool:
    """syncdesk's own payment: its mark names a local payment, or a link names the object."""
    if remote.mark and await _value(db, "SELECT 1 FROM payments WHERE id = ?" + _MINE,
                                    (remote.mark, connection_id)):
        return True
    return await _linked(db, connection_id, Entity.PAYMENT, remote.remote_id) is not None


async def _write(db: AsyncDB, inbound: Inbound, payment: Payment,
                 ref: RemoteRef, now: str) -> bool:
    """Write a payment that came from this connection: synced there, skipped elsewhere
    unless configured. True when the ledger changed."""
    result = await upsert_inbound(db, [payment], now, linked={
        (Entity.PAYMENT, payment.id): (inbound.connection_id, ref)})
    if not inbound.push_payments_elsewhere:
        await skip_elsewhere(db, inbound.connection_id, Entity.PAYMENT, payment.id,
                             f"recorded on {inbound.title}: {NOT_ELSEWHERE}", now)
    return bool(result.created or result.updated)


NOT_ELSEWHERE = ("payments made on one platform are not sent to the others unless [feed] "
                 "push_payments_to_other_platforms = true (a retry sends it)")


async def hold_imported(store: Store, now: datetime, *connection_ids: int) -> int:
    """Before these connections' workers start: payments that came from another platform
    are skipped here too (a connection added or reconnected since had them queued). Returns
    how many."""
    async with store.write() as db:
        return await skip_from_elsewhere(db, connection_ids,
                                         f"recorded on another platform: {NOT_ELSEWHERE}",
                                         to_iso(now))


# -- customers -----------------------------------------------------------------------------

_CONTACT_FIELDS = ("display_name", "email", "phone", "billing_address")


async def _contact(db: AsyncDB, inbound: Inbound, change: Change, now: str,
                   applied: InboundReport) -> None:
    assert change.contact is not None
    linked = await _linked(db, inbound.connection_id, Entity.CUSTOMER, change.remote_id)
    if linked is None:
        applied.ignored += 1
        return
    record_id = linked[0]
    row = await _row(db, "SELECT doc, updated_at FROM customers WHERE id = ?" + _MINE,
                     (record_id, inbound.connection_id))
    if row is None:
        applied.ignored += 1
        return
    customer = Customer.model_validate_json(row["doc"])
    local = customer.model_dump(by_alias=True, mode="json")
    said = _said(change.contact, customer.billing_address)
    seen = await _value(db, "SELECT said FROM contacts_seen WHERE connection_id = ? AND "
                        "remote_id = ?", (inbound.connection_id, change.remote_id))
    before = json.loads(seen) if seen else None
    compared = {name: _compared(name, value) for name, value in said.items()}
    await db.execute(
        "INSERT INTO contacts_seen (connection_id, remote_id, said) VALUES (?, ?, ?) "
        "ON CONFLICT (connection_id, remote_id) DO UPDATE SET said = excluded.said",
        (inbound.connection_id, change.remote_id, json.dumps(compared)))
    # An edit is what differs from the ledger AND (once the feed has read the contact)
    # from what the platform held before: its echo of syncdesk's own push is no edit.
    changed = {name: value for name, value in said.items()
               if compared[name] != _compared(name, local.get(name))
               and (before is None or before.get(name) != compared[name])}
    if not changed:
        return
    ledger_at = from_iso(row["updated_at"])
    platform_wins = change.changed_at > ledger_at
    await db.execute(
        "INSERT INTO record_history (entity, record_id, connection_id, at, winner, "
        "platform_at, ledger_at, changes) VALUES ('customer', ?, ?, ?, ?, ?, ?, ?)",
        (record_id, inbound.connection_id, now, "platform" if platform_wins else "ledger",
         to_iso(change.changed_at), row["updated_at"], json.dumps(
             {name: {"platform": value, "ledger": local.get(name)}
              for name, value in changed.items()})))
    if platform_wins:
        updated = _checked(Customer, f"customer {customer.display_name}",
                           {**local, **changed})
        # The link keeps its version token: the edit moved it on the platform, and a later
        # push re-reads it (Stale) rather than send a token syncdesk never saw.
        ref = RemoteRef(change.remote_id, linked[1], updated.display_name)
        await upsert_inbound(db, [updated], now,
                             linked={(Entity.CUSTOMER, record_id): (inbound.connection_id, ref)})
        applied.customers_updated += 1
    else:
        await requeue(db, "j.connection_id = ? AND j.entity = 'customer' AND j.record_id = ?",
                      [inbound.connection_id, record_id], now)
        applied.customers_kept += 1


def _said(contact: RemoteContact, address: Address | None) -> dict[str, Any]:
    """What the platform's contact says, field by field; empty means not said. An address
    the platform holds only in part keeps the ledger's other parts."""
    said: dict[str, Any] = {"display_name": contact.display_name, "email": contact.email,
                            "phone": contact.phone}
    lines = [line for line in contact.address_lines if line.strip()]
    parts = {"line1": lines[0] if lines else "", "line2": ", ".join(lines[1:]),
             "city": contact.city or "", "region": contact.region or "",
             "postal_code": contact.postal_code or "", "country": contact.country or ""}
    if any(parts.values()):
        kept = address.model_dump() if address else {}
        said["billing_address"] = {name: value or kept.get(name, "")
                                   for name, value in parts.items()}
    return {name: value for name, value in said.items() if value}


_SPACES = re.compile(r"\s+")


def _compared(name: str, value: Any) -> Any:
    """A field's value as the comparison sees it (and `contacts_seen` keeps it): what
    platforms reformat is set aside — case, spacing, a phone's punctuation."""
    if value is None:
        return None
    if name == "phone":
        # The last ten digits: a country prefix one platform adds is no edit.
        return "".join(ch for ch in str(value) if ch.isdigit())[-10:]
    if isinstance(value, dict):
        return sorted([k, _compared(k, v)] for k, v in value.items() if v)
    return _SPACES.sub(" ", str(value)).strip().casefold()


# -- deletions and voids -------------------------------------------------------------------

async def _gone(db: AsyncDB, inbound: Inbound, change: Change, now: str,
                applied: InboundReport) -> None:
    done = "voided" if change.kind is ChangeKind.VOIDED else "deleted"
    if change.entity in (Entity.CUSTOMER, Entity.ITEM) and change.kind is ChangeKind.DELETED:
        # A platform's deletion of a contact or an item is often a way of keeping it: Xero
        # archives, QuickBooks makes inactive; a person told "deleted" would not look there.
        done = "deleted, archived or made inactive"
    imported = (await _origin(db, inbound.connection_id, Entity.PAYMENT, change.remote_id)
                if change.entity is Entity.PAYMENT else None)
    if imported is not None:
        existing = await _payment_doc(db, imported, inbound.connection_id)
        if existing is not None and existing.get("status") == EntryStatus.ACTIVE.value:
            status = EntryStatus.VOID if change.kind is ChangeKind.VOIDED \
                else EntryStatus.DELETED
            payment = _checked(Payment, f"payment {imported}", {**existing,
                                                                "status": status.value})
            await _write(db, inbound, payment, RemoteRef(change.remote_id), now)
            applied.payments_ended += 1
        return
    linked = await _linked(db, inbound.connection_id, change.entity, change.remote_id)
    if linked is None or await _ended_here(db, change.entity, linked[0], inbound.connection_id):
        # Not ours, or the echo of the void or delete syncdesk itself sent.
        applied.ignored += 1
        return
    label = f"{change.entity.label} {linked[2]}"
    if await mark_gone(db, inbound.connection_id, change.entity, linked[0],
                       f"{label} broken link",
                       f"{label} ({change.remote_id}) was {done} on {inbound.title}", now):
        applied.broken += 1


# -- reads inside the page's transaction ---------------------------------------------------

async def _row(db: AsyncDB, sql: str, params: Sequence[Any]
               ) -> Row | None:
    # One hand-off to the writer's thread, not three (execute, fetch, close): a page's
    # changes are applied while it holds the store's write lock.
    rows = list(await db.execute_fetchall(sql, params))
    return rows[0] if rows else None


async def _value(db: AsyncDB, sql: str, params: Sequence[Any]) -> Any:
    row = await _row(db, sql, params)
    return None if row is None else row[0]


async def _linked(db: AsyncDB, connection_id: int, entity: Entity,
                  remote_id: str) -> tuple[str, str | None, str] | None:
    """The local record linked to this remote object: (record id, version token, label)."""
    select = ("SELECT l.record_id, l.remote_version, COALESCE(j.label, l.record_id) "
              "FROM sync_links l LEFT JOIN sync_jobs j ON j.connection_id = l.connection_id "
              "AND j.entity = l.entity AND j.record_id = l.record_id "
              "WHERE l.connection_id = ? AND l.entity = ? AND ")
    row = await _row(db, select + "l.remote_id = ?", (connection_id, entity.value, remote_id))
    if row is None and entity is Entity.PAYMENT:
        # One local payment split over several platform payments links them all, joined.
        row = await _row(db, select + "l.remote_id LIKE '%,%' AND instr(',' || l.remote_id "
                         "|| ',', ',' || ? || ',') > 0", (connection_id, entity.value,
                                                          remote_id))
    return None if row is None else (str(row[0]), row[1], str(row[2]))


async def _origin(db: AsyncDB, connection_id: int, entity: Entity,
                  remote_id: str) -> str | None:
    value = await _value(db, "SELECT record_id FROM origins WHERE connection_id = ? AND "
                         "entity = ? AND remote_id = ?", (connection_id, entity.value,
                                                          remote_id))
    return None if value is None else str(value)


async def _payment_doc(db: AsyncDB, record_id: str, connection_id: int
                       ) -> dict[str, Any] | None:
    doc = await _value(db, "SELECT doc FROM payments WHERE id = ?" + _MINE,
                       (record_id, connection_id))
    return None if doc is None else dict(json.loads(doc))


async def _ended_here(db: AsyncDB, entity: Entity, record_id: str,
                      connection_id: int) -> bool:
    """The ledger itself voided or deleted the record (or never had it)."""
    if entity is Entity.INVOICE:
        status = await _value(db, "SELECT status FROM invoices WHERE id = ?" + _MINE,
                              (record_id, connection_id))
        return status in (None, "void")
    if entity in (Entity.PAYMENT, Entity.CREDIT_NOTE):
        status = await _value(db, f"SELECT json_extract(doc, '$.status') FROM "
                              f"{TABLE_OF[entity]} WHERE id = ?" + _MINE,
                              (record_id, connection_id))
        return status in (None, EntryStatus.VOID.value, EntryStatus.DELETED.value)
    return False


async def _invoice(db: AsyncDB, record_id: str, connection_id: int
                   ) -> tuple[str, str] | None:
    row = await _row(db, "SELECT customer_id, currency FROM invoices WHERE id = ?" + _MINE,
                     (record_id, connection_id))
    return None if row is None else (str(row[0]), str(row[1]))


def _checked(model: type[Payment] | type[Customer], what: str,
             data: Mapping[str, Any]) -> Any:
    """The model, or the ledger's kind of refusal: a rule of ours the platform's data breaks."""
    try:
        return model.model_validate(dict(data))
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        first = errors(include_url=False)[0] if callable(errors) else None
        where = ".".join(map(str, first["loc"])) if first else ""
        raise InputError(f"{what}: {where + ': ' if where else ''}"
                         f"{first['msg'] if first else exc}") from None


async def _refused(db: AsyncDB, inbound: Inbound, change: Change, why: str,
                   now: str) -> None:
    record_id = (payment_id(inbound.platform, inbound.connection_id, change.remote_id)
                 if change.entity is Entity.PAYMENT else None)
    if change.entity is Entity.CUSTOMER:
        linked = await _linked(db, inbound.connection_id, Entity.CUSTOMER, change.remote_id)
        record_id = linked[0] if linked else None
    await raise_notification(
        db, inbound.connection_id, change.entity, record_id or change.remote_id,
        kind="feed_rejected",
        title=f"{change.entity.label} {change.remote_id} from {inbound.title} not taken in",
        message=f"the ledger refused what {inbound.title} holds: {why}", now=now)


@dataclass(frozen=True)
class HistoryEntry:
    """One contact edit that met a different ledger value: who won, and both values."""

    at: datetime
    connection_id: int
    platform: str
    winner: str
    """'platform' (its later edit was taken) or 'ledger' (kept, and pushed again)."""
    platform_at: datetime
    ledger_at: datetime
    changes: Mapping[str, Mapping[str, Any]]
    """Field → {"platform": its value, "ledger": the ledger's} at the time."""


async def record_history(store: Store, entity: Entity, record_id: str,
                         business: int = DEFAULT_BUSINESS) -> list[HistoryEntry]:
    """The record's history in one business (its connections')."""
    rows = await store.fetch_all(
        "SELECT h.*, c.platform FROM record_history h JOIN connections c "
        "ON c.id = h.connection_id WHERE h.entity = ? AND h.record_id = ? AND "
        "c.business_id = ? ORDER BY h.id", (entity.value, record_id, business))
    return [HistoryEntry(from_iso(row["at"]), row["connection_id"], row["platform"],
                         row["winner"], from_iso(row["platform_at"]),
                         from_iso(row["ledger_at"]), json.loads(row["changes"]))
            for row in rows]
