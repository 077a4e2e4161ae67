"""The FreshBooks `Provider`: pushes records to one account's accounting API.

Wire habits (PLATFORMS.md §4): `POST` creates, `PUT …/{id}` updates, bodies and answers are
wrapped (`{"invoice": {…}}` in, `{"response": {"result": {"invoice": {…}}}}` out). There is
no batch endpoint and no idempotency key, so every write is one request, and after an
uncertain outcome the engine calls `find`, which looks the object up by what the business
knows it by and returns it only if it carries our marker (`_mapping.marker`) — someone
else's client, item or invoice with the same name or number is never ours.

Lifecycle, the way FreshBooks does it:
- a sent invoice is created, then marked sent (`PUT {"action_mark_as_sent": true}`);
- FreshBooks' API has no void: voiding and deleting are both its soft delete (`vis_state` 1,
  restorable in FreshBooks), `DELETE` for an invoice, `PUT {"vis_state": 1}` for a credit note
  or payment; `fetch` reports deleted objects as gone. An invoice with payments applied is
  refused instead, naming them, since FreshBooks would delete it from under them;
- a payment edit that changes its money is delete + record again (`_replace_payment`);
- every document's total as FreshBooks computed it is compared with the ledger's: a
  difference is `TotalMismatch`, the document staying linked so a retry updates it.

Whole or not at all: when a later step of one push fails (marking sent, applying a credit
note, the second part of a split payment), what the push already created is deleted again
before the error is raised, so a retry never leaves a half-pushed twin behind. The step that
failed is often a 429 and then the undo gets one too: it is tried again (`UNDO_WAITS`), and
if it still cannot land the push ends `Transient` ("unknown until reconciled"), never with the
step's own error — a `RateLimited` makes the engine send the create again without `find`,
which then collides with our own leftover ("Invoice number already exists."). `find` treats
what such a push left (a draft invoice, a credit note not fully applied, part of a payment)
as ours cut short: it finishes the invoice, and deletes the others so they are pushed whole.

The way back (`_feed`): `read_changes` reads each entity's list by `updated` through the
budget, live objects then deleted ones, resuming by keyset from an opaque cursor;
`list_states` reads documents' and payments' states in list pages. Webhooks: FreshBooks
posts to a callback registered here (`register_webhook`) only after its verifier came back
(`confirm_webhook`, with what `FreshBooksWebhooks` put in `WebhookReply.confirm`).

Payments. A FreshBooks payment has one `invoiceid`, so a local payment over several invoices
becomes several payments; the remote id is their ids comma-joined in allocation order (as
for Xero). Money beyond the allocations (an overpayment) rides on the part that settles its
invoice: FreshBooks books the excess as a credit on the client (`overpaymentid`). A payment
with unapplied money but no invoice it settles is `Unsupported`, never pushed short.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import httpx

from engine import (
    Change,
    ChangePage,
    ConnectionSettings,
    CreditNote,
    Customer,
    Entity,
    Invoice,
    InvoiceStatus,
    Item,
    NotFound,
    Operation,
    Payment,
    PushRequest,
    Quota,
    RateLimited,
    Record,
    RemoteAccount,
    RemoteCustomer,
    RemoteItem,
    RemoteOption,
    RemoteRef,
    RemoteState,
    RemoteTaxCode,
    SyncError,
    TokenSource,
    TotalMismatch,
    Transient,
    Unsupported,
    Validation,
)
from providers._http import ApiClient
from providers._refunds import refuse_refunds

from . import _feed as feed
from . import _mapping as wire
from ._auth import accounting_base, api_base
from ._errors import error_from_response, malformed
from ._mapping import RESOURCES, TAXES, Json, Resource, amount_of, marked_id, marker

PER_PAGE = 100
"""FreshBooks silently caps `per_page` at 100: ask for that and follow `pages`."""
ACTIVE = {"search[vis_state]": "0"}
LINES = {"include[]": "lines"}
"""Lists leave a document's lines out unless asked (FreshBooks' `include[]`)."""
_DOCUMENTS = frozenset({Entity.INVOICE, Entity.CREDIT_NOTE})
_STATES = frozenset({Entity.INVOICE, Entity.CREDIT_NOTE, Entity.PAYMENT})
_REMOVALS = frozenset({Operation.VOID, Operation.DELETE})
_NO_OPTIONS: tuple[RemoteOption, ...] = ()
UNDO_WAITS = (0.25, 1.0, 4.0)
"""Seconds between tries of an undo refused for load (429, 5xx, no answer); FreshBooks says
nothing about how long to wait, and its 429s come from bursts more than from a quota."""


class FreshBooksProvider:
    def __init__(self, settings: ConnectionSettings, tokens: TokenSource, *,
                 undo_waits: Sequence[float] = UNDO_WAITS) -> None:
        self._api = ApiClient(settings, tokens, base_url=accounting_base(settings))
        self._callbacks = (f"{api_base(settings)}/events/account/{settings.tenant_id}"
                           "/events/callbacks")
        self._rates: dict[str, Decimal] | None = None
        self._undo_waits = tuple(undo_waits)

    # -- writes ----------------------------------------------------------------------------

    async def push(self, request: PushRequest) -> RemoteRef:
        if request.entity is Entity.PAYMENT:
            return await self._push_payment(request)
        if request.operation in _REMOVALS:
            return await self._remove(request)
        refuse_refunds(request, "FreshBooks", wire.REFUNDS_UNSUPPORTED)
        resource = RESOURCES[request.entity]
        if request.operation is Operation.UPDATE:
            return await self._update(request, resource)
        element = await self._write("POST", resource.path, resource, await self._body(request))
        ref = resource.ref(element)
        # Before the later steps: a document with the wrong total stays as it landed, linked
        # by the mismatch, and the retry updates it (a credit note is applied only then).
        _check_total(request, element, ref)
        try:
            return await self._complete(request, ref) or ref
        except SyncError as error:
            await self._undo(request.entity, [ref.remote_id], error)
            raise

    async def push_batch(self, requests: Sequence[PushRequest]) -> Sequence[RemoteRef | SyncError]:
        """FreshBooks has no batch writes: one request each, errors kept per element."""
        results: list[RemoteRef | SyncError] = []
        for request in requests:
            try:
                results.append(await self.push(request))
            except SyncError as exc:
                results.append(exc)
        return results

    async def _update(self, request: PushRequest, resource: Resource) -> RemoteRef:
        remote_id = _link(request).remote_id
        if request.entity is Entity.CREDIT_NOTE:
            current = await self._get(resource, remote_id)
            if current is None:
                raise NotFound(f"FreshBooks credit note {remote_id} no longer exists")
            if amount_of(current.get("applied")) > 0:
                raise Unsupported("FreshBooks does not change a credit note once credit from "
                                  "it is applied: void it and issue a new one")
        body = await self._body(request)
        if isinstance(request.record, Invoice) and request.record.status is InvoiceStatus.SENT:
            body["action_mark_as_sent"] = True
        element = await self._write("PUT", f"{resource.path}/{remote_id}", resource, body)
        ref = resource.ref(element)
        _check_total(request, element, ref)
        if request.entity is Entity.CREDIT_NOTE:
            await self._complete(request, ref)
        return ref

    async def _body(self, request: PushRequest) -> Json:
        record = request.record
        if isinstance(record, Customer):
            return wire.client(record)
        if isinstance(record, Item):
            return wire.item(record)
        if isinstance(record, Invoice):
            return wire.invoice(request, record, await self._rates_for(request, record))
        if isinstance(record, CreditNote):
            return wire.credit_note(request, record, await self._rates_for(request, record))
        raise TypeError(f"no FreshBooks body for {type(record).__name__}")

    async def _complete(self, request: PushRequest, ref: RemoteRef) -> RemoteRef | None:
        """The steps after a create that FreshBooks takes as separate requests."""
        record = request.record
        if isinstance(record, Invoice) and record.status is InvoiceStatus.SENT:
            resource = RESOURCES[Entity.INVOICE]
            sent = await self._write("PUT", f"{resource.path}/{ref.remote_id}", resource,
                                     {"action_mark_as_sent": True})
            return resource.ref(sent)
        if isinstance(record, CreditNote):
            payments = RESOURCES[Entity.PAYMENT]
            for allocation in record.allocations:
                invoice_id = wire.linked(request, Entity.INVOICE, allocation.invoice_id).remote_id
                await self._write("POST", payments.path, payments, wire.credit_application(
                    invoice_id, ref.remote_id, allocation.amount, record))
        return None

    async def _remove(self, request: PushRequest) -> RemoteRef:
        """Void and delete are one thing on FreshBooks: its API has no void, only the delete
        (`vis_state` 1) that keeps the object among its deleted ones, restorable there.
        A draft invoice and a sent one go the same way; one with payments applied does not.
        An object already gone counts as done: an earlier delete landed, its answer lost."""
        link = _link(request)
        resource = RESOURCES[request.entity]
        if request.entity is Entity.INVOICE:
            current = await self._get(resource, link.remote_id)
            if current is not None:
                await self._refuse_paid(current)
                with suppress(NotFound):
                    await self._call("DELETE", f"{resource.path}/{link.remote_id}")
        elif request.entity is Entity.CREDIT_NOTE:
            # FreshBooks takes back the credit it applied along with the note.
            with suppress(NotFound):
                await self._write("PUT", f"{resource.path}/{link.remote_id}", resource,
                                  {"vis_state": 1})
        else:
            raise Unsupported(f"syncdesk does not {request.operation.value} a "
                              f"{request.entity.label} on FreshBooks: it keeps {resource.plural}"
                              " with their history — archive it in FreshBooks")
        return link

    async def _refuse_paid(self, invoice: Json) -> None:
        """Deleting a paid invoice would leave its payments without it: refused, naming them."""
        paid = amount_of(invoice.get("paid"))
        if paid <= 0:
            return
        payments = await self._search(RESOURCES[Entity.PAYMENT],
                                      {"search[invoiceid]": str(invoice["id"])})
        named = "; ".join(_described(row) for row in payments) or f"{paid} paid"
        raise Validation(
            f"FreshBooks invoice {invoice.get('invoice_number')} has payments applied "
            f"({named}): FreshBooks would delete it with them — void or delete those payments "
            "first, then retry", code="INVOICE_PAID")

    async def _undo(self, entity: Entity, remote_ids: Sequence[str],
                    cause: SyncError | None = None) -> None:
        """Delete what a failed push created, trying again while FreshBooks is busy.

        Raises `Transient` when something could not be deleted: it still holds our number (or
        money), so the engine must reconcile through `find` before it sends the push again.
        """
        left: list[str] = []
        last: SyncError | None = None
        for remote_id in remote_ids:
            try:
                await self._delete_retrying(entity, remote_id)
            except SyncError as exc:
                left.append(remote_id)
                last = exc
        if last is not None:
            why = f" after {cause.message}" if cause is not None else ""
            raise Transient(
                f"FreshBooks {RESOURCES[entity].single} {', '.join(left)} of a push cut "
                f"short{why} could not be deleted again ({last.message}); the outcome is "
                "unknown until reconciled") from last

    async def _delete_retrying(self, entity: Entity, remote_id: str) -> None:
        resource = RESOURCES[entity]
        for wait in (*self._undo_waits, None):
            try:
                if entity is Entity.INVOICE:
                    await self._call("DELETE", f"{resource.path}/{remote_id}")
                else:
                    await self._write("PUT", f"{resource.path}/{remote_id}", resource,
                                      {"vis_state": 1})
                return
            except NotFound:
                return  # already gone: what the undo was for
            except (RateLimited, Transient):
                if wait is None:
                    raise
                await asyncio.sleep(wait)

    async def _push_payment(self, request: PushRequest) -> RemoteRef:
        record = cast(Payment, request.record)
        if request.operation in _REMOVALS:
            for remote_id in _link(request).remote_id.split(","):
                with suppress(NotFound):  # already gone: what removing it was for
                    await self._delete_payment(remote_id)
            return _link(request)
        kind = wire.payment_type(request, record)
        parts = [(wire.linked(request, Entity.INVOICE, a.invoice_id).remote_id, a.amount)
                 for a in record.allocations]
        if not parts:
            raise Unsupported(f"payment {record.id} applies to no invoice: a FreshBooks "
                              "payment is always recorded against one invoice")
        if request.operation is Operation.UPDATE:
            return await self._replace_payment(_link(request), record, kind, parts)
        return await self._create_payment(record, kind, parts)

    async def _create_payment(self, record: Payment, kind: str,
                              parts: list[tuple[str, Decimal]]) -> RemoteRef:
        if record.unapplied > 0:
            parts = await self._with_overpayment(record, parts)
        resource = RESOURCES[Entity.PAYMENT]
        created: list[str] = []
        try:
            for invoice_id, amount in parts:
                element = await self._write("POST", resource.path, resource,
                                            wire.payment(invoice_id, amount, record, kind))
                created.append(str(element["id"]))
        except SyncError as error:
            await self._undo(Entity.PAYMENT, created, error)
            raise
        return RemoteRef(remote_id=",".join(created))

    async def _replace_payment(self, link: RemoteRef, record: Payment, kind: str,
                               parts: list[tuple[str, Decimal]]) -> RemoteRef:
        """An edited payment. FreshBooks never changes a payment's amount or invoice, so
        when those changed the old parts are deleted and the payment recorded again, marked
        as ours like any create; only type, date and note are edited in place.

        Exactly once: a re-create whose answer was lost is found by `find` (old parts are
        deleted first, so only the new ones carry the mark live), and an update sent again
        without `find` adopts the marked parts it finds instead of recording a third."""
        resource = RESOURCES[Entity.PAYMENT]
        old_ids = link.remote_id.split(",")
        old = [await self._get(resource, remote_id) for remote_id in old_ids]
        live = [row for row in old if row is not None]
        if len(live) == len(old) and _same_money(live, record, parts):
            for remote_id in old_ids:
                await self._write("PUT", f"{resource.path}/{remote_id}", resource,
                                  wire.payment_details(record, kind))
            return link
        for row in live:
            await self._delete_payment(str(row["id"]))
        again = [row_id for row_id in await self._marked_payments(record)
                 if row_id not in old_ids]
        if again and len(again) == len(parts):
            return RemoteRef(remote_id=",".join(again))
        await self._undo(Entity.PAYMENT, again)
        return await self._create_payment(record, kind, parts)

    async def _delete_payment(self, payment_id: str) -> None:
        resource = RESOURCES[Entity.PAYMENT]
        await self._write("PUT", f"{resource.path}/{payment_id}", resource, {"vis_state": 1})

    async def _with_overpayment(self, record: Payment,
                                parts: list[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
        """Put the unapplied money on a part that settles its invoice (FreshBooks credits
        the excess to the client); refuse when no part does."""
        resource = RESOURCES[Entity.INVOICE]
        for index in reversed(range(len(parts))):
            invoice_id, amount = parts[index]
            invoice = await self._get(resource, invoice_id)
            if invoice is not None and amount_of(invoice.get("outstanding")) == amount:
                parts = list(parts)
                parts[index] = (invoice_id, amount + record.unapplied)
                return parts
        raise Unsupported(
            f"payment {record.id} leaves {record.unapplied} unapplied and settles none of its "
            "invoices: FreshBooks turns extra money into a client credit only on a payment "
            "that pays its invoice in full — allocate it, or record the credit in FreshBooks")

    async def _rates_for(self, request: PushRequest,
                         record: Invoice | CreditNote) -> dict[str, Decimal]:
        """The account's taxes (name → rate), read once, and again when a mapping names one
        the last reading did not have (created in FreshBooks since)."""
        if not wire.taxed(record):
            return {}
        mapped = {request.mappings.tax_codes.get(line.tax_code or "") for line in record.lines}
        if self._rates is None or not mapped - {None} <= self._rates.keys():
            self._rates = {tax.code: tax.rate async for tax in self.list_tax_codes()
                           if tax.rate is not None}
        return self._rates

    # -- reads -----------------------------------------------------------------------------

    async def fetch(self, entity: Entity, remote_id: str) -> RemoteRef | None:
        resource = RESOURCES[entity]
        if entity is not Entity.PAYMENT:
            element = await self._get(resource, remote_id)
            return resource.ref(element) if element is not None else None
        for one in remote_id.split(","):
            if await self._get(resource, one) is None:
                return None
        return RemoteRef(remote_id=remote_id)

    async def list_remote(self, entity: Entity) -> AsyncIterator[RemoteRef]:
        """Every live object (`vis_state` 0, as `fetch` counts them), 100 a page."""
        resource = RESOURCES[entity]
        async for row in self._pages(resource):
            yield RemoteRef(remote_id=str(row["id"]))

    async def find(self, entity: Entity, record: Record) -> RemoteRef | None:
        resource = RESOURCES[entity]
        if isinstance(record, Customer):
            return await self._find_client(resource, record)
        if isinstance(record, Item):
            for row in await self._search(resource, {"search[name]": record.name}):
                if row.get("description") == marker(record.id):
                    return resource.ref(row)
            return None
        if isinstance(record, Invoice | CreditNote):
            return await self._find_document(resource, record)
        if isinstance(record, Payment):
            return await self._find_payment(record)
        raise TypeError(f"cannot look up {entity} {type(record).__name__}")

    async def _find_client(self, resource: Resource, record: Customer) -> RemoteRef | None:
        """By email, then by name; only a client carrying our marker is ours."""
        lookups = [{"search[email]": record.email}] if record.email else []
        lookups.append({"search[organization_like]": record.display_name})
        for params in lookups:
            for row in await self._search(resource, params):
                if marker(record.id) in str(row.get("note") or ""):
                    return resource.ref(row)
        return None

    async def _find_document(self, resource: Resource,
                             record: Invoice | CreditNote) -> RemoteRef | None:
        """By number; only the one whose `po_number` carries our marker is ours.

        Ours but cut short (its create landed, a later step did not, and neither did the
        undo): a draft invoice is marked sent here (syncdesk never pushes drafts); a credit
        note applied less than the record says is deleted, and None has it pushed whole.
        """
        assert resource.number_field is not None
        for row in await self._search(resource, {f"search[{resource.number_field}]":
                                                 record.number}):
            if row.get("po_number") != marker(record.id):
                continue
            if isinstance(record, Invoice) and record.status is InvoiceStatus.SENT \
                    and row.get("v3_status") == "draft":
                row = await self._write("PUT", f"{resource.path}/{row['id']}", resource,
                                        {"action_mark_as_sent": True})
            elif isinstance(record, CreditNote) and amount_of(row.get("applied")) < sum(
                    (a.amount for a in record.allocations), Decimal(0)):
                await self._undo(Entity.CREDIT_NOTE, [str(row["id"])])
                return None
            return resource.ref(row)
        return None

    async def _find_payment(self, record: Payment) -> RemoteRef | None:
        """Its parts by our marker in the note, on the payment's date, one per invoice.

        A payment found only in part is the remains of a push cut short: those parts are
        deleted, and None sends the engine to push it whole again.
        """
        found = await self._marked_payments(record)
        if found and len(found) == len(record.allocations):
            return RemoteRef(remote_id=",".join(found))
        await self._undo(Entity.PAYMENT, found)
        return None

    async def _marked_payments(self, record: Payment) -> list[str]:
        """The live parts carrying the payment's marker, on its date, one per invoice.

        `find` has no refs, so the invoices cannot be asked for by id: the note is the key
        (`search[note_like]`, a filter FreshBooks' docs do not list — UNCERTAIN).
        """
        by_invoice: dict[str, str] = {}
        resource = RESOURCES[Entity.PAYMENT]
        for row in await self._search(resource, {"search[note_like]": marker(record.id)}):
            if marker(record.id) in str(row.get("note") or "") \
                    and row.get("type") != wire.CREDIT_PAYMENT_TYPE \
                    and row.get("date") == record.date.isoformat():
                by_invoice.setdefault(str(row.get("invoiceid")), str(row["id"]))
        # The parts were created in allocation order and FreshBooks ids increase.
        return sorted(by_invoice.values(), key=int)

    async def list_customers(self) -> AsyncIterator[RemoteCustomer]:
        async for row in self._pages(RESOURCES[Entity.CUSTOMER]):
            person = " ".join(filter(None, (row.get("fname"), row.get("lname"))))
            yield RemoteCustomer(
                remote_id=str(row["id"]), display_name=str(row.get("organization") or person),
                company=row.get("organization") or None, email=row.get("email") or None,
                phone=row.get("bus_phone") or row.get("mob_phone") or None,
            )

    async def list_items(self) -> AsyncIterator[RemoteItem]:
        async for row in self._pages(RESOURCES[Entity.ITEM]):
            yield RemoteItem(remote_id=str(row["id"]), name=str(row.get("name", "")),
                             sku=row.get("sku") or None,
                             unit_price=amount_of(row.get("unit_cost")))

    async def list_accounts(self) -> AsyncIterator[RemoteAccount]:
        """None: FreshBooks books sales to its own income categories, not an account chosen
        per item, so there is nothing for a user to map (items never come back Unmapped)."""
        none: tuple[RemoteAccount, ...] = ()
        for account in none:
            yield account

    async def list_tax_codes(self) -> AsyncIterator[RemoteTaxCode]:
        async for row in self._pages(TAXES):
            yield RemoteTaxCode(code=str(row.get("name", "")), name=str(row.get("name", "")),
                                rate=amount_of(row.get("amount")))

    async def list_payment_methods(self) -> AsyncIterator[RemoteOption]:
        """FreshBooks' fixed payment types, less "Credit": that is how it records a credit
        note applied, never money received."""
        for kind in wire.PAYMENT_TYPES:
            if kind != wire.CREDIT_PAYMENT_TYPE:
                yield RemoteOption(id=kind, name=kind)

    async def list_classes(self) -> AsyncIterator[RemoteOption]:
        """None: FreshBooks has no classes (a line carrying one is refused)."""
        for option in _NO_OPTIONS:
            yield option

    async def list_locations(self) -> AsyncIterator[RemoteOption]:
        """None: FreshBooks has no locations (a line carrying one is refused)."""
        for option in _NO_OPTIONS:
            yield option

    # -- the way back -----------------------------------------------------------------------

    async def read_changes(self, entity: Entity, cursor: str | None, since: datetime, *,
                           limit: int = 1000) -> ChangePage:
        """Up to `limit` objects changed after the cursor (or `since`): live ones first,
        then deleted ones, each stream 100 a page in `updated` order (`_feed`)."""
        resource = RESOURCES[entity]
        position = feed.Cursor.start(cursor, since)
        changes: list[Change] = []
        room = max(limit, 1)
        for vis in feed.STREAMS:
            stream = position.streams[vis]
            extra = 0
            while room > 0:
                page = stream.page(PER_PAGE) + extra
                result = await self._call("GET", resource.path, params={
                    "search[vis_state]": vis, "search[updated_min]": stream.after,
                    "sort": feed.SORT, "page": str(page), "per_page": str(PER_PAGE),
                    **(LINES if entity in _DOCUMENTS else {})})
                took = False
                for row in _rows(result, resource):
                    if room == 0:
                        break
                    if stream.passed(row):
                        continue
                    stream.take(row)
                    took, room = True, room - 1
                    if not feed.skipped(entity, row):
                        changes.append(feed.change(entity, row, vis))
                pages = result.get("pages")
                if room == 0 or not isinstance(pages, int) or page >= pages:
                    break
                # A page of rows all taken before: the ties at `after` ran past a page.
                extra = 0 if took else extra + 1
        return ChangePage(changes=changes, cursor=position.text(), more=room == 0)

    async def list_states(self, entity: Entity) -> AsyncIterator[RemoteState]:
        """Every live invoice, credit note or payment, 100 a page, as the audit compares
        them; credit notes applied by payment are not payments here."""
        if entity not in _STATES:
            raise Unsupported(f"the drift audit compares documents and payments, not "
                              f"{RESOURCES[entity].plural}")
        resource = RESOURCES[entity]
        async for row in self._pages(resource, LINES if entity in _DOCUMENTS else {}):
            if not feed.skipped(entity, row):
                yield feed.state(entity, row)

    async def register_webhook(self, event: str, uri: str) -> str:
        """Ask FreshBooks to post `event` (`payment.create`, or `payment` for all three) to
        `uri`; it sends the callback's verifier there first. Returns the callback id."""
        result = await self._call("POST", self._callbacks,
                                  body={"callback": {"event": event, "uri": uri}})
        callback = result.get("callback")
        if not isinstance(callback, dict) or "callbackid" not in callback:
            raise malformed("a callback with its callbackid", result)
        return str(callback["callbackid"])

    async def confirm_webhook(self, confirm: Mapping[str, str]) -> None:
        """Send back the verifier of a `callback.verify` (`WebhookReply.confirm`): FreshBooks
        activates the callback only then, and refuses a verifier it did not issue."""
        await self._call("PUT", f"{self._callbacks}/{confirm['callback_id']}",
                         body={"callback": {"verifier": confirm["verifier"]}})

    def quota(self) -> Quota | None:
        """FreshBooks sends no rate-limit headers."""
        return None

    async def aclose(self) -> None:
        await self._api.aclose()

    # -- plumbing --------------------------------------------------------------------------

    async def _pages(self, resource: Resource,
                     extra: Mapping[str, str] | None = None) -> AsyncIterator[Json]:
        page = 1
        while True:
            result = await self._call("GET", resource.path, params={
                **ACTIVE, **(extra or {}), "page": str(page), "per_page": str(PER_PAGE)})
            for row in _rows(result, resource):
                yield row
            pages = result.get("pages")
            if not isinstance(pages, int) or page >= pages:
                return
            page += 1

    async def _search(self, resource: Resource, params: Mapping[str, str]) -> list[Json]:
        rows: list[Json] = []
        page = 1
        while True:
            result = await self._call("GET", resource.path, params={
                **ACTIVE, **params, "page": str(page), "per_page": str(PER_PAGE)})
            rows += [row for row in _rows(result, resource) if row.get("vis_state", 0) == 0]
            pages = result.get("pages")
            if not isinstance(pages, int) or page >= pages:
                return rows
            page += 1

    async def _get(self, resource: Resource, remote_id: str) -> Json | None:
        """One live object; None when FreshBooks has no such id or it was deleted."""
        try:
            result = await self._call("GET", f"{resource.path}/{remote_id}")
        except NotFound:
            return None
        element = _element(result, resource)
        return element if element.get("vis_state", 0) == 0 else None

    async def _write(self, method: str, path: str, resource: Resource, body: Json) -> Json:
        return _element(await self._call(method, path, body={resource.single: body}), resource)

    async def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                    body: Any = None) -> Json:
        response = await self._api.send(method, path, params=params, json_body=body)
        if not response.is_success:
            raise error_from_response(response)
        return _result(response)


def _result(response: httpx.Response) -> Json:
    try:
        payload = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise malformed("valid JSON", response.text, response.status_code) from None
    envelope = payload.get("response") if isinstance(payload, dict) else None
    result = envelope.get("result") if isinstance(envelope, dict) else None
    if not isinstance(result, dict):
        raise malformed("a response.result object", payload, response.status_code)
    return result


def _element(result: Json, resource: Resource) -> Json:
    element = result.get(resource.single)
    if not isinstance(element, dict) or "id" not in element:
        raise malformed(f"a {resource.single} with an id", result)
    return element


def _rows(result: Json, resource: Resource) -> list[Json]:
    rows = result.get(resource.plural)
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise malformed(f"a {resource.plural} list", result)
    return rows


def _link(request: PushRequest) -> RemoteRef:
    if request.link is None:
        raise TypeError(f"{request.operation} of {request.entity} needs the remote link")
    return request.link


def _check_total(request: PushRequest, element: Json, ref: RemoteRef) -> None:
    """The document FreshBooks answered with must total what the ledger says, to the cent."""
    record = request.record
    if not isinstance(record, Invoice | CreditNote):
        return
    landed = wire.total(element)
    if landed != record.total:
        raise TotalMismatch(
            f"FreshBooks totals {request.entity.label} {record.number} at {landed} "
            f"{record.currency}, the ledger at {record.total} (tax {record.tax_total}"
            f"{', included' if record.tax_inclusive else ''}): check the tax code mappings "
            "and the line amounts", ref=ref, ledger_total=record.total, platform_total=landed,
            code="TOTAL_MISMATCH")


def _same_money(parts: Sequence[Json], record: Payment,
                wanted: Sequence[tuple[str, Decimal]]) -> bool:
    """The live parts pay the same invoices the same money (any excess on one of them)."""
    if [str(row.get("invoiceid")) for row in parts] != [invoice for invoice, _ in wanted]:
        return False
    amounts = [amount_of(row.get("amount")) for row in parts]
    return sum(amounts, Decimal(0)) == record.amount and all(
        got >= want for got, (_, want) in zip(amounts, wanted, strict=True))


def _described(payment: Json) -> str:
    """One payment on an invoice, as a bookkeeper finds it: whose, how much, when."""
    whose = marked_id(payment.get("note"))
    kind = "credit note" if payment.get("type") == wire.CREDIT_PAYMENT_TYPE else "payment"
    name = f"{kind} {whose}" if whose else f"FreshBooks {kind} {payment['id']}"
    return f"{name}: {amount_of(payment.get('amount'))} on {payment.get('date')}"
