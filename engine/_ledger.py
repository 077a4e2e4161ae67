"""The ledger: the business's records, and the outbox that queues them for each platform.

Every write goes through `Ledger.upsert()`, one transaction for the whole batch. In that same
transaction each changed record queues a sync job for every connection (the outbox), so a
record can never be saved without its jobs, nor a job exist for a record that was rolled back.
Jobs coalesce on (connection, entity, record): a second change while a job is pending only
bumps the version the job will push.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ._businesses import DEFAULT_BUSINESS
from ._classify import classify
from ._db import AsyncDB, IntegrityError, Row, SyncCursor, SyncDB, run_sync
from ._errors import InputError
from ._models import (
    MODEL_OF,
    CreditNote,
    Customer,
    Entity,
    EntryStatus,
    Invoice,
    InvoiceStatus,
    Item,
    Payment,
)
from ._money import from_minor, to_minor
from ._port import Record, RemoteRef
from ._schema import TABLE_OF
from ._store import Store
from ._sync_state import link_synced, queue_jobs
from ._time import Clock, to_iso, utcnow

ENTITY_OF: dict[type, Entity] = {model: entity for entity, model in MODEL_OF.items()}



def entity_of(record: Record) -> Entity:
    return ENTITY_OF[type(record)]


def table_of(entity: Entity) -> str:
    return TABLE_OF[entity]


@dataclass(frozen=True)
class Rejection:
    record: str
    """Which record, e.g. "invoice INV-1001"."""
    message: str

    def __str__(self) -> str:
        return f"{self.record}: {self.message}"


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    jobs_queued: int = 0
    rejected: list[Rejection] = field(default_factory=list)


@dataclass
class Lifecycle:
    """What a void or delete did."""

    changed: list[str] = field(default_factory=list)
    """The records it changed, named as messages name them, in the order it changed them."""
    unapplied: list[Applied] = field(default_factory=list)
    removed: bool = False
    """A draft that never left syncdesk, removed outright."""
    jobs_queued: int = 0


@dataclass(frozen=True)
class Balance:
    currency: str
    total: Decimal
    paid: Decimal
    credited: Decimal

    @property
    def due(self) -> Decimal:
        return self.total - self.paid - self.credited


class _Rejected(Exception):
    pass


def describe(entity: Entity, record: Record) -> str:
    """How a record is named in messages: "invoice INV-1001", "customer C-0118"."""
    number = getattr(record, "number", None)
    return f"{entity.label} {number or record.id}"


class Ledger:
    """One business's records (business 1, the only one of a store that never added
    another, unless told): every read and write stays inside that business."""

    def __init__(self, store: Store, clock: Clock = utcnow, *, business: int = 1) -> None:
        self.store = store
        self.clock = clock
        self.business = business

    async def upsert(self, records: Sequence[Record], *, partial: bool = False,
                     linked: Mapping[tuple[Entity, str], tuple[int, RemoteRef]] | None = None,
                     actor: str | None = None) -> UpsertResult:
        """Insert or update records (keyed by their own id), queueing their sync jobs.

        With `partial` False, any rejected record rolls the whole batch back and raises
        `InputError` listing every rejection. With `partial` True the good records are kept
        and the rejected ones are returned. `linked` names records that already exist on a
        connection (pulled from the platform): they are linked there and marked synced in
        the same transaction, so no worker can push them back as new. With `actor`, a
        change is in the audit log under that name, in the same transaction.
        """
        now = to_iso(self.clock())
        return await self.store.run_write(
            lambda db: _upsert_all(_Books(db, self.business), records, now, partial=partial,
                                   linked=linked or {}, actor=actor))

    async def upsert_each(self, batches: Sequence[tuple[Sequence[Record], str | None]]
                          ) -> list[UpsertResult | InputError]:
        """Several independent all-or-nothing upserts (records, actor) in ONE transaction,
        each under its own savepoint: a refused one is rolled back alone and comes back as
        its `InputError`. Concurrent API requests commit together this way, so a burst of
        them costs one transaction and one store lock, not one each."""
        now = to_iso(self.clock())

        def work(db: SyncDB) -> list[UpsertResult | InputError]:
            outcomes: list[UpsertResult | InputError] = []
            books = _Books(db, self.business)
            for records, actor in batches:
                db.execute("SAVEPOINT batch")
                try:
                    outcomes.append(_upsert_all(books, records, now, partial=False, linked={},
                                                actor=actor))
                except InputError as refused:
                    db.execute("ROLLBACK TO batch")
                    outcomes.append(refused)
                db.execute("RELEASE batch")
            return outcomes

        return await self.store.run_write(work)

    async def get(self, entity: Entity, record_id: str) -> Record | None:
        doc = await self.store.fetch_value(
            f"SELECT doc FROM {table_of(entity)} WHERE business_id = ? AND id = ?",
            (self.business, record_id))
        return None if doc is None else MODEL_OF[entity].model_validate_json(doc)

    async def get_many(self, entity: Entity, record_ids: Iterable[str]) -> dict[str, Record]:
        """The records of these ids that exist, in one query per 500 ids."""
        wanted = list(dict.fromkeys(record_ids))
        model = MODEL_OF[entity]
        found: dict[str, Record] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = await self.store.fetch_all(
                f"SELECT id, doc FROM {table_of(entity)} WHERE business_id = ? AND id IN "
                f"({', '.join('?' for _ in chunk)})", [self.business, *chunk])
            found.update((row["id"], model.model_validate_json(row["doc"])) for row in rows)
        return found

    async def balance(self, invoice_id: str) -> Balance | None:
        row = await self.store.fetch_one(
            "SELECT b.total_minor, b.paid_minor, b.credited_minor, i.currency "
            "FROM invoice_balances b JOIN invoices i ON i.business_id = b.business_id AND "
            "i.id = b.invoice_id WHERE b.business_id = ? AND b.invoice_id = ?",
            (self.business, invoice_id),
        )
        if row is None:
            return None
        currency = row["currency"]
        return Balance(currency, from_minor(row["total_minor"], currency),
                       from_minor(row["paid_minor"], currency),
                       from_minor(row["credited_minor"], currency))

    # -- lifecycle ----------------------------------------------------------------------

    async def void(self, entity: Entity, record_id: str, *, unapply: bool = False,
                   delete: bool = False, actor: str | None = None) -> Lifecycle:
        """Void (or delete) a record, carried to every platform it reached.

        An invoice with payments or credit notes applied is refused, naming them, unless
        `unapply`: then they are taken off it first, in the same transaction, and each
        platform gets those changes before the void (the worker waits for them). Deleting a
        draft that never left removes it; deleting a sent invoice voids it, as the platforms
        keep sent documents. A deleted payment or credit note stays in the ledger as a
        tombstone until every platform has deleted it. With `actor`, the change is in the
        audit log under that name, in the same transaction.
        """
        if entity not in (Entity.INVOICE, Entity.PAYMENT, Entity.CREDIT_NOTE):
            raise InputError(f"a {entity.label} cannot be voided or deleted, only changed")
        result = Lifecycle()
        now = to_iso(self.clock())

        def work(db: SyncDB) -> None:
            books = _Books(db, self.business)
            _end(books, entity, record_id, unapply=unapply, delete=delete, result=result,
                 now=now)
            if actor is not None:
                _audit(books, now, actor, "delete" if delete else "void",
                       {"entity": entity.value, "record": record_id, "unapply": unapply,
                        "changed": result.changed, "removed": result.removed},
                       len(result.changed) + int(result.removed))

        await self.store.run_write(work)
        return result


async def upsert_inbound(db: AsyncDB, records: Sequence[Record], now: str, *,
                         linked: Mapping[tuple[Entity, str], tuple[int, RemoteRef]]
                         ) -> UpsertResult:
    """The way back's write (`_inbound`): an all-or-nothing upsert inside a transaction the
    caller already holds, so a feed page's records, their links and the feed's cursor commit
    together. Raises `InputError` naming what the ledger refused."""
    def work(conn: SyncDB) -> UpsertResult:
        # The records are those of the business whose connection they came from.
        connections = {connection_id for connection_id, _ in linked.values()}
        business = DEFAULT_BUSINESS
        if connections:
            business = conn.execute("SELECT business_id FROM connections WHERE id = ?",
                                    (min(connections),)).fetchone()[0]
        return _upsert_all(_Books(conn, business), records, now, partial=False, linked=linked,
                           actor=None)

    return await run_sync(db, work)


# -- the write path: plain sqlite3 on the writer's thread (Store.run_write) ---------------

@dataclass(frozen=True)
class _Books:
    """The writer's connection and the business whose ledger it writes."""

    db: SyncDB
    business: int

    def execute(self, sql: str, params: Sequence[Any] = ()) -> SyncCursor:
        return self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> SyncCursor:
        return self.db.executemany(sql, rows)


def _upsert_all(db: _Books, records: Sequence[Record], now: str, *, partial: bool,
                linked: Mapping[tuple[Entity, str], tuple[int, RemoteRef]],
                actor: str | None) -> UpsertResult:
    result = UpsertResult()
    ordered = sorted(records, key=lambda r: (entity_of(r).stage, _STAGE_TIE[entity_of(r)]))
    for record in ordered:
        db.execute("SAVEPOINT record")
        try:
            outcome = _upsert_one(db, record, result, now)
        except _Rejected as exc:
            db.execute("ROLLBACK TO record")
            result.rejected.append(Rejection(describe(entity_of(record), record), str(exc)))
        else:
            setattr(result, outcome, getattr(result, outcome) + 1)
            link = linked.get((entity_of(record), record.id))
            if link is not None:
                link_synced(db.db, link[0], entity_of(record), record.id, link[1], now)
        db.execute("RELEASE record")
    if result.rejected and not partial:
        lines = "\n".join(f"  {rejection}" for rejection in result.rejected)
        raise InputError(f"{len(result.rejected)} record(s) rejected, nothing was "
                         f"saved:\n{lines}")
    if actor is not None and (result.created or result.updated):
        _audit(db, now, actor, "upsert", {
            "records": [describe(entity_of(r), r) for r in ordered[:20]],
            "created": result.created, "updated": result.updated},
            result.created + result.updated)
    return result


def _end(db: _Books, entity: Entity, record_id: str, *, unapply: bool,
         delete: bool, result: Lifecycle, now: str) -> None:
    record = _read(db, entity, record_id)
    if isinstance(record, Invoice):
        if delete and _never_left(db, record):
            db.execute("DELETE FROM document_items WHERE business_id = ? AND entity = 'invoice' "
                       "AND record_id = ?", (db.business, record_id))
            db.execute("DELETE FROM invoices WHERE business_id = ? AND id = ?",
                       (db.business, record_id))
            result.removed = True
            return
        if record.status is InvoiceStatus.VOID:
            return
        applied = _applied_to(db, record_id)
        if applied and not unapply:
            raise InputError(f"invoice {record.number} has {_listed(applied)} applied; "
                             "nothing was changed. Unapply them first, or pass "
                             "--unapply to take them off and void it in one step")
        for entry in applied:
            source = _read(db, entry.entity, entry.record_id)
            assert isinstance(source, (Payment, CreditNote))
            kept = [a for a in source.allocations if a.invoice_id != record_id]
            _changed(db, source.model_copy(update={"allocations": kept}), result, now)
            result.unapplied.append(entry)
        _changed(db, record.model_copy(update={"status": InvoiceStatus.VOID}), result, now)
        return
    assert isinstance(record, (Payment, CreditNote))
    wanted = EntryStatus.DELETED if delete else EntryStatus.VOID
    if record.status is not wanted:
        _changed(db, record.model_copy(update={"status": wanted}), result, now)


def _changed(db: _Books, record: Record, result: Lifecycle, now: str) -> None:
    # model_copy skips validation: re-validate, so a lifecycle change obeys every rule an
    # upsert does.
    checked = type(record).model_validate(record.model_dump(by_alias=True))
    counts = UpsertResult()
    try:
        _upsert_one(db, checked, counts, now)
    except _Rejected as exc:
        raise InputError(f"{describe(entity_of(checked), checked)}: {exc}") from None
    result.changed.append(describe(entity_of(checked), checked))
    result.jobs_queued += counts.jobs_queued


def _upsert_one(db: _Books, record: Record, result: UpsertResult, now: str) -> str:
    if isinstance(record, Customer) and "classification" not in record.model_fields_set:
        record = _classified(db, record)
    entity = entity_of(record)
    _check_references(db, record)
    doc = record.model_dump_json(by_alias=True)
    table = table_of(entity)
    existing = db.execute(
        f"SELECT doc, version FROM {table} WHERE business_id = ? AND id = ?",
        (db.business, record.id)).fetchone()
    if existing is not None and existing["doc"] == doc:
        return "unchanged"
    columns = _columns(record)
    names = ", ".join(["business_id", "id", *columns, "doc", "updated_at"])
    marks = ", ".join("?" for _ in range(len(columns) + 4))
    updates = ", ".join(f"{c} = excluded.{c}" for c in [*columns, "doc", "updated_at"])
    try:
        db.execute(
            f"INSERT INTO {table} ({names}) VALUES ({marks}) "
            f"ON CONFLICT (business_id, id) DO UPDATE SET {updates}, version = version + 1",
            (db.business, record.id, *columns.values(), doc, now),
        )
    except IntegrityError as exc:
        raise _Rejected(_integrity_message(entity, record, exc)) from None
    _write_children(db, entity, record)
    if _queues(record, existing):
        result.jobs_queued += queue_jobs(db.db, entity, record.id, now, db.business)
    return "created" if existing is None else "updated"


def _classified(db: _Books, customer: Customer) -> Customer:
    """A customer that does not say who it is, classified by the rule table (`classify`),
    with the service locations its documents already name."""
    locations = db.execute(
        "SELECT COUNT(DISTINCT json_extract(l.value, '$.location')) FROM invoices i, "
        "json_each(i.doc, '$.lines') l WHERE i.business_id = ? AND i.customer_id = ?",
        (db.business, customer.id)).fetchone()[0]
    return customer.model_copy(update={"classification": classify(
        customer.display_name, customer.company, customer.billing_address, locations)})


# Customers before items only to keep the order stable; both are stage 0.
_STAGE_TIE = {Entity.CUSTOMER: 0, Entity.ITEM: 1, Entity.INVOICE: 0, Entity.PAYMENT: 0,
              Entity.CREDIT_NOTE: 1}


def _columns(record: Record) -> dict[str, Any]:
    if isinstance(record, Customer):
        return {"display_name": record.display_name, "email": record.email,
                "classification": record.classification.value}
    if isinstance(record, Item):
        return {"sku": record.sku, "name": record.name}
    if isinstance(record, Invoice):
        return {"number": record.number, "customer_id": record.customer_id,
                "status": record.status.value, "currency": record.currency,
                "total_minor": to_minor(record.total, record.currency)}
    if isinstance(record, Payment):
        return {"customer_id": record.customer_id, "currency": record.currency,
                "amount_minor": to_minor(record.amount, record.currency),
                "reference": record.reference}
    return {"number": record.number, "customer_id": record.customer_id,
            "currency": record.currency, "total_minor": to_minor(record.total, record.currency)}


def _queues(record: Record, existing: Row | None) -> bool:
    """Draft invoices matter to no platform; a draft that was never sent queues nothing."""
    if not isinstance(record, Invoice):
        return True
    if record.status is InvoiceStatus.DRAFT:
        return False
    if record.status is InvoiceStatus.VOID and existing is not None:
        previous_status: str = json.loads(existing["doc"]).get("status", "")
        return previous_status != InvoiceStatus.DRAFT.value
    return record.status is InvoiceStatus.SENT


def _read(db: _Books, entity: Entity, record_id: str) -> Record:
    row = db.execute(f"SELECT doc FROM {table_of(entity)} WHERE business_id = ? AND id = ?",
                     (db.business, record_id)).fetchone()
    if row is None:
        raise InputError(f"no {entity.label} {record_id!r} in the ledger")
    return MODEL_OF[entity].model_validate_json(row["doc"])


def _never_left(db: _Books, invoice: Invoice) -> bool:
    """A draft with no job and no link anywhere: no platform has ever seen it."""
    if invoice.status is not InvoiceStatus.DRAFT:
        return False
    row = db.execute(
        "SELECT EXISTS (SELECT 1 FROM sync_jobs j JOIN connections c ON c.id = "
        "j.connection_id WHERE c.business_id = ? AND j.entity = 'invoice' AND j.record_id = ?) "
        "OR EXISTS (SELECT 1 FROM sync_links l JOIN connections c ON c.id = l.connection_id "
        "WHERE c.business_id = ? AND l.entity = 'invoice' AND l.record_id = ?)",
        (db.business, invoice.id, db.business, invoice.id)).fetchone()
    return row is not None and not row[0]


def _check_references(db: _Books, record: Record) -> None:
    def exists(table: str, record_id: str) -> bool:
        return db.execute(f"SELECT 1 FROM {table} WHERE business_id = ? AND id = ?",
                          (db.business, record_id)).fetchone() is not None

    if isinstance(record, Customer) and record.parent_id is not None:
        _check_parent(db, record)
    if isinstance(record, (Invoice, Payment, CreditNote)) and not exists(
        "customers", record.customer_id
    ):
        raise _Rejected(f"customer_id: no customer {record.customer_id!r} in the file or store")
    if isinstance(record, (Invoice, CreditNote)):
        for index, line in enumerate(record.lines):
            if line.item_id and not exists("items", line.item_id):
                raise _Rejected(f"lines[{index}].item_id: no item {line.item_id!r} "
                                "in the file or store")
    if isinstance(record, (Payment, CreditNote)) and record.live:
        _check_allocations(db, record)
    if isinstance(record, Invoice) and record.status is InvoiceStatus.VOID:
        applied = _applied_to(db, record.id)
        if applied:
            raise _Rejected(
                f"status: cannot void invoice {record.number}: {_listed(applied)} "
                f"{'is' if len(applied) == 1 else 'are'} applied to it; unapply "
                f"{'it' if len(applied) == 1 else 'them'} first (`syncdesk void invoice "
                f"{record.id} --unapply` does both)")


MAX_CUSTOMER_DEPTH = 5
"""Sub-customers nest at most this deep (QuickBooks' own limit, the platform that has them)."""


def _check_parent(db: _Books, customer: Customer) -> None:
    chain, parent = [customer.id], customer.parent_id
    while parent is not None:
        if parent in chain:
            raise _Rejected(f"parent_id: {' -> '.join([*chain, parent])} is a loop")
        if len(chain) > MAX_CUSTOMER_DEPTH:
            raise _Rejected(f"parent_id: sub-customers nest at most {MAX_CUSTOMER_DEPTH} "
                            "deep")
        row = db.execute("SELECT json_extract(doc, '$.parent_id') FROM customers "
                         "WHERE business_id = ? AND id = ?", (db.business, parent)).fetchone()
        if row is None:
            raise _Rejected(f"parent_id: no customer {parent!r} in the file or store")
        chain.append(parent)
        parent = row[0]


def _check_allocations(db: _Books, record: Payment | CreditNote) -> None:
    source = entity_of(record).value
    for index, allocation in enumerate(record.allocations):
        invoice = db.execute(
            "SELECT i.customer_id, i.currency, i.status, b.total_minor, b.paid_minor, "
            "b.credited_minor FROM invoices i JOIN invoice_balances b ON b.business_id = "
            "i.business_id AND b.invoice_id = i.id WHERE i.business_id = ? AND i.id = ?",
            (db.business, allocation.invoice_id),
        ).fetchone()
        where = f"allocations[{index}]"
        if invoice is None:
            raise _Rejected(f"{where}.invoice_id: no invoice {allocation.invoice_id!r}")
        if invoice["customer_id"] != record.customer_id:
            raise _Rejected(f"{where}.invoice_id: invoice {allocation.invoice_id} belongs to "
                            f"customer {invoice['customer_id']}, not {record.customer_id}")
        if invoice["currency"] != record.currency:
            raise _Rejected(f"{where}: invoice {allocation.invoice_id} is in "
                            f"{invoice['currency']}, this {source} in {record.currency}")
        if invoice["status"] != InvoiceStatus.SENT.value:
            raise _Rejected(f"{where}.invoice_id: invoice {allocation.invoice_id} is "
                            f"{invoice['status']}; only sent invoices can be paid or credited")
        previous = db.execute(
            "SELECT amount_minor FROM allocations WHERE business_id = ? AND source_entity = ? "
            "AND source_id = ? AND invoice_id = ?",
            (db.business, source, record.id, allocation.invoice_id),
        ).fetchone()
        already = invoice["paid_minor"] + invoice["credited_minor"] - (
            previous["amount_minor"] if previous else 0)
        amount = to_minor(allocation.amount, record.currency)
        if already + amount > invoice["total_minor"]:
            total = from_minor(invoice["total_minor"], record.currency)
            raise _Rejected(
                f"{where}.amount: {allocation.amount} would take invoice "
                f"{allocation.invoice_id} past its total ({total}, already paid or credited "
                f"{from_minor(already, record.currency)})"
            )


def _write_children(db: _Books, entity: Entity, record: Record) -> None:
    if isinstance(record, (Invoice, CreditNote)):
        db.execute("DELETE FROM document_items WHERE business_id = ? AND entity = ? AND "
                   "record_id = ?", (db.business, entity.value, record.id))
        db.executemany(
            "INSERT INTO document_items (business_id, entity, record_id, item_id) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(db.business, entity.value, record.id, line.item_id) for line in record.lines
             if line.item_id],
        )
    if isinstance(record, (Payment, CreditNote)):
        db.execute("DELETE FROM allocations WHERE business_id = ? AND source_entity = ? AND "
                   "source_id = ?", (db.business, entity.value, record.id))
        # A void or deleted entry keeps its allocations in its document, as history; only
        # a live one pays anything.
        db.executemany(
            "INSERT INTO allocations (business_id, source_entity, source_id, invoice_id, "
            "amount_minor) VALUES (?, ?, ?, ?, ?)",
            [(db.business, entity.value, record.id, a.invoice_id,
              to_minor(a.amount, record.currency))
             for a in (record.allocations if record.live else ())],
        )


@dataclass(frozen=True)
class Applied:
    """A payment or credit note applied to an invoice: what voiding the invoice must undo."""

    entity: Entity
    record_id: str
    label: str
    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.entity.label} {self.label} ({self.amount} {self.currency})"


def _applied_to(db: _Books, invoice_id: str) -> list[Applied]:
    rows = db.execute(
        "SELECT a.source_entity, a.source_id, a.amount_minor, "
        "COALESCE(p.reference, p.id, c.number) AS label, COALESCE(p.currency, c.currency) "
        "AS currency FROM allocations a "
        "LEFT JOIN payments p ON a.source_entity = 'payment' AND p.business_id = "
        "a.business_id AND p.id = a.source_id "
        "LEFT JOIN credit_notes c ON a.source_entity = 'credit_note' AND c.business_id = "
        "a.business_id AND c.id = a.source_id "
        "WHERE a.business_id = ? AND a.invoice_id = ? ORDER BY a.source_entity DESC, "
        "a.source_id", (db.business, invoice_id),
    ).fetchall()
    return [Applied(Entity(row["source_entity"]), row["source_id"], row["label"],
                    from_minor(row["amount_minor"], row["currency"]), row["currency"])
            for row in rows]


def _listed(applied: Sequence[Applied]) -> str:
    return ", ".join(str(entry) for entry in applied)


def _audit(db: _Books, now: str, actor: str, command: str, scope: dict[str, Any],
           affected: int) -> None:
    db.execute("INSERT INTO audit (business_id, at, actor, command, scope, affected) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               (db.business, now, actor, command, json.dumps(scope), affected))


def _integrity_message(entity: Entity, record: Record, exc: IntegrityError) -> str:
    text = str(exc)
    if _unique_on(text, "number"):
        number = getattr(record, "number", "")
        return f"number: {number!r} is already used by another {entity.label}"
    if _unique_on(text, "sku"):
        return f"sku: {getattr(record, 'sku', '')!r} is already used by another item"
    return f"rejected by the store: {text}"


_PG_KEY = re.compile(r"Key \(([^)]*)\)=")


def _unique_on(text: str, column: str) -> bool:
    """Whether a refusal is a unique key that includes `column`, in either store's words:
    SQLite's "UNIQUE constraint failed: invoices.business_id, invoices.number", PostgreSQL's
    "duplicate key value violates unique constraint … DETAIL: Key (business_id, number)=…"."""
    if "UNIQUE constraint failed" in text:
        return f".{column}" in text
    key = _PG_KEY.search(text) if "duplicate key" in text else None
    return key is not None and column in key[1].split(", ")
