"""Wave's change feed: its list connections filtered by `modifiedAtAfter`, as the port's
changes, and what Wave cannot feed at all.

Wave has no change feed and sends no webhooks (PLATFORMS.md §3.7): polling `customers`,
`products` and `invoices` with `modifiedAtAfter` (strictly after, as the sandbox reads it),
`sort: [MODIFIED_AT_ASC]`, page by page, is all there is. The position resumes by keyset: the
`modifiedAt` of the last object taken and what was taken in the millisecond before it; the
next read asks from that millisecond (Wave's precision is UNCERTAIN, so a tie at the boundary
is read again rather than lost), skips whole pages of what it took, and passes over the rest.

What Wave cannot say, and the feed does not pretend to:
- payments: the public API has no payment list or read of any kind, so a payment a person
  records in Wave reaches syncdesk only as its invoice's `amountDue` and status, in the
  invoice's state; credit notes do not exist in the public API;
- deletions: `invoiceDelete` and `customerDelete` remove the object, and a list filtered by
  `modifiedAtAfter` never shows what is gone. A deleted invoice or customer is found by the
  weekly link check (`fetch` answers None), not by the feed. A product is never deleted, only
  archived (`productArchive`), and an archived product comes back as DELETED, as `fetch`
  counts it gone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from engine import Change, ChangeKind, Entity, RemoteContact, RemoteState

from ._errors import Json

OVERLAP = timedelta(milliseconds=1)
FEEDS: Mapping[Entity, str] = {Entity.CUSTOMER: "customers", Entity.ITEM: "products",
                               Entity.INVOICE: "invoices"}
"""The entities Wave can feed, by the business's connection that lists them."""
UNFED: Mapping[Entity, str] = {
    Entity.PAYMENT: (
        "Wave's public API has no list or read of payments: a payment recorded in Wave "
        "shows only as its invoice's amount due and status, which the invoice feed reads"),
    Entity.CREDIT_NOTE: "Wave's public API has no credit notes",
}
"""Why an entity has no feed on Wave, in words the console shows."""


@dataclass
class Position:
    """The `modifiedAt` of the last object taken, and every object taken within `OVERLAP`
    before it (id → its `modifiedAt` and a digest of it): those the next read meets again
    first. The digest tells an edit from a re-read should Wave's clock be coarser than it
    looks (its precision is UNCERTAIN)."""

    after: datetime
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def start(cls, cursor: str | None, since: datetime) -> Position:
        if cursor is None:
            return cls(since)
        try:
            raw = json.loads(cursor)
            return cls(_moment(raw["after"]), {str(k): (str(v[0]), str(v[1]))
                                               for k, v in raw["seen"].items()})
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            raise ValueError(f"not a Wave feed cursor: {cursor!r}") from None

    @property
    def bound(self) -> str:
        """What `modifiedAtAfter` is asked: a little before the last object taken."""
        return (self.after - OVERLAP).isoformat()

    def passed(self, node: Mapping[str, Any]) -> bool:
        return self.seen.get(str(node["id"])) == _print(node)

    def take(self, node: Mapping[str, Any]) -> None:
        modified = _moment(node["modifiedAt"])
        if modified > self.after:
            self.after = modified
            self.seen = {k: v for k, v in self.seen.items()
                         if _moment(v[0]) > modified - OVERLAP}
        self.seen[str(node["id"])] = _print(node)

    def page(self, page_size: int) -> int:
        """The first page that can hold an object not yet taken: the overlap's objects, all
        taken, come first in `MODIFIED_AT_ASC` order."""
        return 1 + len(self.seen) // page_size

    def text(self) -> str:
        return json.dumps({"after": self.after.isoformat(), "seen": self.seen},
                          separators=(",", ":"))


def change(entity: Entity, node: Json) -> Change:
    remote_id, changed_at = str(node["id"]), _moment(node["modifiedAt"])
    if entity is Entity.CUSTOMER:
        return Change(entity, remote_id, ChangeKind.UPSERTED, changed_at, contact=contact(node))
    if entity is Entity.INVOICE:
        return Change(entity, remote_id, ChangeKind.UPSERTED, changed_at, state=state(node))
    kind = ChangeKind.DELETED if node.get("isArchived") else ChangeKind.UPSERTED
    return Change(entity, remote_id, kind, changed_at)


def contact(node: Json) -> RemoteContact:
    address = node.get("address") or {}
    province = (address.get("province") or {}).get("code")
    country = (address.get("country") or {}).get("code")
    return RemoteContact(
        remote_id=str(node["id"]), display_name=str(node["name"]),
        email=node.get("email") or None, phone=node.get("phone") or None,
        address_lines=tuple(str(line) for line in (address.get("addressLine1"),
                                                   address.get("addressLine2")) if line),
        city=address.get("city") or None,
        # Wave's province code is ISO 3166-2 ("US-OR"); the ledger keeps the region alone.
        region=str(province).rpartition("-")[2] if province else None,
        postal_code=address.get("postalCode") or None, country=country or None)


def state(node: Json) -> RemoteState:
    return RemoteState(
        remote_id=str(node["id"]), total=Decimal(str(node["total"]["value"])),
        balance=Decimal(str(node["amountDue"]["value"])), status=str(node["status"]),
        customer_remote_id=str(node["customer"]["id"]), line_count=len(node["items"]),
        number=str(node["invoiceNumber"]))


def _print(node: Mapping[str, Any]) -> tuple[str, str]:
    text = json.dumps(node, sort_keys=True, separators=(",", ":"), default=str)
    return str(node["modifiedAt"]), hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
