"""The drift audit: does every synced document and payment still say on its platform what the
ledger says?

`run_audit` reads the platform's `RemoteState`s of invoices, credit notes and payments in list
pages (`Provider.list_states`, through the connection's rate budget: a few requests per
thousand records) and compares each synced record of the connection with the ledger:

- `total`: a document's total including tax, a payment's amount, at the currency's minor unit.
- `balance`: what an invoice still owes there (its total less the live payments and credit
  notes applied to it that reached this platform: one a platform cannot take, such as a
  payment on Wave, pays nothing there), or what a payment or credit note has left unapplied
  (less its allocations, and a credit note's refunds). Compared only where the platform says
  (None is no answer), and not while a payment or credit note applied to the invoice is
  still on its way to the platform.
- `status`: whether the record is void. A void or deleted record whose object the platform
  still shows live differs, and so does a live one the platform shows void. A platform draft
  beside a sent invoice differs too; a ledger draft beside an open platform invoice does not,
  since QuickBooks has no drafts and keeps a draft as an open invoice.
- `customer`: the platform's customer against the link of the record's own customer on the
  connection.
- `lines`: how many lines a document has.

A void record is compared on its status alone: what a voided object totals is the platform's
own (QuickBooks zeroes it), and the list may leave it out altogether. Where one link joins
several platform objects (a payment split over invoices, one platform payment per invoice),
their totals and balances are summed and each one's status and customer compared.

A live record the list leaves out is read once by id (`Provider.fetch`) before it is called
`missing`, as the weekly link check does: lists skip archived objects and shift under writes.
One that read finds is counted `unlisted` and not compared.

A run replaces its connection's `drift` rows in one write, so a record that agrees again has
none. Drift raises one notification per connection ("Xero: 3 records differ from the ledger")
in a slot of its own (record `drift`), deduplicated like every notification: while it is
unread, later runs add none. A clean run after drift marks that one read and says so in a
new one; a clean run after a clean run says nothing. Every run appends one `audit` event, so
a console in another process re-reads the drift it shows.

`syncdesk audit` runs it on demand, and the engine's weekly sync after its link check when
`[engine] weekly_audit = true`; the console's drift view and the CLI read what it stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ._businesses import business_of
from ._db import Row
from ._errors import Unsupported
from ._ledger import Ledger
from ._models import CreditNote, Entity, Invoice, InvoiceStatus, Payment
from ._money import from_minor, to_minor
from ._notify import raise_notification
from ._port import Provider, RemoteState
from ._store import Store
from ._sync_state import SyncState
from ._time import Clock, from_iso, to_iso, utcnow

AUDITED = (Entity.INVOICE, Entity.CREDIT_NOTE, Entity.PAYMENT)
"""What the audit compares: the records that carry money."""

NOTICE_SUBJECT = "drift"
"""The record id of the audit's connection-level notification: a slot of its own, so a
quota or reconnect notice never swallows it, nor it them."""

_VOID_WORDS = frozenset({"void", "voided", "deleted", "cancelled", "canceled"})
_DRAFT_WORDS = frozenset({"draft", "submitted"})
"""Platform status words for an object that is not live, or not approved yet (Xero's
SUBMITTED awaits approval as a draft does); every other word is a live object's."""


class DriftField(StrEnum):
    """What a difference is about."""

    TOTAL = "total"
    BALANCE = "balance"
    STATUS = "status"
    CUSTOMER = "customer"
    LINES = "lines"
    MISSING = "missing"
    """The record is synced, but its object is not on the platform (a read by id agrees)."""


@dataclass(frozen=True)
class Drift:
    entity: Entity
    record_id: str
    label: str
    """The record's number (documents) or reference, as record lists show it."""
    remote_id: str
    field: DriftField
    ledger: str
    platform: str

    def __str__(self) -> str:
        return (f"{self.entity.label} {self.label}: {self.field.value} is {self.ledger} in "
                f"the ledger, {self.platform} on the platform")


@dataclass
class AuditReport:
    connection_id: int
    compared: int = 0
    """Records whose platform state was read and compared."""
    unlisted: int = 0
    """Records the list left out but a read by id found: they exist, nothing was compared."""
    unsupported: list[str] = field(default_factory=list)
    """Entities the platform cannot list, each with why; their records are not compared."""
    differences: list[Drift] = field(default_factory=list)

    @property
    def differing(self) -> int:
        """Records with at least one difference."""
        return len({(d.entity, d.record_id) for d in self.differences})

    @property
    def clean(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class DriftRow:
    """One stored difference, as the console and `syncdesk audit` show it."""

    connection_id: int
    platform: str
    tenant_name: str
    job_id: int | None
    entity: Entity
    record_id: str
    label: str
    remote_id: str
    field: DriftField
    ledger: str
    platform_value: str
    found_at: datetime


@dataclass(frozen=True)
class AuditRun:
    """A connection's last audit."""

    connection_id: int
    platform: str
    tenant_name: str
    ran_at: datetime
    compared: int
    differing: int
    unlisted: int


@dataclass(frozen=True)
class _Ledger:
    """One synced record as the ledger has it, in the shape a state is compared with."""

    label: str
    remote_id: str
    currency: str
    void: bool
    sent: bool
    """An invoice the ledger says was sent: a platform draft of it differs."""
    status: str
    total_minor: int
    balance_minor: int | None
    """None while a payment or credit note applied to it is still on its way there."""
    customer_id: str
    lines: int | None

    def money(self, minor: int) -> str:
        return str(from_minor(minor, self.currency))


async def run_audit(store: Store, connection_id: int, provider: Provider, title: str,
                    clock: Clock = utcnow) -> AuditReport:
    """Compare every synced invoice, credit note and payment of a connection with its
    platform state; store what differs and notify (see the module docstring)."""
    report = AuditReport(connection_id)
    links = [row for row in await SyncState(store).synced_links(connection_id)
             if Entity(row["entity"]) in AUDITED]
    customers = {row["record_id"]: row["remote_id"] for row in await store.fetch_all(
        "SELECT record_id, remote_id FROM sync_links WHERE connection_id = ? "
        "AND entity = 'customer'", (connection_id,))}
    for entity in AUDITED:
        rows = [row for row in links if row["entity"] == entity.value]
        if not rows:
            continue
        records = await _ledger_side(store, connection_id, entity, rows)
        try:
            states = {state.remote_id: state async for state in provider.list_states(entity)}
        except Unsupported as why:
            report.unsupported.append(f"{entity.label}: {why.message}")
            continue
        for record_id, mine in records.items():
            parts = mine.remote_id.split(",")
            found = [states[part] for part in parts if part in states]
            if len(found) < len(parts):
                if mine.void:
                    continue  # a void object is not live: the list may well leave it out
                if await provider.fetch(entity, mine.remote_id) is not None:
                    report.unlisted += 1
                    continue
                report.differences.append(Drift(
                    entity, record_id, mine.label, mine.remote_id, DriftField.MISSING,
                    "synced", "not found"))
                continue
            report.compared += 1
            report.differences += [
                Drift(entity, record_id, mine.label, mine.remote_id, what, ours, theirs)
                for what, ours, theirs in _compare(mine, found, customers)]
    await _store_result(store, report, title, to_iso(clock()))
    return report


async def _ledger_side(store: Store, connection_id: int, entity: Entity,
                       rows: Sequence[Row]) -> dict[str, _Ledger]:
    links = {row["record_id"]: row for row in rows}
    applied: dict[str, int | None] = {}
    if entity is Entity.INVOICE:
        # Only a payment or credit note that reached this platform pays there (the table
        # holds live allocations only: a void payment pays nothing). One that cannot go
        # there (skipped: Wave takes no payments) or never went leaves the balance owed; one
        # still on its way leaves the balance unjudged until it has arrived.
        applied = {row["invoice_id"]: None if row["unsettled"] else int(row["applied"])
                   for row in await store.fetch_all(
            "SELECT a.invoice_id, SUM(CASE WHEN s.status = 'synced' THEN a.amount_minor "
            "ELSE 0 END) AS applied, MAX(CASE WHEN s.status IS NOT NULL AND s.status NOT IN "
            "('synced', 'skipped') THEN 1 ELSE 0 END) AS unsettled "
            "FROM allocations a JOIN sync_jobs j "
            "ON j.connection_id = ? AND j.entity = 'invoice' AND j.record_id = a.invoice_id "
            "AND j.status = 'synced' LEFT JOIN sync_jobs s ON s.connection_id = ? "
            "AND s.entity = a.source_entity AND s.record_id = a.source_id "
            "WHERE a.business_id = (SELECT business_id FROM connections WHERE id = ?) "
            "GROUP BY a.invoice_id", (connection_id, connection_id, connection_id))}
    found: dict[str, _Ledger] = {}
    ledger = Ledger(store, business=await business_of(store, connection_id))
    for record_id, record in (await ledger.get_many(entity, links)).items():
        row = links[record_id]
        if isinstance(record, Invoice):
            total = to_minor(record.total, record.currency)
            found[record_id] = _Ledger(
                row["label"], row["remote_id"], record.currency,
                record.status is InvoiceStatus.VOID, record.status is InvoiceStatus.SENT,
                record.status.value, total, _owed(total, applied.get(record_id, 0)),
                record.customer_id, len(record.lines))
        elif isinstance(record, CreditNote):
            left = record.total - record.allocated - record.refunded
            found[record_id] = _Ledger(
                row["label"], row["remote_id"], record.currency, not record.live, False,
                record.status.value, to_minor(record.total, record.currency),
                to_minor(left, record.currency), record.customer_id, len(record.lines))
        elif isinstance(record, Payment):
            found[record_id] = _Ledger(
                row["label"], row["remote_id"], record.currency, not record.live, False,
                record.status.value, to_minor(record.amount, record.currency),
                to_minor(record.unapplied, record.currency), record.customer_id, None)
    return found


def _owed(total: int, applied: int | None) -> int | None:
    return None if applied is None else total - applied


def _compare(mine: _Ledger, states: Sequence[RemoteState],
             customers: dict[str, str]) -> Iterable[tuple[DriftField, str, str]]:
    """What differs between a record and its platform object(s): (field, ledger, platform)."""
    words = [state.status for state in states if state.status is not None]
    if words:
        void_there = any(word.casefold() in _VOID_WORDS for word in words)
        draft_there = any(word.casefold() in _DRAFT_WORDS for word in words)
        if mine.void != void_there or (draft_there and mine.sent):
            yield DriftField.STATUS, mine.status, ", ".join(dict.fromkeys(words))
    if mine.void:
        return
    total = sum(to_minor(state.total, mine.currency) for state in states)
    if total != mine.total_minor:
        yield DriftField.TOTAL, mine.money(mine.total_minor), mine.money(total)
    balances = [state.balance for state in states]
    if mine.balance_minor is not None and all(balance is not None for balance in balances):
        balance = sum(to_minor(b, mine.currency) for b in balances if b is not None)
        if balance != mine.balance_minor:
            yield DriftField.BALANCE, mine.money(mine.balance_minor), mine.money(balance)
    expected = customers.get(mine.customer_id)
    theirs = [state.customer_remote_id for state in states
              if state.customer_remote_id is not None]
    if theirs and any(remote != expected for remote in theirs):
        yield (DriftField.CUSTOMER, f"{mine.customer_id} ({expected or 'not linked'})",
               ", ".join(dict.fromkeys(theirs)))
    counts = [state.line_count for state in states]
    if mine.lines is not None and all(n is not None for n in counts):
        lines = sum(n for n in counts if n is not None)
        if lines != mine.lines:
            yield DriftField.LINES, str(mine.lines), str(lines)


async def _store_result(store: Store, report: AuditReport, title: str, now: str) -> None:
    connection_id = report.connection_id
    async with store.write() as db:
        async with db.execute("SELECT entity, record_id, field, found_at FROM drift "
                              "WHERE connection_id = ?", (connection_id,)) as cursor:
            seen = {(r["entity"], r["record_id"], r["field"]): r["found_at"]
                    for r in await cursor.fetchall()}
        await db.execute("DELETE FROM drift WHERE connection_id = ?", (connection_id,))
        await db.executemany(
            "INSERT INTO drift (connection_id, entity, record_id, field, label, remote_id, "
            "ledger_value, platform_value, found_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(connection_id, d.entity.value, d.record_id, d.field.value, d.label, d.remote_id,
              d.ledger, d.platform,
              seen.get((d.entity.value, d.record_id, d.field.value), now))
             for d in report.differences])
        await db.execute(
            "INSERT INTO drift_audits (connection_id, ran_at, compared, differing, unlisted) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (connection_id) DO UPDATE SET "
            "ran_at = excluded.ran_at, compared = excluded.compared, "
            "differing = excluded.differing, unlisted = excluded.unlisted",
            (connection_id, now, report.compared, report.differing, report.unlisted))
        # A drift view open in another process follows the event log: one event per run.
        await db.execute("INSERT INTO events (at, kind, connection_id) VALUES (?, 'audit', ?)",
                         (now, connection_id))
        if not report.clean:
            differ = "record differs" if report.differing == 1 else "records differ"
            await raise_notification(
                db, connection_id, None, NOTICE_SUBJECT, kind="drift",
                title=f"{title}: {report.differing} {differ} from the ledger",
                message=f"{title}: {report.differing} {differ} from the ledger — "
                        "`syncdesk audit` lists them", now=now)
        elif seen:
            await db.execute("UPDATE notifications SET read_at = ? WHERE connection_id = ? "
                             "AND entity = '' AND record_id = ? AND read_at IS NULL",
                             (now, connection_id, NOTICE_SUBJECT))
            await raise_notification(
                db, connection_id, None, NOTICE_SUBJECT, kind="drift",
                title=f"{title}: the ledger and the platform agree again",
                message=f"{title}: every synced record agrees with the ledger again "
                        f"({report.compared} compared)", now=now)


_SHOWN = "c.state != 'disconnected'"
"""A disconnected (or purged) connection's drift is kept but not shown: nothing syncs there,
so nothing there can be put right; a reconnect shows it again until the next audit."""


async def drift_rows(store: Store, connection_id: int | None = None) -> list[DriftRow]:
    """The stored differences, by connection, record and field."""
    rows = await store.fetch_all(
        "SELECT d.*, c.platform, c.tenant_name, j.id AS job_id FROM drift d "
        "JOIN connections c ON c.id = d.connection_id "
        "LEFT JOIN sync_jobs j ON j.connection_id = d.connection_id AND j.entity = d.entity "
        f"AND j.record_id = d.record_id WHERE {_SHOWN} "
        + ("AND d.connection_id = ? " if connection_id is not None else "")
        + "ORDER BY d.connection_id, d.entity, d.label, d.record_id, d.field",
        () if connection_id is None else (connection_id,))
    return [DriftRow(
        connection_id=r["connection_id"], platform=r["platform"],
        tenant_name=r["tenant_name"], job_id=r["job_id"], entity=Entity(r["entity"]),
        record_id=r["record_id"], label=r["label"], remote_id=r["remote_id"],
        field=DriftField(r["field"]), ledger=r["ledger_value"],
        platform_value=r["platform_value"], found_at=from_iso(r["found_at"]))
        for r in rows]


async def audit_runs(store: Store) -> list[AuditRun]:
    """Each audited connection's last run."""
    rows = await store.fetch_all(
        "SELECT a.*, c.platform, c.tenant_name FROM drift_audits a "
        f"JOIN connections c ON c.id = a.connection_id WHERE {_SHOWN} "
        "ORDER BY a.connection_id")
    return [AuditRun(connection_id=r["connection_id"], platform=r["platform"],
                     tenant_name=r["tenant_name"], ran_at=from_iso(r["ran_at"]),
                     compared=r["compared"], differing=r["differing"],
                     unlisted=r["unlisted"]) for r in rows]
