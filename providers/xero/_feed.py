"""The way back on Xero: its change feed (If-Modified-Since) and the drift audit's states.

Feed. `GET /{Resource}` with the `If-Modified-Since` header (objects whose UpdatedDateUTC is
after it), `order=UpdatedDateUTC ASC` and `page`/`pageSize`; Items, which Xero never pages,
in one answer. The cursor is `<since>:<page>:<latest stamp read>` (milliseconds), opaque to
the engine:

- a full page moves the cursor to just before its last object's stamp, page 1: the next
  read starts from there however the list shifted meanwhile (an object edited between two
  page reads moves to the end, which page numbers alone would miss). Objects sharing that
  stamp come again, which applying twice allows; when the whole page shares one stamp, the
  next page of the same read is asked for instead, so a burst of writes in one millisecond
  neither holds the feed in place nor is read twice;
- a short page is the end (`more` False): the cursor moves to the latest stamp the read saw.

What each object becomes (`Change`): an invoice or credit note its `RemoteState` (DELETED and
VOIDED statuses as those kinds; bills and supplier credits are not the ledger's and are left
out); a contact its `RemoteContact` (ARCHIVED, Xero's only deletion of a contact, as
DELETED; archived contacts are asked for with `includeArchived`); an item its id alone.

Payments. A Xero Payment pays one invoice, so what the ledger holds as one payment is a group
of them, read whole (one `where` request per group) whenever one of its parts changed:
syncdesk's own, by the marked Reference `find` reads (their remote id is the comma-joined
PaymentIDs, as the push links them); a person's batch payment (`PUT /BatchPayments`, a deposit
paying several invoices), by its BatchPaymentID, the ids sorted so a re-read names it the
same. Any other payment is its own. A group with no live part left is DELETED under the ids
of its parts. Refunds of credit notes and payments of bills are not the ledger's payments.
Overpayments (RECEIVE-OVERPAYMENT bank transactions) are not read by the feed: a person's
overpayment is not a payment of an invoice until it is allocated, and syncdesk's own are
compared by the audit.

Moving a payment: Xero cannot edit one; a person uses "Remove and Redo", which deletes it and
makes a new one with the same Reference on the other invoice. The feed says exactly that: the
old payment DELETED, the new one UPSERTED (carrying the mark, when it was syncdesk's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from engine import (
    Change,
    ChangeKind,
    ChangePage,
    Entity,
    RemoteAllocation,
    RemoteContact,
    RemotePayment,
    RemoteState,
    Unsupported,
    Validation,
)

from . import _mapping as wire
from ._dates import parse_ms_date, parse_wire_date
from ._mapping import OVERPAYMENT, PAGE_SIZE, RECEIVE_OVERPAYMENT, RESOURCES, SALES_TYPE, Json
from ._mapping import elements as _elements

_BY_INVOICE_PAYMENT = "ACCRECPAYMENT"
_ENDED = {"DELETED": ChangeKind.DELETED, "VOIDED": ChangeKind.VOIDED}


class Call(Protocol):
    def __call__(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                 headers: Mapping[str, str] | None = None) -> Awaitable[Json]: ...


Pages = Callable[[str, Mapping[str, str]], AsyncIterator[Json]]


async def read_changes(call: Call, entity: Entity, cursor: str | None, since: datetime,
                       limit: int) -> ChangePage:
    resource = RESOURCES[entity]
    after, page, high = _cursor(cursor) if cursor else (_millis(since), 1, 0)
    size = max(1, min(limit, PAGE_SIZE))
    params = {"order": "UpdatedDateUTC ASC"}
    paged = entity is not Entity.ITEM
    if paged:
        params.update(page=str(page), pageSize=str(size))
    if entity is Entity.CUSTOMER:
        params["includeArchived"] = "true"
    payload = await call("GET", f"/{resource.collection}", params=params,
                         headers={"If-Modified-Since": _header(after)})
    elements = _elements(payload, resource.collection)
    stamps = [_millis(_updated(e)) for e in elements]
    full = paged and len(elements) == size
    high = max([high, *stamps])
    if full and stamps[-1] - 1 > after and stamps[0] != stamps[-1]:
        following = (stamps[-1] - 1, 1, stamps[-1])
    elif full:
        following = (after, page + 1, high)
    else:
        following = (max(after, high), 1, 0)
    if entity is Entity.PAYMENT:
        changes = await _payment_changes(call, elements)
    else:
        changes = [change for e in elements if (change := _change(entity, e)) is not None]
    return ChangePage(changes=changes, cursor=":".join(map(str, following)), more=full)


async def list_states(call: Call, pages: Pages, entity: Entity) -> AsyncIterator[RemoteState]:
    """Documents by type (`where Type==`), live ones only; payments one state per Xero
    Payment (the audit sums a link's parts), then each syncdesk overpayment by its remote id,
    its balance the credit it has left."""
    if entity in SALES_TYPE:
        async for element in pages(RESOURCES[entity].collection,
                                   {"where": f'Type=="{SALES_TYPE[entity]}"'}):
            if element.get("Status") != "DELETED":
                yield _state(entity, element)
        return
    if entity is not Entity.PAYMENT:
        raise Unsupported(f"Xero's drift states are of documents and payments, not "
                          f"{entity.label}s")
    async for element in pages("Payments", {}):
        if element.get("Status") != "DELETED" and _is_invoice_payment(element):
            yield _payment_state(element)
    credit = {str(o["OverpaymentID"]): o async for o in pages("Overpayments", {})}
    async for transaction in pages("BankTransactions", {"where": RECEIVE_OVERPAYMENT}):
        if transaction.get("Status") == "DELETED":
            continue
        overpayment = credit.get(str(transaction.get("OverpaymentID")), {})
        left = overpayment.get("RemainingCredit")
        yield RemoteState(
            remote_id=OVERPAYMENT + str(transaction["BankTransactionID"]),
            total=_amount(transaction.get("Total")),
            balance=_amount(left) if left is not None else None,
            status=str(overpayment.get("Status") or transaction.get("Status")),
            customer_remote_id=_contact_id(transaction))


# -- one object, one change ------------------------------------------------------------------


def _change(entity: Entity, element: Json) -> Change | None:
    resource = RESOURCES[entity]
    remote_id = str(element[resource.id_field])
    changed_at = _updated(element)
    if entity in SALES_TYPE:
        if element.get("Type") != SALES_TYPE[entity]:
            return None
        state = _state(entity, element)
        kind = _ENDED.get(str(element.get("Status")), ChangeKind.UPSERTED)
        return Change(entity, remote_id, kind, changed_at,
                      state=None if kind is ChangeKind.DELETED else state)
    if entity is Entity.CUSTOMER:
        if element.get("ContactStatus") == "ARCHIVED":
            return Change(entity, remote_id, ChangeKind.DELETED, changed_at)
        return Change(entity, remote_id, ChangeKind.UPSERTED, changed_at,
                      contact=_contact(element))
    return Change(entity, remote_id, ChangeKind.UPSERTED, changed_at)


def _state(entity: Entity, element: Json) -> RemoteState:
    number = element.get(RESOURCES[entity].number_field)
    balance = element.get("AmountDue" if entity is Entity.INVOICE else "RemainingCredit")
    lines = element.get("LineItems")
    return RemoteState(
        remote_id=str(element[RESOURCES[entity].id_field]), total=_amount(element.get("Total")),
        balance=_amount(balance) if balance is not None else None,
        status=str(element.get("Status")) if element.get("Status") else None,
        customer_remote_id=_contact_id(element),
        line_count=len(lines) if isinstance(lines, list) else None,
        number=str(number) if number is not None else None)


def _contact(element: Json) -> RemoteContact:
    phones = {p.get("PhoneType"): p.get("PhoneNumber") for p in element.get("Phones") or []
              if p.get("PhoneNumber")}
    addresses = {a.get("AddressType"): a for a in element.get("Addresses") or []}
    # POBOX is the billing address syncdesk writes and Xero prints on invoices.
    address = addresses.get("POBOX") or addresses.get("STREET") or {}
    return RemoteContact(
        remote_id=str(element["ContactID"]), display_name=str(element.get("Name") or ""),
        email=element.get("EmailAddress") or None,
        phone=phones.get("DEFAULT") or phones.get("MOBILE"),
        address_lines=tuple(str(address[f"AddressLine{n}"]) for n in range(1, 5)
                            if address.get(f"AddressLine{n}")),
        city=address.get("City") or None, region=address.get("Region") or None,
        postal_code=address.get("PostalCode") or None, country=address.get("Country") or None)


# -- payments, by the group the ledger knows as one ----------------------------------------


async def _payment_changes(call: Call, elements: Sequence[Json]) -> list[Change]:
    changes: list[Change] = []
    groups: dict[str, list[Json]] = {}
    for element in elements:
        if not _is_invoice_payment(element):
            continue
        group = _group_filter(element)
        if group is None:
            kind = ChangeKind.DELETED if element.get("Status") == "DELETED" \
                else ChangeKind.UPSERTED
            changes.append(_payment_change([element], kind))
        else:
            groups.setdefault(group, []).append(element)
    for group, changed in groups.items():
        found = _elements(await call("GET", "/Payments", params={"where": group}), "Payments")
        members = [m for m in found if _is_invoice_payment(m) and _group_filter(m) == group]
        batch = bool(changed[0].get("BatchPaymentID")) and wire.marked_id(
            changed[0].get("Reference")) is None
        if batch:
            members.sort(key=lambda m: str(m["PaymentID"]))
        live = [m for m in members if m.get("Status") != "DELETED"]
        if live:
            changes.append(_payment_change(live, ChangeKind.UPSERTED))
        elif batch:  # deleted whole: under the ids it was read (and imported) by
            changes.append(_payment_change(members or changed, ChangeKind.DELETED))
        else:
            # syncdesk's, every part gone: each part that went since the cursor names the
            # link it belongs to (an edit's push deleted earlier generations long ago).
            changes += [_payment_change([part], ChangeKind.DELETED) for part in changed]
    return changes


def _group_filter(element: Json) -> str | None:
    """The `where` that reads the whole of the payment this part belongs to, if it is part
    of one: syncdesk's by its marked Reference, a person's batch by its id."""
    reference = element.get("Reference")
    if wire.marked_id(reference) is not None:
        return wire.where_equals("Reference", str(reference))
    if element.get("BatchPaymentID"):
        return f'BatchPaymentID==Guid("{element["BatchPaymentID"]}")'
    return None


def _payment_change(parts: Sequence[Json], kind: ChangeKind) -> Change:
    remote_id = ",".join(str(p["PaymentID"]) for p in parts)
    changed_at = max(_updated(p) for p in parts)
    if kind is not ChangeKind.UPSERTED:
        return Change(Entity.PAYMENT, remote_id, kind, changed_at)
    first = parts[0]
    reference = str(first.get("Reference") or "")
    mark = wire.marked_id(reference)
    own = reference.rpartition(" ")[0] if mark is not None else reference
    invoice = first.get("Invoice") or {}
    return Change(Entity.PAYMENT, remote_id, kind, changed_at, payment=RemotePayment(
        remote_id=remote_id, customer_remote_id=_contact_id(invoice),
        date=parse_wire_date(str(first["Date"])),
        amount=sum((_amount(p.get("Amount")) for p in parts), Decimal(0)),
        currency=invoice.get("CurrencyCode") or None,
        allocations=tuple(RemoteAllocation(str((p.get("Invoice") or {}).get("InvoiceID")),
                                           _amount(p.get("Amount"))) for p in parts),
        reference=own or None, mark=mark))


def _payment_state(element: Json) -> RemoteState:
    return RemoteState(remote_id=str(element["PaymentID"]), total=_amount(element.get("Amount")),
                       status=str(element.get("Status") or "AUTHORISED"),
                       customer_remote_id=_contact_id(element.get("Invoice") or {}))


def _is_invoice_payment(element: Json) -> bool:
    """A payment of a sales invoice: not a refund of a credit note, not a bill's payment."""
    kind = element.get("PaymentType")
    return "Invoice" in element and (kind is None or kind == _BY_INVOICE_PAYMENT)


# -- wire details ----------------------------------------------------------------------------


def _cursor(cursor: str) -> tuple[int, int, int]:
    """`<after>:<page>:<latest stamp seen on this read's earlier pages>`, all milliseconds."""
    try:
        after, page, high = (int(part) for part in cursor.split(":"))
        return after, max(page, 1), high
    except ValueError:
        raise Validation(f"not a Xero feed cursor: {cursor!r}") from None


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _header(millis: int) -> str:
    """If-Modified-Since as the SDKs send it: ISO 8601 UTC, to the millisecond."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _updated(element: Json) -> datetime:
    stamp = element.get("UpdatedDateUTC")
    if not isinstance(stamp, str):
        return datetime(1970, 1, 1, tzinfo=UTC)
    return parse_ms_date(stamp)


def _contact_id(element: Mapping[str, Any]) -> str | None:
    contact = element.get("Contact") or {}
    return str(contact["ContactID"]) if contact.get("ContactID") else None


def _amount(value: object) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


