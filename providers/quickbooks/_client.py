"""The QuickBooks Online `Provider`: one realm's v3 Accounting API over `ApiClient`.

Writes carry `requestid` so QBO replays the first answer instead of writing twice: creates use
the push's idempotency key as is; updates and voids add the `SyncToken` they were built on,
because after a 5010 the re-read retry is a new request that must not get the old 5010 back.
Updates are sparse (`"sparse": true`), so fields syncdesk does not manage stay untouched.

Every create and update compares the `TotalAmt` QBO answers with the ledger's total to the cent;
a difference is `TotalMismatch`, carrying the written object's ref so the record is linked and
a retry updates it. How a document's tax is sent depends on the company's country, read once
from CompanyInfo when a document first needs it (`_mapping`).

`find` answers None only when it looked and our object is not there; a lookup that fails
(5xx, timeout, a body that is not QBO's) raises. A credit memo found without the payment
that applies it (the push was cut short between the two writes) is applied there, so a
credit note is never linked as synced while its credit was not taken off its invoices.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine import (
    AuthExpired,
    AuthRevoked,
    ChangePage,
    ConfigError,
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

from ._auth import api_base
from ._errors import fault_error, read_body
from ._feed import ChangeFeed
from ._mapping import (
    CREDIT_PURPOSE,
    REFUNDS_UNSUPPORTED,
    WIRE,
    Body,
    TaxSetup,
    body_for,
    credit_application_body,
    marked_id,
    marker,
    method_name,
    needs_rates,
    payment_ref,
    remote_ref,
    voided,
)

MINOR_VERSION = "75"
BATCH_MAX = 30
"""Intuit's batch reference allows 30 payloads (its learn page says 10; 30 is the API's)."""
DEFAULT_PAGE_SIZE = 1000
"""MAXRESULTS may be at most 1000."""


class QuickBooksProvider:
    """Implements `engine.Provider` for one QuickBooks company (realm)."""

    def __init__(self, settings: ConnectionSettings, tokens: TokenSource) -> None:
        if not settings.tenant_id:
            raise ConfigError("a QuickBooks connection needs its realmId as tenant_id")
        self.realm_id = settings.tenant_id
        self.page_size = int(settings.options.get("page_size", DEFAULT_PAGE_SIZE))
        self.api = ApiClient(settings, tokens,
                             base_url=f"{api_base(settings)}/v3/company/{self.realm_id}/")
        self._us: bool | None = None
        self._rates: dict[str, Decimal] | None = None
        self._methods: dict[str, str] | None = None
        self._reading = asyncio.Lock()
        """Held while one of the company's settings above is read: documents that need it at
        once wait for that answer instead of each spending a request on the same read."""
        self._feed = ChangeFeed(self.api, MINOR_VERSION, self._pages, self.page_size)

    # -- writes ---------------------------------------------------------------------------

    async def push(self, request: PushRequest) -> RemoteRef:
        if request.operation in (Operation.VOID, Operation.DELETE):
            return await self._retire(request)
        wire = WIRE[request.entity]
        body = await self._body(request)
        request_id = request.idempotency_key
        if request.operation is Operation.UPDATE:
            current = await self._version(request)
            body = {**body, "Id": current.remote_id, "SyncToken": current.version,
                    "sparse": True}
            request_id = f"{request.idempotency_key}.{current.version}"
        obj = await self._write(wire.resource, wire.name, body, request_id)
        ref = remote_ref(request.entity, obj)
        mismatch = _total_mismatch(request, obj, ref)
        if mismatch is not None:
            raise mismatch
        if isinstance(request.record, CreditNote) and await self._apply_credit(
                request, request.record, ref):
            # Applying credit is a new version of the memo: hand back its current SyncToken.
            ref = await self.fetch(request.entity, ref.remote_id) or ref
        return ref

    async def _body(self, request: PushRequest) -> Body:
        refuse_refunds(request, "QuickBooks", REFUNDS_UNSUPPORTED)
        record, tax = request.record, TaxSetup(us=True)
        if isinstance(record, (Invoice, CreditNote)):
            us = await self._is_us_company()
            tax = TaxSetup(us, await self._tax_rates() if us and needs_rates(record) else {})
        methods = request.mappings.payment_methods
        if isinstance(record, Payment) and record.method != "other" and (
                record.method not in methods):
            # Unmapped, a method QuickBooks has by the same name is that one; another
            # method stays unmapped (refused, naming it).
            named = (await self._methods_by_name()).get(method_name(record.method))
            if named is not None:
                request = replace(request, mappings=replace(
                    request.mappings, payment_methods={**methods, record.method: named}))
        return body_for(request, tax)

    async def _methods_by_name(self) -> dict[str, str]:
        """QuickBooks' payment methods by `method_name`, read once; a name two of them
        share names neither."""
        async with self._reading:
            if self._methods is None:
                found: dict[str, list[str]] = {}
                async for option in self.list_payment_methods():
                    found.setdefault(method_name(option.name), []).append(option.id)
                self._methods = {name: ids[0] for name, ids in found.items() if len(ids) == 1}
            return self._methods

    async def _tax_rates(self) -> dict[str, Decimal]:
        """Each tax code's percent, read once, when a US document with tax-inclusive
        amounts first needs it to take the tax out."""
        async with self._reading:
            if self._rates is None:
                self._rates = {code.code: code.rate async for code in self.list_tax_codes()
                               if code.rate is not None}
            return self._rates

    async def _is_us_company(self) -> bool:
        """US companies tax by TAX/NON lines; read once from CompanyInfo, when a document
        first needs it."""
        async with self._reading:
            if self._us is None:
                answer = await self._call("GET", f"companyinfo/{self.realm_id}")
                info = answer.get("CompanyInfo")
                if not isinstance(info, dict) or not info.get("Country"):
                    raise Transient(
                        "QuickBooks answered CompanyInfo without the company's Country")
                self._us = info["Country"] == "US"
            return self._us

    async def push_batch(self, requests: Sequence[PushRequest]) -> Sequence[RemoteRef | SyncError]:
        if self._us is None and not self._reading.locked():
            # Read beside the first batches (customers, items), the company's country is
            # known when the documents that wait for them are ready: read by their first
            # batch, it would hold every document's batch back a round trip.
            reading = asyncio.gather(self._is_us_company(), return_exceptions=True)
        else:
            reading = None
        results: list[RemoteRef | SyncError] = []
        try:
            for start in range(0, len(requests), BATCH_MAX):
                results.extend(await self._batch(requests[start:start + BATCH_MAX]))
        finally:
            if reading is not None:
                await reading  # a failed read is read again by the first document
        return results

    async def _batch(self, chunk: Sequence[PushRequest]) -> list[RemoteRef | SyncError]:
        results: dict[int, RemoteRef | SyncError] = {}
        items: list[Body] = []
        singles: dict[int, PushRequest] = {}
        for index, request in enumerate(chunk):
            if not _batchable(request):
                singles[index] = request
                continue
            try:
                body = await self._body(request)
            except SyncError as exc:
                results[index] = exc
                continue
            wire = WIRE[request.entity]
            item: Body = {"bId": f"b{index}", "operation": "create", wire.name: body}
            if request.operation is Operation.UPDATE and request.link is not None:
                body.update(Id=request.link.remote_id, SyncToken=request.link.version,
                            sparse=True)
                item["operation"] = "update"
            items.append(item)
        if singles:
            # Voids, updates without a known SyncToken and credit notes that apply credit need
            # more than one call: each goes on its own, side by side (the budget bounds how
            # many at once), not one after another behind each other's answers.
            results.update(zip(singles, await asyncio.gather(
                *(self._guarded(self.push(request)) for request in singles.values())),
                strict=True))
        if items:
            answer = await self._call(
                "POST", "batch", {"requestid": _batch_id(r.idempotency_key for r in chunk)},
                {"BatchItemRequest": items}, batch=True)
            by_bid = {str(a.get("bId")): a for a in answer.get("BatchItemResponse") or []}
            for item in items:
                index = int(item["bId"][1:])
                results[index] = self._batch_result(chunk[index], by_bid.get(item["bId"]))
            memos = {index: (ref, note) for index, ref in results.items()
                     if isinstance(ref, RemoteRef)
                     and (note := _credit_to_apply(chunk[index])) is not None}
            if memos:
                results.update(await self._apply_credits(chunk, memos))
        return [results[index] for index in range(len(chunk))]

    async def _apply_credits(self, chunk: Sequence[PushRequest],
                             memos: dict[int, tuple[RemoteRef, CreditNote]]
                             ) -> dict[int, RemoteRef | SyncError]:
        """The linking Payments of credit memos this batch just created, then the memos'
        SyncTokens after them in one query: one round of requests where `push` makes four per
        memo one after another. The payments go as one batch when the batch window has room
        now beyond the batches promised to others and the full batches the worker's waiting
        creates will fill (`RequestBudget.batch_room`: the worker counted this unit as one
        batch, a round it decided meanwhile may hold the last room, and a few payments there
        would leave a full batch's creates to go alone), else side by side as singles,
        since the general budget has room while the batch window is spent. Memos batched
        are fresh creates (no earlier attempt may have landed), so no payment applies them
        yet and none is looked for."""
        promised = self._promise_batch(len(memos))
        if promised is None:
            applied = await asyncio.gather(*(self._apply_fresh(chunk[index], note, memo)
                                             for index, (memo, note) in memos.items()))
            results = dict(zip(memos, applied, strict=True))
        else:
            try:
                results = await self._apply_batch(chunk, memos, promised)
            finally:
                promised()
        return {**results, **await self._fresh_memos(
            {index: ref for index, ref in results.items() if isinstance(ref, RemoteRef)})}

    def _promise_batch(self, writes: int) -> Callable[[], None] | None:
        """The batch window's room for `writes` creates, kept from now until their batch
        leaves (the returned release): None when one goes alone anyway, or when the window
        has no room beyond what is promised (a batch would wait for it, singles need not)."""
        budget = self.api.budget
        if writes < 2:
            return None
        if budget is None:
            return lambda: None
        room = budget.batch_room()
        return None if room is not None and room < 1 else budget.promise_batch()

    async def _apply_batch(self, chunk: Sequence[PushRequest],
                           memos: dict[int, tuple[RemoteRef, CreditNote]],
                           promised: Callable[[], None]) -> dict[int, RemoteRef | SyncError]:
        """The memos' linking Payments in one batch request, each answered as `_apply_fresh`
        answers it."""
        items: list[Body] = [
            {"bId": f"b{index}", "operation": "create",
             "Payment": credit_application_body(note, memo.remote_id, chunk[index])}
            for index, (memo, note) in memos.items()]
        try:
            answer = await self._call(
                "POST", "batch",
                {"requestid": _batch_id(f"{chunk[i].idempotency_key}-apply" for i in memos)},
                {"BatchItemRequest": items}, batch=True, promised=promised)
        except SyncError as exc:
            return dict.fromkeys(memos, _unapplied(exc))
        by_bid = {str(a.get("bId")): a for a in answer.get("BatchItemResponse") or []}
        results: dict[int, RemoteRef | SyncError] = {}
        for index, (memo, _) in memos.items():
            item = by_bid.get(f"b{index}") or {}
            if isinstance(item.get("Fault"), dict):
                results[index] = _unapplied(fault_error(item["Fault"], 200))
            elif isinstance(item.get("Payment"), dict):
                results[index] = memo
            else:
                results[index] = _unapplied(Transient(
                    "QuickBooks answered the batch without this item's Payment"))
        return results

    async def _apply_fresh(self, request: PushRequest, note: CreditNote,
                           memo: RemoteRef) -> RemoteRef | SyncError:
        try:
            await self._write("payment", "Payment",
                              credit_application_body(note, memo.remote_id, request),
                              f"{request.idempotency_key}-apply")
        except SyncError as exc:
            return _unapplied(exc)
        return memo

    async def _fresh_memos(self, memos: dict[int, RemoteRef]) -> dict[int, RemoteRef]:
        """Applying credit is a new version of each memo: their current SyncTokens, in one
        query. Without an answer the version is left unknown, and an update reads it first."""
        if not memos:
            return {}
        ids = ", ".join(_quote(ref.remote_id) for ref in memos.values())
        try:
            rows = await self._query_all("CreditMemo", f"Id IN ({ids})")
        except SyncError:
            rows = []
        fresh = {ref.remote_id: ref for ref in (remote_ref(Entity.CREDIT_NOTE, row)
                                                 for row in rows)}
        return {index: fresh.get(ref.remote_id, replace(ref, version=None))
                for index, ref in memos.items()}

    def _batch_result(self, request: PushRequest, answer: Body | None) -> RemoteRef | SyncError:
        if answer is None:
            return Transient("QuickBooks returned no answer for this batch item; its outcome "
                             "is unknown until reconciled")
        if isinstance(answer.get("Fault"), dict):
            return fault_error(answer["Fault"], 200)
        obj = answer.get(WIRE[request.entity].name)
        if not isinstance(obj, dict):
            return Transient(f"QuickBooks answered a batch item without a "
                             f"{WIRE[request.entity].name}")
        ref = remote_ref(request.entity, obj)
        return _total_mismatch(request, obj, ref) or ref

    async def _retire(self, request: PushRequest) -> RemoteRef:
        """Void or delete, as QBO offers each, refusing what every platform refuses alike.

        An invoice with payments applied is refused with the payments named (QBO itself would
        void it and leave them unapplied). A draft invoice is deleted, a sent one voided. A
        credit memo has no void in QBO's API, only delete; the payment that applies its
        credit goes first. Deleting what QBO no longer has is done already."""
        entity, record = request.entity, request.record
        if entity is Entity.CREDIT_NOTE and request.operation is Operation.VOID:
            raise Unsupported(f"QuickBooks' API cannot void a credit memo, only delete it: "
                              f"delete credit note {_number(record)} in the ledger instead, "
                              "or void it in QuickBooks by hand")
        if entity not in (Entity.INVOICE, Entity.PAYMENT, Entity.CREDIT_NOTE):
            raise Unsupported(f"QuickBooks cannot {request.operation.value} a {entity.label}, "
                              "only make it inactive there")
        wire = WIRE[entity]
        current = await self._current(request)
        if current is None:
            assert request.link is not None
            return request.link
        if request.operation is Operation.VOID and voided(current):
            return remote_ref(entity, current)  # the answer to our void was lost
        params = {"operation": request.operation.value}
        if entity is Entity.INVOICE:
            await self._refuse_if_paid(current)
            sent = ((isinstance(record, Invoice) and record.status is not InvoiceStatus.DRAFT)
                    or current.get("EmailStatus") == "EmailSent")
            if sent:
                params = {"operation": "void"}
        elif entity is Entity.PAYMENT and request.operation is Operation.VOID:
            params = {"operation": "update", "include": "void"}
        elif isinstance(record, CreditNote):
            customer = RemoteRef(remote_id=str((current.get("CustomerRef") or {}).get("value")))
            application = await self._credit_application(customer, record, str(current["Id"]))
            if application is not None:
                await self._write("payment", "Payment", {
                    "Id": application["Id"], "SyncToken": application["SyncToken"]},
                    f"{request.idempotency_key}-apply.{application['SyncToken']}",
                    {"operation": "delete"})
                current = await self._current(request) or current
        body: Body = {"Id": current["Id"], "SyncToken": current["SyncToken"]}
        if params.get("include") == "void":
            body["sparse"] = True
        obj = await self._write(wire.resource, wire.name, body,
                                f"{request.idempotency_key}.{current['SyncToken']}", params)
        if params["operation"] == "delete":
            return RemoteRef(remote_id=str(current["Id"]), number=remote_ref(entity,
                                                                           current).number)
        return remote_ref(entity, obj)

    async def _current(self, request: PushRequest) -> Body | None:
        """The linked object as QBO has it now; None if it is gone."""
        if request.link is None:
            raise NotFound(f"{request.entity.label} {request.record.id} has no link to a "
                           "QuickBooks object to change")
        wire = WIRE[request.entity]
        try:
            answer = await self._call("GET", f"{wire.resource}/{request.link.remote_id}")
        except NotFound:
            if request.operation is Operation.DELETE:
                return None
            raise
        obj = answer.get(wire.name)
        if not isinstance(obj, dict):
            raise Transient(f"QuickBooks answered a {wire.name} read without a {wire.name}")
        return obj

    async def _refuse_if_paid(self, invoice: Body) -> None:
        """Refuse, naming them, while payments or credit are applied to the invoice."""
        paying = [str(linked.get("TxnId")) for linked in invoice.get("LinkedTxn") or []
                  if linked.get("TxnType") == "Payment"]
        if not paying:
            return
        applied = []
        for payment in await self._query_all(
                "Payment", f"Id IN ({', '.join(_quote(p) for p in paying)})"):
            amount = sum((Decimal(str(line.get("Amount", 0))) for line in payment.get("Line")
                          or [] if any(linked.get("TxnType") == "Invoice"
                                       and str(linked.get("TxnId")) == str(invoice["Id"])
                                       for linked in line.get("LinkedTxn") or [])), Decimal(0))
            mark = marked_id(payment.get("PrivateNote")) or ""
            if mark.endswith(f":{CREDIT_PURPOSE}"):
                name = f"credit from credit note {mark.removesuffix(':' + CREDIT_PURPOSE)}"
            else:
                name = f"payment {payment.get('PaymentRefNum') or payment['Id']}"
            applied.append(f"{name} ({amount:.2f})")
        raise Validation(f"invoice {invoice.get('DocNumber')} has {', '.join(applied)} applied "
                         "on QuickBooks: void or delete those in the ledger first, then void "
                         "or delete the invoice", field="allocations")

    async def _apply_credit(self, request: PushRequest, note: CreditNote,
                            memo: RemoteRef) -> bool:
        """Apply the credit memo to its invoices with a linking Payment (QBO's only way).

        True when a payment was written (which changes the memo's version)."""
        customer = request.refs.get((Entity.CUSTOMER, note.customer_id))
        existing = await self._credit_application(customer, note, memo.remote_id)
        key = f"{request.idempotency_key}-apply"
        if not note.allocations:
            if existing is not None and existing.get("Line"):
                await self._write("payment", "Payment",
                                  {"Id": existing["Id"], "SyncToken": existing["SyncToken"],
                                   "sparse": True}, f"{key}.{existing['SyncToken']}",
                                  {"operation": "update", "include": "void"})
                return True
            return False
        body = credit_application_body(note, memo.remote_id, request)
        if existing is None:
            await self._write("payment", "Payment", body, key)
            return True
        body.update(Id=existing["Id"], SyncToken=existing["SyncToken"], sparse=True)
        await self._write("payment", "Payment", body, f"{key}.{existing['SyncToken']}")
        return True

    async def _credit_application(self, customer: RemoteRef | None, note: CreditNote,
                                  memo_id: str) -> Body | None:
        """The payment that applies this memo's credit, if an earlier push made one."""
        if customer is None:
            return None
        # PrivateNote is not filterable in QBO queries: filter the customer's payments here.
        for payment in await self._query_all(
                "Payment", f"CustomerRef = {_quote(customer.remote_id)}"):
            if payment.get("PrivateNote") != marker(note.id, CREDIT_PURPOSE):
                continue
            for line in payment.get("Line") or []:
                if any(linked.get("TxnType") == "CreditMemo" and str(linked.get("TxnId"))
                       == memo_id for linked in line.get("LinkedTxn") or []):
                    return payment
        return None

    async def _version(self, request: PushRequest) -> RemoteRef:
        if request.link is None:
            raise NotFound(f"{request.entity.label} {request.record.id} has no link to a "
                           "QuickBooks object to change")
        if request.link.version is not None:
            return request.link
        current = await self.fetch(request.entity, request.link.remote_id)
        if current is None:
            raise NotFound(f"{WIRE[request.entity].name} {request.link.remote_id} no longer "
                           "exists on QuickBooks", code="610")
        return current

    async def _write(self, resource: str, name: str, body: Body, request_id: str,
                     params: dict[str, str] | None = None) -> Body:
        answer = await self._call("POST", resource, {"requestid": request_id, **(params or {})},
                                  body)
        obj = answer.get(name)
        if not isinstance(obj, dict):
            raise Transient(f"QuickBooks answered a {name} write without a {name}")
        return obj

    # -- reads ----------------------------------------------------------------------------

    async def fetch(self, entity: Entity, remote_id: str) -> RemoteRef | None:
        wire = WIRE[entity]
        try:
            answer = await self._call("GET", f"{wire.resource}/{remote_id}")
        except NotFound:
            return None
        return remote_ref(entity, answer[wire.name])

    async def list_remote(self, entity: Entity) -> AsyncIterator[RemoteRef]:
        """Every object, by query pages of up to 1,000 (STARTPOSITION/MAXRESULTS).

        Customers and items are asked for active or not: a query sees only active ones
        unless told otherwise, and `fetch` still finds an inactive one.
        """
        wire = WIRE[entity]
        names = entity in (Entity.CUSTOMER, Entity.ITEM)
        async for row in self._pages(wire.name, "Active IN (true, false)" if names else ""):
            yield remote_ref(entity, row)

    async def find(self, entity: Entity, record: Record) -> RemoteRef | None:
        """Our own copy of `record` on QuickBooks, told apart from others by its marker
        (items carry it in PurchaseDesc, customers in Notes, transactions in PrivateNote)."""
        wire = WIRE[entity]
        note_field = "PrivateNote"
        if isinstance(record, Item):
            condition, note_field = f"Name = {_quote(record.name)}", "PurchaseDesc"
        elif isinstance(record, Customer):
            condition, note_field = f"DisplayName = {_quote(record.display_name)}", "Notes"
        elif isinstance(record, Payment):
            condition = f"PaymentRefNum = {_quote(payment_ref(record))}"
        else:
            condition = f"DocNumber = {_quote(record.number)}"
        for row in await self._query_all(wire.name, condition):
            if row.get(note_field) == marker(record.id):
                if isinstance(record, CreditNote) and record.allocations:
                    return await self._finish_credit(record, row)
                return remote_ref(entity, row)
        return None

    async def _finish_credit(self, note: CreditNote, memo: Body) -> RemoteRef:
        """Our memo, applied: if the payment applying it is missing, it is written now, to
        the invoices found by their marks (`find` has no refs)."""
        ref = remote_ref(Entity.CREDIT_NOTE, memo)
        customer = RemoteRef(remote_id=str((memo.get("CustomerRef") or {}).get("value")))
        if await self._credit_application(customer, note, ref.remote_id) is not None:
            return ref
        ours = {row.get("PrivateNote"): str(row["Id"]) for row in await self._query_all(
            "Invoice", f"CustomerRef = {_quote(customer.remote_id)}")}
        refs = {(Entity.CUSTOMER, note.customer_id): customer}
        for allocation in note.allocations:
            invoice_id = ours.get(marker(allocation.invoice_id))
            if invoice_id is None:
                raise NotFound(f"invoice {allocation.invoice_id} of credit note {note.number} "
                               "is not on QuickBooks: its credit cannot be applied")
            refs[(Entity.INVOICE, allocation.invoice_id)] = RemoteRef(remote_id=invoice_id)
        finish = PushRequest(entity=Entity.CREDIT_NOTE, operation=Operation.CREATE, record=note,
                             idempotency_key=f"syncdesk-find-{ref.remote_id}", refs=refs)
        await self._apply_credit(finish, note, ref)
        return await self.fetch(Entity.CREDIT_NOTE, ref.remote_id) or ref

    async def list_customers(self) -> AsyncIterator[RemoteCustomer]:
        async for row in self._pages("Customer"):
            yield RemoteCustomer(
                remote_id=str(row["Id"]), display_name=str(row.get("DisplayName", "")),
                company=row.get("CompanyName"),
                email=(row.get("PrimaryEmailAddr") or {}).get("Address"),
                phone=(row.get("PrimaryPhone") or {}).get("FreeFormNumber"),
            )

    async def list_items(self) -> AsyncIterator[RemoteItem]:
        async for row in self._pages("Item"):
            price = row.get("UnitPrice")
            yield RemoteItem(
                remote_id=str(row["Id"]), name=str(row.get("Name", "")), sku=row.get("Sku"),
                unit_price=Decimal(str(price)) if price is not None else None,
                income_account=(row.get("IncomeAccountRef") or {}).get("value"),
            )

    async def list_accounts(self) -> AsyncIterator[RemoteAccount]:
        # Income accounts are referenced by Id on QBO (IncomeAccountRef), so Id is the code.
        async for row in self._pages("Account"):
            yield RemoteAccount(code=str(row["Id"]), name=str(row.get("Name", "")),
                                kind=str(row.get("AccountType", "")))

    async def list_tax_codes(self) -> AsyncIterator[RemoteTaxCode]:
        """Each tax code with the sum of the sales-tax rates it charges (a group's rates add
        up); TAX and NON, which name no rates, have none."""
        percents = {str(row["Id"]): Decimal(str(row.get("RateValue", 0)))
                    async for row in self._pages("TaxRate")}
        async for row in self._pages("TaxCode"):
            rates = ((row.get("SalesTaxRateList") or {}).get("TaxRateDetail") or [])
            ids = [str((rate.get("TaxRateRef") or {}).get("value")) for rate in rates]
            yield RemoteTaxCode(
                code=str(row["Id"]), name=str(row.get("Name", "")),
                rate=sum((percents.get(i, Decimal(0)) for i in ids), Decimal(0)) if ids else None)

    def list_payment_methods(self) -> AsyncIterator[RemoteOption]:
        return self._options("PaymentMethod")

    def list_classes(self) -> AsyncIterator[RemoteOption]:
        return self._options("Class")

    def list_locations(self) -> AsyncIterator[RemoteOption]:
        return self._options("Department")

    async def _options(self, name: str) -> AsyncIterator[RemoteOption]:
        async for row in self._pages(name):
            yield RemoteOption(id=str(row["Id"]),
                               name=str(row.get("FullyQualifiedName") or row.get("Name", "")))

    # -- the way back (#15): QBO's change feed and the audit's list reads, in `_feed` -------

    def read_changes(self, entity: Entity, cursor: str | None, since: datetime, *,
                     limit: int = 1000) -> Awaitable[ChangePage]:
        return self._feed.read_changes(entity, cursor, since, limit=limit)

    def list_states(self, entity: Entity) -> AsyncIterator[RemoteState]:
        return self._feed.list_states(entity)

    def quota(self) -> Quota | None:
        return None  # QBO sends no rate-limit headers

    async def aclose(self) -> None:
        await self.api.aclose()

    # -- plumbing -------------------------------------------------------------------------

    async def _pages(self, name: str, where: str = "") -> AsyncIterator[Body]:
        start = 1
        while True:
            statement = (f"SELECT * FROM {name}{' WHERE ' + where if where else ''} ORDERBY Id "
                         f"STARTPOSITION {start} MAXRESULTS {self.page_size}")
            answer = await self._call("GET", "query", {"query": statement})
            found = answer.get("QueryResponse")
            if not isinstance(found, dict):
                # Without it the answer is not QBO's: "nothing found" would be a guess.
                raise Transient(f"QuickBooks answered a {name} query without a QueryResponse")
            rows = found.get(name) or []
            for row in rows:
                yield row
            if len(rows) < self.page_size:
                return
            start += len(rows)

    async def _query_all(self, name: str, where: str) -> list[Body]:
        return [row async for row in self._pages(name, where)]

    async def _call(self, method: str, path: str, params: dict[str, str] | None = None,
                    body: Any = None, *, batch: bool = False,
                    promised: Callable[[], None] | None = None) -> Body:
        response = await self.api.send(method, path,
                                       params={"minorversion": MINOR_VERSION, **(params or {})},
                                       json_body=body, batch=batch, promised=promised)
        return read_body(response)

    @staticmethod
    async def _guarded(write: Awaitable[RemoteRef]) -> RemoteRef | SyncError:
        try:
            result: RemoteRef = await write
        except SyncError as exc:
            return exc
        return result


def _total_mismatch(request: PushRequest, obj: Body, ref: RemoteRef) -> TotalMismatch | None:
    """The platform's TotalAmt against the ledger's total, to the cent."""
    record = request.record
    if isinstance(record, (Invoice, CreditNote)):
        ledger_total = record.total
    elif isinstance(record, Payment):
        ledger_total = record.amount
    else:
        return None
    platform_total = Decimal(str(obj.get("TotalAmt", 0)))
    if platform_total == ledger_total:
        return None
    tax = Decimal(str((obj.get("TxnTaxDetail") or {}).get("TotalTax", 0)))
    why = (f" (tax {tax:.2f} on QuickBooks, {record.tax_total:.2f} in the ledger): check the "
           "tax code mappings" if isinstance(record, (Invoice, CreditNote)) else "")
    return TotalMismatch(
        f"QuickBooks' total for {request.entity.label} {_number(record)} is "
        f"{platform_total:.2f}, the ledger's is {ledger_total:.2f}{why}", ref=ref,
        ledger_total=ledger_total, platform_total=platform_total)


def _unapplied(error: SyncError) -> SyncError:
    """A fresh memo's linking payment that failed: a refusal is the payment's own error, as
    `push` gives it. One not sent or not answered (a 429, a cut connection, a 5xx) is
    Transient: the memo is then in doubt, and the next attempt finds it by its mark and
    applies what is missing (`_finish_credit`) rather than create it again."""
    if not isinstance(error, (Transient, RateLimited, AuthExpired, AuthRevoked)):
        return error
    return Transient(f"the credit memo was created but applying its credit got no answer "
                     f"({error.message}); it is looked for before anything is sent again",
                     code=error.code, http_status=error.http_status)


def _batch_id(keys: Iterable[str]) -> str:
    """A batch's requestid (≤ 36 chars): it stands for exactly this set of writes."""
    return hashlib.sha256("|".join(keys).encode()).hexdigest()[:36]


def _number(record: Record) -> str:
    return str(getattr(record, "number", None) or record.id)


def _batchable(request: PushRequest) -> bool:
    """Goes in a batch: a create (a credit memo's application follows in a second batch), or
    an update whose SyncToken is known. A credit memo's update must find the payment applying
    it first, and goes on its own."""
    if request.operation in (Operation.VOID, Operation.DELETE):
        return False
    if request.operation is Operation.UPDATE:
        return (request.link is not None and request.link.version is not None
                and _credit_to_apply(request) is None)
    return True


def _credit_to_apply(request: PushRequest) -> CreditNote | None:
    """The credit note whose credit this push applies to invoices, if it is one."""
    record = request.record
    return record if isinstance(record, CreditNote) and record.allocations else None


def _quote(value: str) -> str:
    """A QBO query string literal: single quotes, with `\\` and `'` backslash-escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
