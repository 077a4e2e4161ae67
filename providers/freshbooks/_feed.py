"""FreshBooks' change feed: list reads by `updated`, and its rows as the port's changes.

FreshBooks has no change feed of its own, only lists that filter on the last change
(`search[updated_min]`, inclusive, to the second, US/Eastern) and sort by it
(`sort=updated_asc`, the SDKs' `<field>_asc` form), 100 a page. UNCERTAIN: FreshBooks' docs
show the bound as a date (`2020-11-14`); it is sent here as its own timestamp text
(`2020-11-14 09:30:00`), and with a date alone the feed would re-read up to a day, never
miss one. Deleted objects (`vis_state` 1) are listed only when asked
(`search[vis_state]=1`), so the feed is two streams per entity, read one after the other:
what is live (upserts) and what was deleted (FreshBooks' API has no void: a voided record
is a deleted one here, restorable in FreshBooks).

Each stream resumes by keyset, never by page number alone: its position is the `updated`
second of the last row taken and the rows taken at that second (a digest of each). The next
read asks from that second again and passes over those rows as they were, skipping whole
pages of them; one edited within that same second differs, and is read again. A page number held
across reads would skip a row whenever an earlier one is edited meanwhile (it moves to the
end and every row after it shifts up one place); a bound by time alone would read the same
second forever when more than a page of objects share it (an import). The cursor is that
position of both streams as JSON text, opaque to the engine.

What a row becomes:
- a payment, a `RemotePayment` with one allocation: FreshBooks' payment has one `invoiceid`,
  so a payment a person records across two invoices is two payments there, and two changes
  here; a payment syncdesk split over invoices is several payments carrying the same mark.
  `mark` is the record id of our marker in the note (`_mapping.marker`, what `find` reads),
  and `reference` the note without it. A payment of type "Credit" applies a credit note and
  is no money received: it is left out (the credit note's own state says it).
  UNCERTAIN: a payment above what its invoice owed books the excess as a client credit
  (`overpaymentid`), and FreshBooks' payment does not say how much of it that was; the
  allocation is then the whole amount.
- a client, a `RemoteContact` (organization, else first and last name, as `list_customers`);
- an invoice or credit note, its `RemoteState` (total, outstanding, FreshBooks' status word,
  client, lines when listed, number);
- an item, the bare change: nothing of an item comes back into the ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from engine import (
    Change,
    ChangeKind,
    Entity,
    RemoteAllocation,
    RemoteContact,
    RemotePayment,
    RemoteState,
)

from ._dates import eastern, parse_eastern
from ._mapping import CREDIT_PAYMENT_TYPE, Json, amount_of, marked_id, marker

LIVE = "0"
DELETED = "1"
STREAMS = (LIVE, DELETED)
"""`search[vis_state]` of each stream, in the order a read takes them."""
SORT = "updated_asc"


@dataclass
class Position:
    """Where one stream has got to: the `updated` second (FreshBooks' own text) of the last
    row taken, and what each row taken at that second looked like (id → digest)."""

    after: str
    seen: dict[str, str] = field(default_factory=dict)

    def passed(self, row: Mapping[str, Any]) -> bool:
        """Taken before, as it is now. An edit within the same second leaves `updated` as it
        was (FreshBooks stamps to the second), so the row itself tells it from a re-read."""
        return row.get("updated") == self.after and self.seen.get(str(row["id"])) == digest(row)

    def take(self, row: Mapping[str, Any]) -> None:
        updated = str(row.get("updated") or self.after)
        if updated != self.after:
            self.after, self.seen = updated, {}
        self.seen[str(row["id"])] = digest(row)

    def page(self, per_page: int) -> int:
        """The first page that can hold a row not yet taken: those taken at `after` come
        first in `updated_asc` order."""
        return 1 + len(self.seen) // per_page


@dataclass
class Cursor:
    streams: dict[str, Position]

    @classmethod
    def start(cls, cursor: str | None, since: datetime) -> Cursor:
        if cursor is None:
            return cls({vis: Position(eastern(since)) for vis in STREAMS})
        try:
            raw = json.loads(cursor)
            return cls({vis: Position(str(raw[vis]["after"]), {
                str(k): str(v) for k, v in raw[vis]["seen"].items()}) for vis in STREAMS})
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValueError(f"not a FreshBooks feed cursor: {cursor!r}") from None

    def text(self) -> str:
        return json.dumps({vis: {"after": p.after, "seen": p.seen}
                           for vis, p in self.streams.items()}, separators=(",", ":"))


def digest(row: Mapping[str, Any]) -> str:
    """A short fingerprint of a row as FreshBooks answered it."""
    text = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def skipped(entity: Entity, row: Mapping[str, Any]) -> bool:
    """A row the feed reads past without a change: a credit note applied by a payment."""
    return entity is Entity.PAYMENT and row.get("type") == CREDIT_PAYMENT_TYPE


def change(entity: Entity, row: Json, vis: str) -> Change:
    remote_id = str(row["id"])
    changed_at = parse_eastern(str(row["updated"]))
    if vis == DELETED:
        return Change(entity, remote_id, ChangeKind.DELETED, changed_at)
    if entity is Entity.PAYMENT:
        return Change(entity, remote_id, ChangeKind.UPSERTED, changed_at, payment=payment(row))
    if entity is Entity.CUSTOMER:
        return Change(entity, remote_id, ChangeKind.UPSERTED, changed_at, contact=contact(row))
    if entity in (Entity.INVOICE, Entity.CREDIT_NOTE):
        return Change(entity, remote_id, ChangeKind.UPSERTED, changed_at,
                      state=state(entity, row))
    return Change(entity, remote_id, ChangeKind.UPSERTED, changed_at)


def payment(row: Json) -> RemotePayment:
    note = str(row.get("note") or "")
    mark = marked_id(note)
    reference = note.replace(marker(mark), "").strip() if mark else note.strip()
    amount = row.get("amount")
    money = amount_of(amount)
    return RemotePayment(
        remote_id=str(row["id"]), customer_remote_id=_text(row.get("clientid")),
        date=date.fromisoformat(str(row["date"])[:10]), amount=money,
        currency=_text(amount.get("code")) if isinstance(amount, Mapping) else None,
        allocations=(RemoteAllocation(str(row["invoiceid"]), money),),
        method=_text(row.get("type")), reference=reference or None, mark=mark)


def contact(row: Json) -> RemoteContact:
    person = " ".join(filter(None, (row.get("fname"), row.get("lname"))))
    return RemoteContact(
        remote_id=str(row["id"]), display_name=str(row.get("organization") or person),
        email=_text(row.get("email")), phone=_text(row.get("bus_phone") or row.get("mob_phone")),
        company=_text(row.get("organization")),
        address_lines=tuple(str(line) for line in (row.get("p_street"), row.get("p_street2"))
                            if line),
        city=_text(row.get("p_city")), region=_text(row.get("p_province")),
        postal_code=_text(row.get("p_code")), country=_text(row.get("p_country")))


def state(entity: Entity, row: Json) -> RemoteState:
    """What the drift audit compares: an invoice or credit note, or a payment."""
    lines = row.get("lines")
    if entity is Entity.PAYMENT:
        return RemoteState(remote_id=str(row["id"]), total=amount_of(row.get("amount")),
                           customer_remote_id=_text(row.get("clientid")))
    invoice = entity is Entity.INVOICE
    return RemoteState(
        remote_id=str(row["id"]), total=amount_of(row.get("amount")),
        balance=amount_of(row.get("outstanding" if invoice else "balance")),
        status=_text(row.get("v3_status" if invoice else "display_status")),
        customer_remote_id=_text(row.get("customerid" if invoice else "clientid")),
        line_count=len(lines) if isinstance(lines, list) else None,
        number=_text(row.get("invoice_number" if invoice else "credit_number")))


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
