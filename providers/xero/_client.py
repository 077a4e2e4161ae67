"""The Xero `Provider`: pushes records to the Accounting API 2.0 of one tenant.

Provably ours: every create and update writes `syncdesk:<local id>` into a field Xero
stores (`_mapping.MARK_FIELDS`: a contact's ContactNumber, an item's PurchaseDescription, a
document's or payment's Reference), and `find` returns only objects carrying it.

Wire habits (PLATFORMS.md §2): PUT creates, POST `/{Resource}/{id}` updates; bodies are
plural arrays; every write carries `Idempotency-Key`, so a retry after a lost response is
replayed by Xero instead of creating a second object; collection writes ask for
`summarizeErrors=false` so each element answers for itself.

Payments. A Xero Payment applies to exactly one invoice, so a local payment split over
several invoices becomes several Xero Payments, sent in one request. Its remote id is the
comma-joined PaymentIDs in allocation order; `fetch` reads each (None as soon as one is gone)
and `find` collects the live payments carrying the payment's marked `Reference`. If one of them is
refused, the ones Xero accepted are deleted again before the error is raised, so a local
payment is on Xero whole or not at all; `find` deletes a set that is not whole (a push cut
short, or a copy too many) and answers None, so the payment is pushed again, whole.

Credit notes are allocated to their invoices after their create. A credit note `find` finds
without the allocations its record has (the push was cut short between the two) gets them
there, to the invoices found by their marks, so it is never linked while unallocated. A
lookup that fails raises; None means "looked, and it is not there".

Unapplied money (an overpayment) is not pushed: Xero creates overpayments only as
RECEIVE-OVERPAYMENT bank transactions, which syncdesk does not model, so such a payment is
`Unsupported` rather than silently pushed short.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

import httpx

from engine import (
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
    Record,
    RemoteAccount,
    RemoteCustomer,
    RemoteItem,
    RemoteRef,
    RemoteTaxCode,
    SyncError,
    TokenSource,
    Transient,
    Unsupported,
)
from providers._http import ApiClient, now_utc

from . import _mapping as wire
from ._auth import API_PATH, XeroHosts
from ._errors import element_error, error_from_response
from ._mapping import RESOURCES, Json, Resource

PAGE_SIZE = 100
"""Xero pages Contacts, Invoices, Payments and CreditNotes by 100 (spec `page`)."""
BATCH_SIZE = 50
"""Xero's advice: about 50 elements per request keeps it under the size limit."""

BATCHED = frozenset({Entity.CUSTOMER, Entity.ITEM, Entity.INVOICE})
"""What Xero takes as arrays in one request; payments and credit notes go one by one."""
_GONE = ("DELETED",)
_SALES_TYPE = {Entity.INVOICE: "ACCREC", Entity.CREDIT_NOTE: "ACCRECCREDIT"}
"""Invoice numbers are unique only among sales documents: bills may reuse them."""


class XeroProvider:
    def __init__(self, settings: ConnectionSettings, tokens: TokenSource) -> None:
        self._api = ApiClient(
            settings, tokens,
            base_url=XeroHosts.of(settings).api + API_PATH,
            headers={"xero-tenant-id": settings.tenant_id},
            is_expired_token=_is_expired_token,
            read_quota=_read_quota,
        )
        # "090" is the bank account of Xero's demo organisations; an org without it gets
        # Xero's own "not a valid code" error, never a silent guess.
        self._bank_account = str(settings.options.get("bank_account", "090"))
        income = settings.options.get("income_account")
        self._default_income = str(income) if income else None

    # -- writes ----------------------------------------------------------------------------

    async def push(self, request: PushRequest) -> RemoteRef:
        if request.entity is Entity.PAYMENT:
            return await self._push_payment(request)
        resource = RESOURCES[request.entity]
        if request.operation is Operation.VOID:
            return await self._void(resource, request)
        body = self._body(request)
        if request.operation is Operation.CREATE:
            element = await self._write_one("PUT", f"/{resource.collection}", resource, body,
                                            request.idempotency_key, summarize=True)
        else:
            remote_id = _link(request).remote_id
            body[resource.id_field] = remote_id
            element = await self._write_one("POST", f"/{resource.collection}/{remote_id}",
                                            resource, body, request.idempotency_key)
        ref = resource.ref(element)
        record = request.record
        if isinstance(record, CreditNote) and request.operation is Operation.CREATE \
                and record.allocations:
            await self._allocate(ref, request, record)
        return ref

    async def push_batch(self, requests: Sequence[PushRequest]) -> Sequence[RemoteRef | SyncError]:
        results: dict[int, RemoteRef | SyncError] = {}
        groups: dict[tuple[Entity, Operation], list[int]] = {}
        for index, request in enumerate(requests):
            if request.entity in BATCHED and request.operation is not Operation.VOID:
                groups.setdefault((request.entity, request.operation), []).append(index)
                continue
            try:
                results[index] = await self.push(request)
            except SyncError as exc:
                results[index] = exc
        for (entity, operation), indexes in groups.items():
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
                body = self._body(request)
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
        keys = "\n".join(request.idempotency_key for index, request in chunk
                         if index not in results)
        try:
            elements = await self._write(method, f"/{resource.collection}", resource,
                                         [body for _, body in sent], _batch_key(keys),
                                         summarize=True)
        except SyncError as exc:  # the whole request failed: every element shares its fate
            return {**results, **{index: exc for index, _ in sent}}
        for (index, _), element in zip(sent, elements, strict=True):
            error = element_error(element, 200)
            results[index] = error if error is not None else resource.ref(element)
        return results

    def _body(self, request: PushRequest) -> Json:
        record = request.record
        if isinstance(record, Customer):
            return wire.contact(record)
        if isinstance(record, Item):
            return wire.item(record)
        if isinstance(record, Invoice):
            return wire.invoice(request, record, self._default_income)
        if isinstance(record, CreditNote):
            return wire.credit_note(request, record, self._default_income)
        raise TypeError(f"no Xero body for {type(record).__name__}")

    async def _void(self, resource: Resource, request: PushRequest) -> RemoteRef:
        if request.entity not in (Entity.INVOICE, Entity.CREDIT_NOTE):
            raise Unsupported(f"Xero cannot void a {request.entity.label}")
        link = _link(request)
        current = await self._get_one(resource, link.remote_id)
        if current is None:
            raise NotFound(f"{resource.collection} {link.remote_id} no longer exists on Xero",
                           http_status=404)
        status = current.get("Status")
        if status in ("VOIDED", "DELETED"):
            return resource.ref(current)
        # Xero never voids a draft: drafts are deleted, approved documents voided.
        target = "DELETED" if status in ("DRAFT", "SUBMITTED") else "VOIDED"
        element = await self._write_one(
            "POST", f"/{resource.collection}/{link.remote_id}", resource,
            {resource.id_field: link.remote_id, "Status": target}, request.idempotency_key,
        )
        return resource.ref(element)

    async def _allocate(self, ref: RemoteRef, request: PushRequest, record: CreditNote) -> None:
        path = f"/CreditNotes/{ref.remote_id}/Allocations"
        payload = await self._call("PUT", path, params={"summarizeErrors": "false"},
                                   body={"Allocations": wire.allocations(request, record)},
                                   key=f"{request.idempotency_key}:allocations")
        for element in _elements(payload, "Allocations"):
            error = element_error(element, 200)
            if error is not None:
                raise error

    async def _push_payment(self, request: PushRequest) -> RemoteRef:
        record = cast(Payment, request.record)
        if request.operation is Operation.UPDATE:
            raise Unsupported("Xero cannot change a payment: void it and record it again")
        if request.operation is Operation.VOID:
            link = _link(request)
            await self._delete_payments(link.remote_id.split(","), request.idempotency_key)
            return link
        if record.unapplied > 0:
            raise Unsupported(
                f"payment {record.id} leaves {record.unapplied} unapplied: Xero records "
                "overpayments only as RECEIVE-OVERPAYMENT bank transactions, which syncdesk "
                "does not push — allocate the whole amount or record the rest in Xero"
            )
        resource = RESOURCES[Entity.PAYMENT]
        bodies = wire.payments(request, record, self._bank_account)
        elements = await self._write("PUT", "/Payments", resource, bodies,
                                     request.idempotency_key, summarize=True)
        errors = [element_error(element, 200) for element in elements]
        failure = next((error for error in errors if error is not None), None)
        if failure is not None:
            accepted = [str(e["PaymentID"]) for e, error in zip(elements, errors, strict=True)
                        if error is None and e.get("PaymentID")]
            await self._delete_payments(accepted, f"{request.idempotency_key}:undo")
            raise failure
        return RemoteRef(remote_id=",".join(str(e["PaymentID"]) for e in elements),
                         number=wire.payment_reference(record))

    async def _delete_payments(self, payment_ids: Sequence[str], key: str) -> None:
        for n, payment_id in enumerate(payment_ids):
            try:
                await self._call("POST", f"/Payments/{payment_id}", body={"Status": "DELETED"},
                                 key=f"{key}:{n}")
            except NotFound:
                continue  # already gone: what deleting it was for

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

    async def find(self, entity: Entity, record: Record) -> RemoteRef | None:
        """Our copy of `record`: only a live object carrying its mark (`_mapping.mark`).

        Xero's `where` filters on any element, so the mark itself is the query; each answer
        is checked again here. A contact, item or invoice that merely shares the record's
        name, code or number is someone else's and is never returned.
        """
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
            await self._finish_allocations(record, ours[0], ref)
        return ref

    async def _marked(self, entity: Entity, wanted: str) -> list[Json]:
        """The live objects of `entity` carrying the mark `wanted`."""
        resource, field = RESOURCES[entity], wire.MARK_FIELDS[entity]
        payload = await self._call("GET", f"/{resource.collection}",
                                   params={"where": wire.where_equals(field, wanted)})
        kind = _SALES_TYPE.get(entity)
        return [e for e in _elements(payload, resource.collection)
                if e.get(field) == wanted and e.get("Status") not in _GONE
                and (kind is None or e.get("Type") == kind)]

    async def _finish_allocations(self, record: CreditNote, found: Json, ref: RemoteRef) -> None:
        """Allocate what the record allocates and the found credit note does not yet."""
        done = {str((a.get("Invoice") or {}).get("InvoiceID"))
                for a in found.get("Allocations") or []}
        refs: dict[tuple[Entity, str], RemoteRef] = {}
        missing = []
        for allocation in record.allocations:
            invoices = await self._marked(Entity.INVOICE,
                                          wire.mark_of(Entity.INVOICE, allocation.invoice_id))
            if not invoices:
                raise NotFound(f"invoice {allocation.invoice_id} of credit note {record.number} "
                               "is not on Xero: its credit cannot be allocated")
            invoice_id = str(invoices[0]["InvoiceID"])
            if invoice_id not in done:
                refs[(Entity.INVOICE, allocation.invoice_id)] = RemoteRef(remote_id=invoice_id)
                missing.append(allocation)
        if missing:
            rest = record.model_copy(update={"allocations": missing})
            await self._allocate(ref, PushRequest(
                entity=Entity.CREDIT_NOTE, operation=Operation.CREATE, record=rest,
                idempotency_key=f"syncdesk-find-{ref.remote_id}", refs=refs), rest)

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
        payload = await self._call("GET", "/Accounts")
        for element in _elements(payload, "Accounts"):
            if element.get("Code"):
                yield RemoteAccount(code=str(element["Code"]), name=str(element.get("Name", "")),
                                    kind=str(element.get("Type", "")))

    async def list_tax_codes(self) -> AsyncIterator[RemoteTaxCode]:
        payload = await self._call("GET", "/TaxRates")
        for element in _elements(payload, "TaxRates"):
            rate = element.get("EffectiveRate")
            yield RemoteTaxCode(code=str(element["TaxType"]), name=str(element.get("Name", "")),
                                rate=Decimal(str(rate)) if rate is not None else None)

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
                    body: Any = None, key: str | None = None) -> Json:
        headers = {"Idempotency-Key": key} if key else None
        response = await self._api.send(method, path, params=params, json_body=body,
                                        headers=headers)
        if not response.is_success:
            raise error_from_response(response)
        return _decode(response)


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


def _elements(payload: Json, collection: str) -> list[Json]:
    elements = payload.get(collection)
    if not isinstance(elements, list):
        raise Transient(f"Xero's answer has no {collection} array: {str(payload)[:120]!r}")
    return elements


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
