"""The Xero `Provider`: pushes records to the Accounting API 2.0 of one tenant.

Provably ours: every create and update writes `syncdesk:<local id>` into a field Xero
stores (`_mapping.MARK_FIELDS`: a contact's ContactNumber, an item's PurchaseDescription, a
document's or payment's Reference, an overpayment's line Description), and `find` returns
only objects carrying it.

Wire habits (PLATFORMS.md §2): PUT creates, POST `/{Resource}/{id}` updates; bodies are
plural arrays; every write carries `Idempotency-Key`, so a retry after a lost response is
replayed by Xero instead of creating a second object; collection writes ask for
`summarizeErrors=false` so each element answers for itself. Every record type is created
in batches (`push_batch`), one element per record (a payment: one per allocation).

Books that agree. Every line names its TaxType (a mapped tax code, or the connection's
untaxed code, NONE by default: without one Xero applies the account's own tax), its income
account (the item's mapping, the item's own, the connection's default) and its tracking
options; a value the connection has not mapped is `Unmapped` before anything is sent. An item
is named by the linked Xero item's Code (`_item_codes`, read from the organisation once when a
link is not one this provider wrote). After each write the total Xero computed is compared with
the ledger's: a difference is `TotalMismatch`, with the written object as its ref.

Payments. A Xero Payment applies to exactly one invoice, so a local payment split over
several invoices becomes several Xero Payments, sent in one request. Its remote id is the
comma-joined PaymentIDs in allocation order; `fetch` reads each (None as soon as one is gone)
and `find` collects the live payments carrying the payment's marked `Reference`. If one of
them is refused, the ones Xero accepted are deleted again before the error is raised, so a
local payment is on Xero whole or not at all; `find` deletes a set that is not whole (a push
cut short, or a copy too many) and answers None, so the payment is pushed again, whole.

A payment that leaves money unapplied is an overpayment: a RECEIVE-OVERPAYMENT bank
transaction for the whole amount, its credit allocated to the invoices; its remote id is
`overpayment:<BankTransactionID>`: allocations refused void it again; allocations cut short
(no answer, a 429, a kill) leave it in doubt for `find` to finish, since a resend under its
key gets Xero's first answer back, the voided transaction included. Xero cannot edit a
payment, so an update deletes the linked payments (or voids the overpayment) and creates the
edited one, with the edit's key and mark: a lost answer is replayed or found.
Payments go to the connection's deposit account; without one, to the `bank_account` option
(090 by default) only where the organisation has that account.

Credit notes are allocated to their invoices after their create (and after an update, for
allocations the note lacks). A credit note `find` finds without the allocations its record
has (the push was cut short between the two) gets them there, to the invoices found by their
marks, so it is never linked while unallocated. A lookup that fails raises; None means
"looked, and it is not there".

Refunds of a credit note are Payments of it (ARCREDITPAYMENT) from the deposit account, made
after its create or update (and by `find`, with the last push's mappings) for each refund the
note's Payments lack, known by the mark `syncdesk:<id>/refund/<n>` in their Reference; then
what Xero holds as refunded is compared with the ledger's (`TotalMismatch`, linked).

Void and delete: a draft document is DELETED, an approved one VOIDED; one with payments,
credit or overpayments applied is refused with them named, as Xero refuses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import httpx

from engine import (
    AuthExpired,
    AuthRevoked,
    ChangePage,
    ConnectionMappings,
    ConnectionSettings,
    CreditNote,
    Customer,
    Entity,
    Invoice,
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
    Unmapped,
    Unsupported,
    Validation,
)
from providers._http import ApiClient, now_utc

from . import _feed as feed
from . import _mapping as wire
from ._auth import API_PATH, XeroHosts
from ._errors import element_error, error_from_response
from ._mapping import (
    OVERPAYMENT,
    PAGE_SIZE,
    RECEIVE_OVERPAYMENT,
    RESOURCES,
    SALES_TYPE,
    Json,
    Resource,
)
from ._mapping import elements as _elements

BATCH_SIZE = 50
"""Xero's advice: about 50 elements per request keeps it under the size limit."""

BATCHED = frozenset({Entity.CUSTOMER, Entity.ITEM, Entity.INVOICE, Entity.PAYMENT,
                     Entity.CREDIT_NOTE})
"""What Xero takes as arrays in one request (PUT /Payments and /CreditNotes too)."""
_GONE = ("DELETED",)
"""A deleted object is gone; a voided one is still there (and still ours)."""
_ENDED = ("DELETED", "VOIDED")
_ENDING = (Operation.VOID, Operation.DELETE)


class XeroProvider:
    def __init__(self, settings: ConnectionSettings, tokens: TokenSource) -> None:
        self._api = ApiClient(
            settings, tokens,
            base_url=XeroHosts.of(settings).api + API_PATH,
            headers={"xero-tenant-id": settings.tenant_id},
            is_expired_token=_is_expired_token,
            read_quota=_read_quota,
        )
        # "090" is the bank account of Xero's demo organisations: used only where the
        # organisation has it, never as a silent guess.
        self._bank_account = str(settings.options.get("bank_account", "090"))
        income = settings.options.get("income_account")
        self._default_income = str(income) if income else None
        self._item_codes: dict[str, str] = {}
        """ItemID → Code of the organisation's items, as far as this provider has seen them."""
        self._accounts: list[Json] | None = None
        self._mappings: ConnectionMappings | None = None
        """The mappings of the last push: `find`, which is handed none, completes a found
        credit note's refunds from their deposit account (None: no push seen yet)."""

    # -- writes ----------------------------------------------------------------------------

    async def push(self, request: PushRequest) -> RemoteRef:
        if request.entity is Entity.PAYMENT:
            return await self._push_payment(request)
        resource = RESOURCES[request.entity]
        if request.operation in _ENDING:
            return await self._end(resource, request)
        body = await self._body(request)
        if request.operation is Operation.CREATE:
            element = await self._write_one("PUT", f"/{resource.collection}", resource, body,
                                            request.idempotency_key, summarize=True)
        else:
            remote_id = _link(request).remote_id
            body[resource.id_field] = remote_id
            element = await self._write_one("POST", f"/{resource.collection}/{remote_id}",
                                            resource, body, request.idempotency_key)
        return await self._settle(request, element)

    async def push_batch(self, requests: Sequence[PushRequest]) -> Sequence[RemoteRef | SyncError]:
        results: dict[int, RemoteRef | SyncError] = {}
        groups: dict[tuple[Entity, Operation], list[int]] = {}
        for index, request in enumerate(requests):
            if request.entity in BATCHED and _batchable(request):
                groups.setdefault((request.entity, request.operation), []).append(index)
                continue
            try:
                results[index] = await self.push(request)
            except SyncError as exc:
                results[index] = exc
        for (entity, operation), indexes in groups.items():
            if entity is Entity.PAYMENT:
                results.update(await self._payment_batch([(i, requests[i]) for i in indexes]))
                continue
            for start in range(0, len(indexes), BATCH_SIZE):
                chunk = indexes[start:start + BATCH_SIZE]
                results.update(await self._batch(RESOURCES[entity], operation,
                                                 [(i, requests[i]) for i in chunk]))
        return [results[i] for i in range(len(requests))]

    async def _batch(self, resource: Resource, operation: Operation,
                     chunk: list[tuple[int, PushRequest]]) -> dict[int, RemoteRef | SyncError]:
        results: dict[int, RemoteRef | SyncError] = {}
        sent: list[tuple[int, Json]] = []
        for index, request in chunk:
            try:
                body = await self._body(request)
                if operation is Operation.UPDATE:
                    body[resource.id_field] = _link(request).remote_id
            except SyncError as exc:  # Unmapped: this element is never sent
                results[index] = exc
                continue
            sent.append((index, body))
        if not sent:
            return results
        # POST upserts (an element with its id updates); PUT only creates.
        method = "PUT" if operation is Operation.CREATE else "POST"
        requests = dict(chunk)
        keys = "\n".join(requests[index].idempotency_key for index, _ in sent)
        try:
            elements = await self._write(method, f"/{resource.collection}", resource,
                                         [body for _, body in sent], _batch_key(keys),
                                         summarize=True)
        except SyncError as exc:  # the whole request failed: every element shares its fate
            return {**results, **{index: exc for index, _ in sent}}
        for (index, _), element in zip(sent, elements, strict=True):
            error = element_error(element, 200)
            if error is not None:
                results[index] = error
                continue
            try:
                results[index] = await self._settle(requests[index], element)
            except SyncError as exc:
                results[index] = exc
        return results

    async def _settle(self, request: PushRequest, element: Json) -> RemoteRef:
        """What follows a write Xero accepted: the item's code remembered, the document's
        total checked against the ledger's, a credit note's allocations made."""
        ref = RESOURCES[request.entity].ref(element)
        record = request.record
        if isinstance(record, Item) and element.get("Code"):
            self._item_codes[ref.remote_id] = str(element["Code"])
        if isinstance(record, Invoice | CreditNote):
            _check_total(ref, f"{request.entity.label} {record.number}", record.total,
                         element.get("Total"))
        if isinstance(record, CreditNote) and record.allocations:
            await self._allocate_missing(f"/CreditNotes/{ref.remote_id}/Allocations", request,
                                         record, element)
        if isinstance(record, CreditNote) and record.live:
            await self._refund_missing(ref, request.mappings, record, element,
                                       request.idempotency_key)
        return ref

    async def _body(self, request: PushRequest) -> Json:
        record = request.record
        self._mappings = request.mappings
        if isinstance(record, CreditNote) and record.live_refunds:
            # Unmapped now, before the credit note is written without the way to refund it.
            await self._deposit_account(request.mappings)
        if isinstance(record, Customer):
            return wire.contact(record)
        if isinstance(record, Item):
            return wire.item(request, record, self._default_income)
        if isinstance(record, Invoice | CreditNote):
            try:
                return self._document(request, record)
            except Unmapped as exc:
                if exc.field != wire.ITEM_CODE:
                    raise
            # A link this provider did not write (made at setup, or by an earlier process):
            # the organisation's items are read once for their codes.
            payload = await self._call("GET", "/Items")
            self._item_codes.update({str(e["ItemID"]): str(e["Code"])
                                     for e in _elements(payload, "Items") if e.get("Code")})
            return self._document(request, record)
        raise TypeError(f"no Xero body for {type(record).__name__}")

    def _document(self, request: PushRequest, record: Invoice | CreditNote) -> Json:
        if isinstance(record, Invoice):
            return wire.invoice(request, record, self._item_codes, self._default_income)
        return wire.credit_note(request, record, self._item_codes, self._default_income)

    async def _end(self, resource: Resource, request: PushRequest) -> RemoteRef:
        """Void or delete a document: Xero deletes a draft and voids an approved one."""
        if request.entity not in (Entity.INVOICE, Entity.CREDIT_NOTE):
            raise Unsupported(f"Xero cannot {request.operation.value} a {request.entity.label} "
                              "through its API: archive it in Xero")
        link = _link(request)
        current = await self._get_one(resource, link.remote_id)
        if current is None:
            raise NotFound(f"{resource.collection} {link.remote_id} no longer exists on Xero",
                           http_status=404)
        status = current.get("Status")
        if status in _ENDED:
            return resource.ref(current)
        applied = _applied(current)
        if applied:
            raise Validation(
                f"Xero cannot {request.operation.value} {request.entity.label} "
                f"{current.get(resource.number_field)}: {'; '.join(applied)} — remove those "
                "on Xero (or in the ledger) first, then retry", code="applied")
        target = "DELETED" if status in ("DRAFT", "SUBMITTED") else "VOIDED"
        element = await self._write_one(
            "POST", f"/{resource.collection}/{link.remote_id}", resource,
            {resource.id_field: link.remote_id, "Status": target}, request.idempotency_key,
        )
        return resource.ref(element)

    async def _allocate_missing(self, path: str, request: PushRequest,
                                record: CreditNote | Payment, element: Json) -> None:
        """Allocate (at `path`) what the record allocates and `element` does not carry yet."""
        done = {str((a.get("Invoice") or {}).get("InvoiceID"))
                for a in element.get("Allocations") or []}
        missing = [a for a in wire.allocations(request, record)
                   if a["Invoice"]["InvoiceID"] not in done]
        if missing:
            await self._allocate(path, missing, f"{request.idempotency_key}:allocations")

    async def _refund_missing(self, ref: RemoteRef, mappings: ConnectionMappings | None,
                              record: CreditNote, element: Json, key: str) -> None:
        """Create each live refund the credit note does not carry yet (found by its mark in
        the note's Payments), then compare what Xero holds as refunded with the ledger.

        A refund Xero refuses is part of that difference: the note exists, so the error
        carries its ref and a retry updates it and tries the refund again."""
        landed: dict[int, Decimal] = {}
        for payment in element.get("Payments") or []:
            position = _refund_position(record, payment.get("Reference"))
            if position is not None:
                landed[position] = landed.get(position, Decimal(0)) + \
                    Decimal(str(payment.get("Amount", 0)))
        refused: list[str] = []
        for position in range(1, len(record.live_refunds) + 1):
            if position in landed:
                continue
            if mappings is None:
                # Guessing the account could pay the refund from the wrong bank: stay in doubt.
                raise Transient(f"refund {position} of credit note {record.number} is not on "
                                "Xero yet and this engine has not read the connection's "
                                "deposit account: it is made once a push of this connection "
                                "has run")
            body = wire.refund(record, position, ref.remote_id,
                               await self._deposit_account(mappings))
            try:
                created = await self._write_one("PUT", "/Payments", RESOURCES[Entity.PAYMENT],
                                                body, f"{key}:refund:{position}", summarize=True)
            except Validation as exc:
                refused.append(f"refund {position} refused: {exc}")
                continue
            landed[position] = Decimal(str(created.get("Amount", 0)))
        platform = sum(landed.values(), Decimal(0))
        if platform != record.refunded or refused:
            reason = "".join(f"; {why}" for why in refused)
            raise TotalMismatch(
                f"Xero's refunds of credit note {record.number} add up to {_money(platform)}, "
                f"the ledger's to {_money(record.refunded)}{reason}", ref=ref,
                ledger_total=record.refunded, platform_total=platform)

    async def _allocate(self, path: str, allocations: list[Json], key: str) -> None:
        payload = await self._call("PUT", path, params={"summarizeErrors": "false"},
                                   body={"Allocations": allocations}, key=key)
        for element in _elements(payload, "Allocations"):
            error = element_error(element, 200)
            if error is not None:
                raise error

    # -- payments --------------------------------------------------------------------------

    async def _push_payment(self, request: PushRequest) -> RemoteRef:
        record = cast(Payment, request.record)
        if request.operation in _ENDING:
            link = _link(request)
            await self._remove_payment(link.remote_id, request.idempotency_key)
            return link
        account = await self._deposit_account(request.mappings)
        # Built before anything is removed, so an edit that cannot be sent removes nothing.
        bodies = _payment_bodies(request, record, account)
        if request.operation is Operation.UPDATE:
            # Xero cannot edit a payment: the old one goes, the edit is created in its place.
            await self._remove_payment(_link(request).remote_id,
                                       f"{request.idempotency_key}:replace")
        if record.unapplied > 0:
            return await self._create_overpayment(request, record, bodies[0])
        elements = await self._write("PUT", "/Payments", RESOURCES[Entity.PAYMENT], bodies,
                                     request.idempotency_key, summarize=True)
        return await self._settle_payment(request, record, elements)

    async def _payment_batch(self, chunk: list[tuple[int, PushRequest]]) \
            -> dict[int, RemoteRef | SyncError]:
        """Payments in as few requests as allow: all their parts in one PUT /Payments (up to
        `BATCH_SIZE` parts), each payment then settled on its own parts."""
        results: dict[int, RemoteRef | SyncError] = {}
        ready: list[tuple[int, list[Json]]] = []
        for index, request in chunk:
            try:
                account = await self._deposit_account(request.mappings)
                ready.append((index, _payment_bodies(request, cast(Payment, request.record),
                                                     account)))
            except SyncError as exc:
                results[index] = exc
        requests = dict(chunk)
        while ready:
            batch = [ready.pop(0)]
            parts = len(batch[0][1])
            while ready and parts + len(ready[0][1]) <= BATCH_SIZE:
                parts += len(ready[0][1])
                batch.append(ready.pop(0))
            results.update(await self._payment_request(batch, requests))
        return results

    async def _payment_request(self, batch: list[tuple[int, list[Json]]],
                               requests: Mapping[int, PushRequest]) \
            -> dict[int, RemoteRef | SyncError]:
        keys = "\n".join(requests[index].idempotency_key for index, _ in batch)
        bodies = [body for _, parts in batch for body in parts]
        try:
            elements = await self._write("PUT", "/Payments", RESOURCES[Entity.PAYMENT], bodies,
                                         _batch_key(keys), summarize=True)
        except SyncError as exc:
            return {index: exc for index, _ in batch}
        results: dict[int, RemoteRef | SyncError] = {}
        start = 0
        for index, parts in batch:
            request = requests[index]
            mine = elements[start:start + len(parts)]
            start += len(parts)
            try:
                results[index] = await self._settle_payment(
                    request, cast(Payment, request.record), mine)
            except SyncError as exc:
                results[index] = exc
        return results

    async def _settle_payment(self, request: PushRequest, record: Payment,
                              elements: list[Json]) -> RemoteRef:
        errors = [element_error(element, 200) for element in elements]
        failure = next((error for error in errors if error is not None), None)
        if failure is not None:
            accepted = [str(e["PaymentID"]) for e, error in zip(elements, errors, strict=True)
                        if error is None and e.get("PaymentID")]
            await self._delete_payments(accepted, f"{request.idempotency_key}:undo")
            raise failure
        ref = RemoteRef(remote_id=",".join(str(e["PaymentID"]) for e in elements),
                        number=wire.payment_reference(record))
        paid = sum((Decimal(str(e.get("Amount", 0))) for e in elements), Decimal(0))
        _check_total(ref, f"payment {record.id}", record.amount, paid)
        return ref

    async def _create_overpayment(self, request: PushRequest, record: Payment,
                                  body: Json) -> RemoteRef:
        payload = await self._call("PUT", "/BankTransactions", params={"summarizeErrors": "false"},
                                   body={"BankTransactions": [body]}, key=request.idempotency_key)
        [element] = _elements(payload, "BankTransactions")
        error = element_error(element, 200)
        if error is not None:
            raise error
        ref = RemoteRef(remote_id=OVERPAYMENT + str(element["BankTransactionID"]),
                        number=wire.payment_reference(record))
        _check_total(ref, f"overpayment {record.id}", record.amount, element.get("Total"))
        if record.allocations:
            try:
                await self._allocate(f"/Overpayments/{element['OverpaymentID']}/Allocations",
                                     wire.allocations(request, record),
                                     f"{request.idempotency_key}:allocations")
            except SyncError as exc:
                doubt = _in_doubt(exc, f"overpayment {record.id}")
                if doubt is not None:
                    # Voided here, it would be what a resend under this key gets back (Xero
                    # replays a key's first answer), and a voided one cannot be allocated.
                    raise doubt from exc
                # Refused: whole or not at all, as a payment over several invoices.
                await self._remove_payment(ref.remote_id, f"{request.idempotency_key}:undo")
                raise
        return ref

    async def _remove_payment(self, remote_id: str, key: str) -> None:
        if remote_id.startswith(OVERPAYMENT):
            await self._void_overpayment(remote_id.removeprefix(OVERPAYMENT), key)
        else:
            await self._delete_payments(remote_id.split(","), key)

    async def _void_overpayment(self, transaction_id: str, key: str) -> None:
        """Xero voids an overpayment only once nothing is allocated from it: its allocations
        are deleted first, then the bank transaction."""
        try:
            payload = await self._call("GET", f"/BankTransactions/{transaction_id}")
        except NotFound:
            return
        [transaction] = _elements(payload, "BankTransactions")
        if transaction.get("Status") in _ENDED:
            return
        overpayment_id = transaction.get("OverpaymentID")
        if overpayment_id:
            found = await self._call("GET", f"/Overpayments/{overpayment_id}")
            for overpayment in _elements(found, "Overpayments"):
                for allocation in overpayment.get("Allocations") or []:
                    try:
                        await self._call("DELETE", f"/Overpayments/{overpayment_id}/"
                                         f"Allocations/{allocation['AllocationID']}")
                    except NotFound:
                        continue  # removed by an earlier try whose answer was lost
        # The spec's BankTransaction requires Type, BankAccount and LineItems on every write.
        ended = {"BankTransactionID": transaction_id, "Type": transaction["Type"],
                 "Contact": {"ContactID": (transaction.get("Contact") or {}).get("ContactID")},
                 "BankAccount": {"AccountID": transaction["BankAccount"]["AccountID"]},
                 "LineItems": [{"Description": line.get("Description"),
                                "LineAmount": wire.number(Decimal(str(line["LineAmount"])))}
                               for line in transaction.get("LineItems") or []],
                 "Status": "DELETED"}
        await self._call("POST", f"/BankTransactions/{transaction_id}",
                         body={"BankTransactions": [ended]}, key=key)

    async def _delete_payments(self, payment_ids: Sequence[str], key: str) -> None:
        for n, payment_id in enumerate(payment_ids):
            try:
                await self._call("POST", f"/Payments/{payment_id}", body={"Status": "DELETED"},
                                 key=f"{key}:{n}")
            except NotFound:
                continue  # already gone: what deleting it was for

    async def _deposit_account(self, mappings: ConnectionMappings) -> str:
        """Where a payment lands: the connection's deposit account, else the `bank_account`
        option (090 unless set) if the organisation has such an account."""
        if mappings.deposit_account:
            return mappings.deposit_account
        if self._accounts is None:
            self._accounts = _elements(await self._call("GET", "/Accounts"), "Accounts")
        banks = [a for a in self._accounts
                 if a.get("Type") == "BANK" or a.get("EnablePaymentsToAccount")]
        if any(self._bank_account in (a.get("Code"), a.get("AccountID")) for a in banks):
            return self._bank_account
        known = ", ".join(_account_key(a) for a in banks) or "none"
        raise Unmapped(f"no deposit account is mapped for Xero payments and the organisation "
                       f"has no account {self._bank_account}: map one of its bank accounts "
                       f"({known})", field="deposit_account", kind="deposit_account")

    async def _write_one(self, method: str, path: str, resource: Resource, body: Json, key: str,
                         *, summarize: bool = False) -> Json:
        [element] = await self._write(method, path, resource, [body], key, summarize=summarize)
        error = element_error(element, 200)
        if error is not None:
            raise error
        return element

    async def _write(self, method: str, path: str, resource: Resource, bodies: list[Json],
                     key: str, *, summarize: bool) -> list[Json]:
        params: dict[str, str] = {}
        if summarize:
            params["summarizeErrors"] = "false"
        if resource.collection in ("Items", "Invoices", "CreditNotes"):
            params["unitdp"] = "4"  # our unit prices carry up to 4 places
        payload = await self._call(method, path, params=params,
                                   body={resource.collection: bodies}, key=key)
        elements = _elements(payload, resource.collection)
        if len(elements) != len(bodies):
            raise Transient(f"Xero answered {len(elements)} {resource.collection} for "
                            f"{len(bodies)} sent")
        return elements

    # -- reads -----------------------------------------------------------------------------

    async def fetch(self, entity: Entity, remote_id: str) -> RemoteRef | None:
        if entity is Entity.PAYMENT and remote_id.startswith(OVERPAYMENT):
            transaction = await self._get_one(_BANK_TRANSACTIONS,
                                              remote_id.removeprefix(OVERPAYMENT))
            if transaction is None or transaction.get("Status") in _ENDED:
                return None
            return RemoteRef(remote_id=remote_id, number=_overpayment_mark(transaction))
        resource = RESOURCES[entity]
        ids = remote_id.split(",") if entity is Entity.PAYMENT else [remote_id]
        found: list[Json] = []
        for one in ids:
            element = await self._get_one(resource, one)
            if element is None or element.get("Status") in _GONE:
                return None
            found.append(element)
        if entity is Entity.PAYMENT:
            reference = found[0].get("Reference")
            return RemoteRef(remote_id=remote_id, number=str(reference) if reference else None)
        return resource.ref(found[0])

    async def list_remote(self, entity: Entity) -> AsyncIterator[RemoteRef]:
        """Every live object, 100 a page; Items in one answer, as Xero never pages them.

        Archived contacts are asked for too: `fetch` still finds them, so they are not gone.
        If-Modified-Since would skip the unchanged, which is exactly what this read must see.
        """
        resource = RESOURCES[entity]
        if entity is Entity.ITEM:
            elements = _elements(await self._call("GET", "/Items"), "Items")
        else:
            extra = {"includeArchived": "true"} if entity is Entity.CUSTOMER else {}
            elements = [e async for e in self._pages(resource.collection, extra)]
        for element in elements:
            if element.get("Status") not in _GONE:
                yield RemoteRef(remote_id=str(element[resource.id_field]))
        if entity is Entity.PAYMENT:
            async for transaction in self._overpayments():
                yield RemoteRef(remote_id=OVERPAYMENT + str(transaction["BankTransactionID"]))

    async def find(self, entity: Entity, record: Record) -> RemoteRef | None:
        """Our copy of `record`: only a live object carrying its mark (`_mapping.mark`).

        Xero's `where` filters on any element, so the mark itself is the query; each answer
        is checked again here. A contact, item or invoice that merely shares the record's
        name, code or number is someone else's and is never returned.
        """
        if isinstance(record, Payment) and record.unapplied > 0:
            return await self._find_overpayment(record)
        resource = RESOURCES[entity]
        ours = await self._marked(entity, _mark(entity, record))
        if not ours:
            return None
        if isinstance(record, Payment):
            ids = [str(e["PaymentID"]) for e in ours]
            if len(ids) != len(record.allocations):
                await self._delete_payments(ids, f"syncdesk-find-{ids[0]}")
                return None
            return RemoteRef(remote_id=",".join(ids), number=_mark(entity, record))
        ref = resource.ref(ours[0])
        if isinstance(record, CreditNote) and record.allocations:
            await self._finish_allocations(record, f"/CreditNotes/{ref.remote_id}/Allocations",
                                           ours[0], ref)
        if isinstance(record, CreditNote) and record.live:
            await self._refund_missing(ref, self._mappings, record, ours[0],
                                       f"syncdesk-find-{ref.remote_id}")
        return ref

    async def _find_overpayment(self, record: Payment) -> RemoteRef | None:
        """An overpayment carries its mark in its line, which `where` cannot reach: the
        organisation's overpayments are read and checked here. One found without all its
        allocations (a push cut short between its two requests) gets the missing ones: the
        payment cannot be pushed again instead, since the resend's key replays the first
        create, voided or not. Copies beyond the first (for the record's amount if one is)
        are voided."""
        wanted = wire.payment_reference(record)
        ours = sorted([t async for t in self._overpayments() if _overpayment_mark(t) == wanted],
                      key=lambda t: Decimal(str(t.get("Total", 0))) != record.amount)
        if not ours:
            return None
        kept, *extra = ours
        for n, transaction in enumerate(extra):
            remote_id = OVERPAYMENT + str(transaction["BankTransactionID"])
            await self._remove_payment(remote_id, f"syncdesk-find-{remote_id}-{n}")
        ref = RemoteRef(remote_id=OVERPAYMENT + str(kept["BankTransactionID"]), number=wanted)
        path = f"/Overpayments/{kept['OverpaymentID']}"
        [overpayment] = _elements(await self._call("GET", path), "Overpayments")
        if len(overpayment.get("Allocations") or []) < len(record.allocations):
            await self._finish_allocations(record, f"{path}/Allocations", overpayment, ref)
        return ref

    async def _overpayments(self) -> AsyncIterator[Json]:
        """The live RECEIVE-OVERPAYMENT bank transactions, page by page."""
        async for transaction in self._pages("BankTransactions",
                                             {"where": RECEIVE_OVERPAYMENT}):
            if transaction.get("Status") not in _ENDED:
                yield transaction

    async def _marked(self, entity: Entity, wanted: str) -> list[Json]:
        """The live objects of `entity` carrying the mark `wanted`."""
        resource, field = RESOURCES[entity], wire.MARK_FIELDS[entity]
        payload = await self._call("GET", f"/{resource.collection}",
                                   params={"where": wire.where_equals(field, wanted)})
        kind = SALES_TYPE.get(entity)
        return [e for e in _elements(payload, resource.collection)
                if e.get(field) == wanted and e.get("Status") not in _GONE
                and (kind is None or e.get("Type") == kind)]

    async def _finish_allocations(self, record: CreditNote | Payment, path: str, found: Json,
                                  ref: RemoteRef) -> None:
        """Allocate what the record allocates and the found credit note or overpayment does
        not yet, to the invoices found by their marks."""
        what = (f"credit note {record.number}" if isinstance(record, CreditNote)
                else f"overpayment {record.id}")
        refs: dict[tuple[Entity, str], RemoteRef] = {}
        for allocation in record.allocations:
            invoices = await self._marked(Entity.INVOICE,
                                          wire.mark_of(Entity.INVOICE, allocation.invoice_id))
            if not invoices:
                raise NotFound(f"invoice {allocation.invoice_id} of {what} is not on Xero: its "
                               "credit cannot be allocated")
            refs[(Entity.INVOICE, allocation.invoice_id)] = \
                RemoteRef(remote_id=str(invoices[0]["InvoiceID"]))
        entity = Entity.CREDIT_NOTE if isinstance(record, CreditNote) else Entity.PAYMENT
        await self._allocate_missing(path, PushRequest(
            entity=entity, operation=Operation.CREATE, record=record,
            idempotency_key=f"syncdesk-find-{ref.remote_id}", refs=refs), record, found)

    async def list_customers(self) -> AsyncIterator[RemoteCustomer]:
        async for contact in self._pages("Contacts"):
            phones = [p.get("PhoneNumber") for p in contact.get("Phones") or []
                      if p.get("PhoneType") == "DEFAULT" and p.get("PhoneNumber")]
            yield RemoteCustomer(
                remote_id=str(contact["ContactID"]), display_name=str(contact.get("Name", "")),
                email=contact.get("EmailAddress") or None, phone=phones[0] if phones else None,
            )

    async def list_items(self) -> AsyncIterator[RemoteItem]:
        payload = await self._call("GET", "/Items", params={"unitdp": "4"})
        for element in _elements(payload, "Items"):
            sales = element.get("SalesDetails") or {}
            price = sales.get("UnitPrice")
            yield RemoteItem(
                remote_id=str(element["ItemID"]), name=str(element.get("Name", "")),
                sku=element.get("Code"),
                unit_price=Decimal(str(price)) if price is not None else None,
                income_account=sales.get("AccountCode"),
            )

    async def list_accounts(self) -> AsyncIterator[RemoteAccount]:
        """Every active account with a code, and every bank account (kind BANK) for the
        deposit mapping: a bank account without a code is named by its AccountID, which a
        payment then sends as `Account.AccountID`."""
        payload = await self._call("GET", "/Accounts")
        for element in _elements(payload, "Accounts"):
            if element.get("Status", "ACTIVE") != "ACTIVE":
                continue
            if element.get("Code") or element.get("Type") == "BANK":
                yield RemoteAccount(code=_account_key(element),
                                    name=str(element.get("Name", "")),
                                    kind=str(element.get("Type", "")))

    async def list_tax_codes(self) -> AsyncIterator[RemoteTaxCode]:
        """The organisation's active tax rates: `code` is the TaxType a line sends."""
        payload = await self._call("GET", "/TaxRates")
        for element in _elements(payload, "TaxRates"):
            if element.get("Status", "ACTIVE") != "ACTIVE":
                continue
            rate = element.get("EffectiveRate")
            yield RemoteTaxCode(code=str(element["TaxType"]), name=str(element.get("Name", "")),
                                rate=Decimal(str(rate)) if rate is not None else None)

    async def list_payment_methods(self) -> AsyncIterator[RemoteOption]:
        """Nothing: a Xero payment names only the account it lands in, no method."""
        none: tuple[RemoteOption, ...] = ()
        for option in none:
            yield option

    def list_classes(self) -> AsyncIterator[RemoteOption]:
        """The active tracking options, `id` and `name` both `Category: Option`: what a class
        mapping holds and what `_mapping.tracking` sends as the line's Tracking."""
        return self._tracking_options()

    def list_locations(self) -> AsyncIterator[RemoteOption]:
        """The same tracking options as `list_classes`: Xero has tracking categories, not
        classes and locations, so either may be tracked by any category."""
        return self._tracking_options()

    async def _tracking_options(self) -> AsyncIterator[RemoteOption]:
        payload = await self._call("GET", "/TrackingCategories")
        for category in _elements(payload, "TrackingCategories"):
            if category.get("Status", "ACTIVE") != "ACTIVE":
                continue
            for option in category.get("Options") or []:
                if option.get("Status", "ACTIVE") == "ACTIVE":
                    name = f"{category['Name']}{wire.TRACKING_SEPARATOR}{option['Name']}"
                    yield RemoteOption(id=name, name=name)

    # -- the way back (`_feed`) -------------------------------------------------------------

    async def read_changes(self, entity: Entity, cursor: str | None, since: datetime, *,
                           limit: int = 1000) -> ChangePage:
        """One page of Xero's If-Modified-Since feed of `entity` (see `_feed`)."""
        return await feed.read_changes(self._call, entity, cursor, since, limit)

    def list_states(self, entity: Entity) -> AsyncIterator[RemoteState]:
        return feed.list_states(self._call, self._pages, entity)

    def quota(self) -> Quota | None:
        return self._api.last_quota

    async def aclose(self) -> None:
        await self._api.aclose()

    async def _pages(self, collection: str,
                     params: Mapping[str, str] | None = None) -> AsyncIterator[Json]:
        page = 1
        while True:
            payload = await self._call("GET", f"/{collection}",
                                       params={**(params or {}), "page": str(page)})
            elements = _elements(payload, collection)
            for element in elements:
                yield element
            if len(elements) < PAGE_SIZE:
                return
            page += 1

    async def _get_one(self, resource: Resource, remote_id: str) -> Json | None:
        try:
            payload = await self._call("GET", f"/{resource.collection}/{remote_id}")
        except NotFound:
            return None
        elements = _elements(payload, resource.collection)
        return elements[0] if elements else None

    async def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                    body: Any = None, key: str | None = None,
                    headers: Mapping[str, str] | None = None) -> Json:
        sent = {**(headers or {}), **({"Idempotency-Key": key} if key else {})}
        response = await self._api.send(method, path, params=params, json_body=body,
                                        headers=sent or None)
        if not response.is_success:
            raise error_from_response(response)
        return _decode(response)


_BANK_TRANSACTIONS = Resource("BankTransactions", "BankTransactionID", "Reference")


def _batchable(request: PushRequest) -> bool:
    """Creates and updates; a payment only as a create of plain payments (an overpayment is
    two requests, an edit a delete and a create)."""
    if request.entity is Entity.PAYMENT:
        return (request.operation is Operation.CREATE
                and cast(Payment, request.record).unapplied == 0)
    return request.operation in (Operation.CREATE, Operation.UPDATE)


def _payment_bodies(request: PushRequest, record: Payment, account: str) -> list[Json]:
    if record.unapplied > 0:
        wire.allocations(request, record)  # Unmapped now, before anything is sent
        return [wire.overpayment(request, record, account)]
    return wire.payments(request, record, account)


def _check_total(ref: RemoteRef, what: str, ledger: Decimal, answered: object) -> None:
    platform = Decimal(str(answered)) if answered is not None else None
    if platform != ledger:
        raise TotalMismatch(f"Xero's total for {what} is {_money(platform)}, the ledger's is "
                            f"{_money(ledger)}", ref=ref, ledger_total=ledger,
                            platform_total=platform)


def _money(value: object) -> str:
    """An amount as Xero shows it, whatever form the JSON number took (90.0, 90)."""
    return "none" if value is None else f"{Decimal(str(value)):.2f}"


def _applied(document: Json) -> list[str]:
    """What is applied to a document, named as a person finds it on Xero."""
    applied = [f"payment {_money(p.get('Amount'))} (Reference {p.get('Reference') or '-'!r})"
               for p in document.get("Payments") or []]
    applied += [f"credit note {c.get('CreditNoteNumber')} {_money(c.get('AppliedAmount'))}"
                for c in document.get("CreditNotes") or []]
    applied += [f"overpayment {o.get('OverpaymentID')} {_money(o.get('AppliedAmount'))}"
                for o in document.get("Overpayments") or []]
    applied += [f"allocation of {_money(a.get('Amount'))} to invoice "
                f"{(a.get('Invoice') or {}).get('InvoiceNumber')}"
                for a in document.get("Allocations") or []]
    return applied


def _refund_position(record: CreditNote, reference: object) -> int | None:
    """Which of the record's refunds a payment of its credit note is, by the mark its
    Reference ends with; None for a payment that is not one of ours."""
    prefix = f"{record.id}/refund/"
    marked = wire.marked_id(reference)
    if marked is None or not marked.startswith(prefix):
        return None
    position = marked.removeprefix(prefix)
    return int(position) if position.isdigit() else None


def _account_key(account: Json) -> str:
    return str(account.get("Code") or account["AccountID"])


def _in_doubt(error: SyncError, what: str) -> Transient | None:
    """An allocation after its overpayment's write landed, not answered or not let through
    (no answer, a 429, an auth failure): Transient, so the write is in doubt and the next
    attempt's lookup finds it and allocates what is missing, rather than send it again.
    None for a refusal, which is the allocation's own error."""
    if not isinstance(error, (Transient, RateLimited, AuthExpired, AuthRevoked)):
        return None
    return Transient(f"{what} was written but allocating it got no answer ({error.message}); "
                     "it is looked for before anything is sent again", code=error.code,
                     http_status=error.http_status)


def _overpayment_mark(transaction: Json) -> str | None:
    lines = transaction.get("LineItems") or []
    description = lines[0].get("Description") if lines else None
    return str(description) if description else None


def _mark(entity: Entity, record: Record) -> str:
    """The mark an object of this record carries, exactly as the provider wrote it."""
    if isinstance(record, Payment):
        return wire.payment_reference(record)
    return wire.mark_of(entity, record.id)


def _link(request: PushRequest) -> RemoteRef:
    if request.link is None:
        raise TypeError(f"{request.operation} of {request.entity} needs the remote link")
    return request.link


def _batch_key(keys: str) -> str:
    """One key for a batch, the same on every retry of the same batch (Xero allows 128)."""
    return "batch-" + hashlib.sha256(keys.encode()).hexdigest()


def _decode(response: httpx.Response) -> Json:
    try:
        payload = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        kind = response.headers.get("content-type", "unknown content type")
        raise Transient(f"Xero answered HTTP {response.status_code} with {kind} that is not "
                        f"valid JSON: {response.text[:120]!r}",
                        http_status=response.status_code) from None
    if not isinstance(payload, dict):
        raise Transient(f"Xero answered with unexpected JSON: {payload!r:.120}",
                        http_status=response.status_code)
    return payload


def _is_expired_token(response: httpx.Response) -> bool:
    return response.status_code == 401 and b"TokenExpired" in response.content


def _read_quota(response: httpx.Response) -> Quota | None:
    minute = response.headers.get("X-MinLimit-Remaining")
    day = response.headers.get("X-DayLimit-Remaining")
    if minute is None and day is None:
        return None
    return Quota(minute_remaining=_int(minute), day_remaining=_int(day), observed_at=now_utc())


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
