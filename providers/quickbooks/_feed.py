"""QuickBooks' way back (#15): its change feed (CDC) and the drift audit's list reads.

`read_changes` reads `GET cdc?entities=<one entity>&changedSince=<T>`. CDC has no paging:
an answer holds at most 1,000 objects and the caller moves `changedSince` on. So the cursor
is the platform's own time of the last change handed over (`since`) plus the objects already
handed over at exactly that second (`seen`, by Id and SyncToken: QBO times are whole
seconds, and a second object changed in the same second must not be skipped, nor the same
one handed over twice). A read that hands everything over moves `since` to a second before
the platform's clock (the answer's `time`), so a quiet connection's cursor never falls out
of CDC's 30-day look-back. The engine's pages are often smaller than an answer: the next page,
asked from exactly the cursor the last one ended at, is cut from the same answer without
another request (a change made meanwhile comes with the next read, its time being later).

Older than the look-back, CDC refuses. The feed then reads the span up to the look-back's
edge with queries on `Metadata.LastUpdatedTime` (same cursor, bounded by `until`), and goes
on with CDC from that edge. Queries report no deletions: what was deleted before the edge is
found by the link check and the drift audit, not here.

What a change carries, by QBO object:
- a deletion (`status: "Deleted"`, only Id and MetaData): DELETED; a customer or item made
  inactive (QBO deletes no name-list object): DELETED too;
- a voided invoice or payment (zero amounts, note "Voided"): VOIDED, an invoice with its
  state;
- a payment: `RemotePayment`, allocations from `Line[].LinkedTxn` to invoices, `mark` from
  `PrivateNote` as `find` reads it; the zero-amount payment syncdesk writes to apply a credit
  memo is the credit note's, not a payment, and is left out;
- a customer: `RemoteContact` (BillAddr for the address); an invoice or credit memo:
  `RemoteState`.

QBO keeps no status word on invoices, credit memos or payments; `RemoteState.status` is what
its screens show from the balance: Voided, Paid / Partially paid / Open (invoices), Applied
/ Partially applied / Unapplied (credit memos and payments).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from engine import (
    Change,
    ChangeKind,
    ChangePage,
    Entity,
    RemoteAllocation,
    RemoteContact,
    RemotePayment,
    RemoteState,
    Transient,
    Unsupported,
    Validation,
)
from providers._http import ApiClient

from ._errors import read_body
from ._mapping import CREDIT_PURPOSE, WIRE, Body, marked_id, voided

LOOK_BACK = timedelta(days=30)
EDGE_MARGIN = timedelta(hours=1)
"""How far inside the look-back the query span ends, so CDC still takes the edge when the
next read comes a little later."""
CDC_MAX = 1000
"""Objects in one CDC answer at most (Intuit's change-data-capture page)."""

Pages = Callable[[str, str], AsyncIterator[Body]]
"""The provider's query pages: (entity name, WHERE condition) → objects."""


@dataclass(frozen=True)
class Cursor:
    since: datetime
    seen: frozenset[str] = field(default_factory=frozenset)
    until: datetime | None = None
    """Set while the span before CDC's look-back is read with queries."""

    def encode(self) -> str:
        fields: dict[str, Any] = {"since": self.since.isoformat(), "seen": sorted(self.seen)}
        if self.until is not None:
            fields["until"] = self.until.isoformat()
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            fields = json.loads(text)
            until = fields.get("until")
            return cls(_instant(fields["since"]), frozenset(map(str, fields["seen"])),
                       _instant(until) if until else None)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise Validation(f"the stored QuickBooks feed cursor {text[:80]!r} is not one this "
                             "provider wrote") from None


@dataclass(frozen=True)
class _Row:
    obj: Body
    changed_at: datetime

    @property
    def key(self) -> str:
        deleted = self.obj.get("status") == "Deleted"
        return f"{self.obj['Id']}.{'deleted' if deleted else self.obj.get('SyncToken')}"


@dataclass(frozen=True)
class _Answer:
    """The last answer read for an entity (CDC, or a query of the span past its look-back),
    and the cursor the page cut from it ended at."""

    cursor: str | None
    rows: list[_Row]
    full: bool
    """The platform cut the answer at its most: more may follow its last row."""
    platform_now: datetime | None
    """The platform's clock when it answered (CDC's `time`; queries' is not used)."""

    def left_after(self, at: Cursor) -> bool:
        return any(_after(row, at) for row in self.rows)


class ChangeFeed:
    """One realm's change feed and list reads, through the provider's `ApiClient` (so every
    request takes a slot of the connection's budget)."""

    def __init__(self, api: ApiClient, minor_version: str, pages: Pages,
                 page_size: int) -> None:
        self.api = api
        self.minor_version = minor_version
        self.pages = pages
        self.page_size = page_size
        self._held: dict[Entity, _Answer] = {}

    async def read_changes(self, entity: Entity, cursor: str | None, since: datetime, *,
                           limit: int = 1000) -> ChangePage:
        at = Cursor.decode(cursor) if cursor else Cursor(_second(since))
        answer = self._held.get(entity)
        if answer is None or answer.cursor != cursor or not answer.left_after(at):
            answer, at = await self._answer(entity, at, cursor)
        changes, after, more = _page(entity, at, answer.rows, limit, full=answer.full,
                                     platform_now=answer.platform_now)
        if at.until is not None:
            # Once the span is read, CDC takes over at the look-back's edge: more to read there.
            after = Cursor(after.since, after.seen, at.until) if more else Cursor(at.until)
            more = True
        # The engine's pages are often smaller than an answer: the rest of this one serves
        # the next page, which resumes from exactly this cursor.
        self._held[entity] = replace(answer, cursor=after.encode())
        return ChangePage(changes, after.encode(), more)

    async def _answer(self, entity: Entity, at: Cursor,
                      cursor: str | None) -> tuple[_Answer, Cursor]:
        """A fresh read after `at`: CDC, or a query while the span before its look-back is
        read (CDC refusing says where that span ends)."""
        wire = WIRE[entity]
        if at.until is None:
            response = await self._get("cdc", {"entities": wire.name,
                                               "changedSince": _iso(at.since)})
            refused = _look_back_refusal(response)
            if refused is None:
                body = read_body(response)
                rows = _cdc_rows(body, wire.name)
                return _Answer(cursor, rows, len(rows) >= CDC_MAX,
                               _instant(body.get("time"))), at
            at = Cursor(at.since, at.seen, refused - LOOK_BACK + EDGE_MARGIN)
        assert at.until is not None
        active = " AND Active IN (true, false)" if entity in (Entity.CUSTOMER,
                                                              Entity.ITEM) else ""
        statement = (f"SELECT * FROM {wire.name} WHERE Metadata.LastUpdatedTime >= "
                     f"'{_iso(at.since)}' AND Metadata.LastUpdatedTime < '{_iso(at.until)}'"
                     f"{active} ORDERBY Metadata.LastUpdatedTime MAXRESULTS {self.page_size}")
        body = read_body(await self._get("query", {"query": statement}))
        found = body.get("QueryResponse")
        if not isinstance(found, dict):
            raise Transient(f"QuickBooks answered a {wire.name} query without a QueryResponse")
        rows = [_row(obj) for obj in found.get(wire.name) or []]
        return _Answer(cursor, rows, len(rows) >= self.page_size, None), at

    async def list_states(self, entity: Entity) -> AsyncIterator[RemoteState]:
        if entity not in (Entity.INVOICE, Entity.CREDIT_NOTE, Entity.PAYMENT):
            raise Unsupported(f"the drift audit compares documents and payments; a "
                              f"{entity.label} has no state on QuickBooks to compare")
        async for obj in self.pages(WIRE[entity].name, ""):
            if not _credit_application(obj):
                yield state_of(entity, obj)

    async def _get(self, path: str, params: dict[str, str]) -> httpx.Response:
        return await self.api.send("GET", path,
                                   params={"minorversion": self.minor_version, **params})


def _page(entity: Entity, at: Cursor, rows: list[_Row], limit: int, *, full: bool,
          platform_now: datetime | None) -> tuple[list[Change], Cursor, bool]:
    """The changes after `at` (at most `limit`), the cursor after them, and whether more
    remain (this answer had more, or the platform cut it at its maximum)."""
    rows = sorted(rows, key=lambda row: (row.changed_at, _id_order(str(row.obj["Id"]))))
    fresh = [row for row in rows if _after(row, at)]
    handed, left = fresh[:limit], fresh[limit:]
    more = bool(left) or full
    if full and not handed:
        raise Transient(f"more than {len(rows)} QuickBooks {WIRE[entity].name} objects changed "
                        f"in the second {_iso(at.since)}, more than one answer holds: the feed "
                        "cannot page past them")
    since, seen = at.since, set(at.seen)
    if handed:
        last = handed[-1].changed_at
        if last > since:
            since, seen = last, set()
        seen |= {row.key for row in handed if row.changed_at == last}
    if not more and platform_now is not None:
        # Everything up to the platform's clock is read: a second back from it is safe to
        # resume at (a change stamped this second may still land after the answer).
        settled = _second(platform_now) - timedelta(seconds=1)
        if settled > since:
            since, seen = settled, set()
    changes = [change for row in handed if (change := change_of(entity, row)) is not None]
    return changes, Cursor(since, frozenset(seen)), more


def _after(row: _Row, at: Cursor) -> bool:
    return row.changed_at > at.since or (row.changed_at == at.since and row.key not in at.seen)


def change_of(entity: Entity, row: _Row) -> Change | None:
    """The engine's view of one changed QBO object; None for one that is not the entity's
    own (the payment that applies a credit memo)."""
    obj, when = row.obj, row.changed_at
    remote_id = str(obj["Id"])
    if obj.get("status") == "Deleted" or obj.get("Active") is False:
        return Change(entity, remote_id, ChangeKind.DELETED, when)
    if entity is Entity.PAYMENT and _credit_application(obj):
        return None
    if voided(obj):
        state = state_of(entity, obj) if entity is not Entity.PAYMENT else None
        return Change(entity, remote_id, ChangeKind.VOIDED, when, state=state)
    if entity is Entity.PAYMENT:
        return Change(entity, remote_id, ChangeKind.UPSERTED, when, payment=payment_of(obj))
    if entity is Entity.CUSTOMER:
        return Change(entity, remote_id, ChangeKind.UPSERTED, when, contact=contact_of(obj))
    if entity in (Entity.INVOICE, Entity.CREDIT_NOTE):
        return Change(entity, remote_id, ChangeKind.UPSERTED, when,
                      state=state_of(entity, obj))
    return Change(entity, remote_id, ChangeKind.UPSERTED, when)


def payment_of(obj: Body) -> RemotePayment:
    allocations = tuple(
        RemoteAllocation(str(linked["TxnId"]), _money(line.get("Amount")))
        for line in obj.get("Line") or [] for linked in line.get("LinkedTxn") or []
        if linked.get("TxnType") == "Invoice" and linked.get("TxnId") is not None)
    return RemotePayment(
        remote_id=str(obj["Id"]), customer_remote_id=_ref(obj, "CustomerRef"),
        date=date.fromisoformat(str(obj["TxnDate"])), amount=_money(obj.get("TotalAmt")),
        currency=_ref(obj, "CurrencyRef"), allocations=allocations,
        method=_ref(obj, "PaymentMethodRef"), reference=obj.get("PaymentRefNum"),
        mark=marked_id(obj.get("PrivateNote")))


def contact_of(obj: Body) -> RemoteContact:
    address = obj.get("BillAddr") or {}
    return RemoteContact(
        remote_id=str(obj["Id"]), display_name=str(obj.get("DisplayName", "")),
        email=(obj.get("PrimaryEmailAddr") or {}).get("Address"),
        phone=(obj.get("PrimaryPhone") or {}).get("FreeFormNumber"),
        company=obj.get("CompanyName"),
        address_lines=tuple(str(address[key]) for key in
                            ("Line1", "Line2", "Line3", "Line4", "Line5") if address.get(key)),
        city=address.get("City"), region=address.get("CountrySubDivisionCode"),
        postal_code=address.get("PostalCode"), country=address.get("Country"))


def state_of(entity: Entity, obj: Body) -> RemoteState:
    total = _money(obj.get("TotalAmt"))
    if entity is Entity.PAYMENT:
        balance = _money(obj.get("UnappliedAmt"))
        lines = len(obj.get("Line") or [])
        number = obj.get("PaymentRefNum")
    else:
        balance = _money(obj.get("Balance"))
        lines = sum(1 for line in obj.get("Line") or []
                    if line.get("DetailType") != "SubTotalLineDetail")
        number = obj.get("DocNumber")
    return RemoteState(remote_id=str(obj["Id"]), total=total, balance=balance,
                       status=_status(entity, obj, total, balance),
                       customer_remote_id=_ref(obj, "CustomerRef"), line_count=lines,
                       number=str(number) if number is not None else None)


def _status(entity: Entity, obj: Body, total: Decimal, balance: Decimal) -> str:
    if voided(obj):
        return "Voided"
    if entity is Entity.INVOICE:
        return "Paid" if balance == 0 else "Partially paid" if balance < total else "Open"
    return "Applied" if balance == 0 else "Partially applied" if balance < total \
        else "Unapplied"


def _credit_application(payment: Body) -> bool:
    return (marked_id(payment.get("PrivateNote")) or "").endswith(f":{CREDIT_PURPOSE}")


def _cdc_rows(body: Body, name: str) -> list[_Row]:
    answers = body.get("CDCResponse")
    if not isinstance(answers, list):
        raise Transient("QuickBooks answered a CDC read without a CDCResponse")
    return [_row(obj) for answer in answers if isinstance(answer, dict)
            for found in answer.get("QueryResponse") or [] if isinstance(found, dict)
            for obj in found.get(name) or []]


def _row(obj: Body) -> _Row:
    try:
        return _Row(obj, _instant((obj.get("MetaData") or {})["LastUpdatedTime"]))
    except (KeyError, TypeError, ValueError):
        raise Transient(f"QuickBooks answered object {obj.get('Id')!r} without a readable "
                        "MetaData.LastUpdatedTime") from None


def _look_back_refusal(response: httpx.Response) -> datetime | None:
    """The platform's time, when CDC refused a changedSince older than its look-back."""
    if response.status_code != 400:
        return None
    try:
        body = response.json()
        detail = " ".join(str(error.get("Detail", "")) for error in body["Fault"]["Error"])
        if "changedSince" in detail and "older than" in detail:
            return _instant(body["time"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def _instant(text: Any) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"not a time: {text!r}")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"a time without its offset: {text!r}")
    return moment.astimezone(UTC)


def _second(moment: datetime) -> datetime:
    """QBO stamps changes to the second: a finer time would skip the rest of its second."""
    return moment.astimezone(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _money(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def _ref(obj: Body, name: str) -> str | None:
    value = (obj.get(name) or {}).get("value")
    return str(value) if value is not None else None


def _id_order(object_id: str) -> tuple[int, str]:
    return (int(object_id), "") if object_id.isdigit() else (0, object_id)
