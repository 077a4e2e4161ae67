"""The Wave `Provider`: pushes customers, products and invoices to one Wave business.

Everything is one GraphQL endpoint (PLATFORMS.md §3): writes are `…Create` / `…Patch`
mutations carrying the business id, reads walk `business(id) { … }`. Wave has no
idempotency key and no version token, so a create whose answer was lost is reconciled by
`find` before the engine sends it again, and an update simply patches. `find` returns only an
object carrying the record's mark (`_mapping.mark`: customer `displayId`, product
`description`, invoice `footer`); a namesake or a stranger's invoice with the number is None.

Invoice states. Local DRAFT is a Wave DRAFT; SENT is created SAVED (approved, posted to the
books) and then `invoiceMarkSent`; an update approves and marks sent what is not yet. Wave
cannot take an approved invoice back to draft, so that change is not sent. VOID and DELETE
both delete the invoice (`invoiceDelete`: Wave's public API has no void), refused while it
has payments recorded in Wave; an invoice already gone counts as done, so a retry after a
lost answer does not end as a broken link. Every invoice Wave answers a create or patch with
is compared with the ledger's total: a difference is `TotalMismatch`, the invoice linked.

The way back (`_feed`): `read_changes` polls customers, products and invoices with
`modifiedAtAfter` through the budget, resuming by keyset; payments and credit notes have no
feed on Wave (Unsupported, saying why), and deletions never show in one. `list_states`
reads invoices' states in list pages. Wave sends no webhooks.

A sent invoice is two requests, and the second can fail after the first landed (most often a
429: Wave allows about 60 requests a minute). Then the invoice exists, holding our number and
our mark, so the push ends `Transient` ("unknown until reconciled"), never with the second
step's own error: a `RateLimited` makes the engine send the create again without `find`, and
that create fails as "Invoice number … is already in use." against our own invoice. `find`
finishes what such a push left: our invoice that should be sent but is not yet is approved
and marked sent there before it is returned.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine import (
    Change,
    ChangePage,
    ConnectionSettings,
    Customer,
    Entity,
    Invoice,
    InvoiceStatus,
    Item,
    NotFound,
    Operation,
    PushRequest,
    Quota,
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

from . import _documents as gql
from . import _feed as feed
from . import _mapping as wire
from ._auth import API_PATH, WaveHosts
from ._errors import Json, data_of, is_unauthenticated, mutation_result, reading

_REMOVALS = frozenset({Operation.VOID, Operation.DELETE})
_NO_OPTIONS: tuple[RemoteOption, ...] = ()
PAGE_SIZE = 50
"""Wave does not publish a largest page size (UNCERTAIN); 50 stays well inside any."""


class WaveProvider:
    def __init__(self, settings: ConnectionSettings, tokens: TokenSource) -> None:
        self._api = ApiClient(settings, tokens, base_url=WaveHosts.of(settings).api,
                              is_expired_token=is_unauthenticated)
        self._business = settings.tenant_id
        self._taxes: dict[str, RemoteTaxCode] | None = None

    # -- writes ------------------------------------------------------------------------------

    async def push(self, request: PushRequest) -> RemoteRef:
        record = request.record
        if isinstance(record, Invoice):
            return await self._push_invoice(request, record)
        refuse_refunds(request, "Wave", wire.REFUNDS_UNSUPPORTED)
        if request.entity in wire.UNSUPPORTED:
            raise Unsupported(wire.UNSUPPORTED[request.entity])
        if request.operation in _REMOVALS:
            raise Unsupported(f"syncdesk does not {request.operation.value} a "
                              f"{request.entity.label} on Wave: it stays there with the "
                              "invoices that name it — archive or delete it in Wave")
        if isinstance(record, Customer):
            return await self._save(request, wire.customer(record),
                                    (gql.CUSTOMER_CREATE, gql.CUSTOMER_PATCH), "name")
        if isinstance(record, Item):
            return await self._save(request, wire.product(request, record),
                                    (gql.PRODUCT_CREATE, gql.PRODUCT_PATCH), "name")
        raise TypeError(f"no Wave input for {type(record).__name__}")

    async def push_batch(self, requests: Sequence[PushRequest]) -> Sequence[RemoteRef | SyncError]:
        # Wave has no batch writes (batch_size 1), so a batch is pushes one by one.
        results: list[RemoteRef | SyncError] = []
        for request in requests:
            try:
                results.append(await self.push(request))
            except SyncError as exc:
                results.append(exc)
        return results

    async def _save(self, request: PushRequest, fields: Json,
                    mutations: tuple[gql.Mutation, gql.Mutation], number_field: str) -> RemoteRef:
        create, patch = mutations
        if request.operation is Operation.CREATE:
            node = await self._mutate(create, {"businessId": self._business, **fields})
        else:
            node = await self._mutate(patch, {"id": _link(request).remote_id, **fields})
        with reading(create.name):
            return wire.ref(node, number_field)

    async def _push_invoice(self, request: PushRequest, record: Invoice) -> RemoteRef:
        if request.operation in _REMOVALS:
            return await self._delete_invoice(_link(request))
        fields = wire.invoice(request, record, await self._taxes_for(request, record))
        if request.operation is Operation.CREATE:
            node = await self._mutate(gql.INVOICE_CREATE, {
                "businessId": self._business, "status": wire.create_status(record), **fields,
            })
            # Before marking it sent: an invoice with the wrong total stays as it landed,
            # linked by the mismatch, and the retry patches (and sends) it.
            _check_total(record, node)
            if record.status is InvoiceStatus.SENT:
                node = await self._finish_created(record, node)
        else:
            # A patch is safe to send again, so a failure here needs no reconciling.
            node = await self._mutate(gql.INVOICE_PATCH,
                                      {"id": _link(request).remote_id, **fields})
            _check_total(record, node)
            if record.status is InvoiceStatus.SENT:
                node = await self._mark_sent(node)
        with reading("invoice"):
            return wire.ref(node, "invoiceNumber")

    async def _taxes_for(self, request: PushRequest,
                         record: Invoice) -> dict[str, RemoteTaxCode]:
        """The business's live sales taxes by id, read once, and again when a mapping names
        one the last reading did not have (created in Wave since)."""
        if not wire.taxed(record):
            return {}
        mapped = {request.mappings.tax_codes.get(line.tax_code or "") for line in record.lines}
        if self._taxes is None or not mapped - {None} <= self._taxes.keys():
            self._taxes = {tax.code: tax async for tax in self.list_tax_codes()}
        return self._taxes

    async def _finish_created(self, record: Invoice, node: Json) -> Json:
        """Approve and mark sent the invoice just created; a failure is `Transient`.

        The create landed, so whatever the later step's error (a 429, no answer, a refusal),
        sending the create again would collide with our own invoice: the engine must `find`
        it, which finishes it (`_found_invoice`).
        """
        try:
            return await self._mark_sent(node)
        except SyncError as error:
            with reading("invoice"):
                invoice_id = str(node["id"])
            raise Transient(
                f"Wave invoice {record.number} ({invoice_id}) was created but not marked "
                f"sent ({type(error).__name__}: {error.message}); the outcome is unknown "
                "until reconciled", code=error.code, http_status=error.http_status) from error

    async def _mark_sent(self, node: Json) -> Json:
        with reading("invoice"):
            invoice_id, status, sent = str(node["id"]), node["status"], node["lastSentAt"]
        if status == "DRAFT":
            node = await self._mutate(gql.INVOICE_APPROVE, {"invoiceId": invoice_id})
        if sent is None:
            node = await self._mutate(gql.INVOICE_MARK_SENT, {
                "invoiceId": invoice_id, "sendMethod": "MARKED_SENT"})
        return node

    async def _delete_invoice(self, link: RemoteRef) -> RemoteRef:
        """Void and delete are one thing on Wave: its public API has no void, only
        `invoiceDelete`, for a draft and a sent invoice alike. An invoice with payments
        recorded (in Wave: its API records none) is refused instead, naming them."""
        try:
            data = await self._query(gql.GET_INVOICE, {"id": link.remote_id})
        except NotFound:
            # Already gone counts as done: an earlier delete landed and its answer was lost.
            return link
        with reading("invoice"):
            node = data["business"]["invoice"]
            paid = Decimal(str(node["amountPaid"]["value"])) if node else Decimal(0)
        if node is None:
            return link
        if paid > 0:
            raise Validation(
                f"Wave invoice {node['invoiceNumber']} has {paid} of payments recorded on it "
                f"in Wave (of {node['total']['value']}): Wave would delete it with them — "
                "remove those payments in Wave first, then retry", code="INVOICE_PAID")
        with suppress(NotFound):
            await self._mutate(gql.INVOICE_DELETE, {"invoiceId": link.remote_id})
        return link

    # -- reads -------------------------------------------------------------------------------

    async def fetch(self, entity: Entity, remote_id: str) -> RemoteRef | None:
        documents = {Entity.CUSTOMER: (gql.GET_CUSTOMER, "customer", "name"),
                     Entity.ITEM: (gql.GET_PRODUCT, "product", "name"),
                     Entity.INVOICE: (gql.GET_INVOICE, "invoice", "invoiceNumber")}
        if entity not in documents:
            raise Unsupported(wire.UNSUPPORTED[entity])
        document, field, number_field = documents[entity]
        try:
            data = await self._query(document, {"id": remote_id})
        except NotFound:
            return None
        with reading(field):
            node = data["business"][field]
            # An archived product cannot go on invoices any more: for syncdesk it is gone.
            if node is None or node.get("isArchived"):
                return None
            return wire.ref(node, number_field)

    async def list_remote(self, entity: Entity) -> AsyncIterator[RemoteRef]:
        """Every live customer, product or invoice, a page of `PAGE_SIZE` per request;
        archived products left out, as `fetch` leaves them out."""
        listings = {Entity.CUSTOMER: ("customers", gql.CUSTOMERS),
                    Entity.ITEM: ("products", gql.PRODUCTS),
                    Entity.INVOICE: ("invoices", gql.INVOICES_NUMBERED)}
        if entity not in listings:
            raise Unsupported(wire.UNSUPPORTED[entity])
        field, document = listings[entity]
        async for node in self._pages(field, document):
            with reading(field):
                if not node.get("isArchived"):
                    yield RemoteRef(remote_id=str(node["id"]))

    async def find(self, entity: Entity, record: Record) -> RemoteRef | None:
        wanted = wire.mark(record.id)
        if isinstance(record, Invoice):
            # Wave filters invoices by number; the footer tells ours from a stranger's.
            with reading("invoices"):
                async for node in self._pages("invoices", gql.INVOICES_NUMBERED,
                                              {"invoiceNumber": record.number}):
                    if node["footer"] == wanted:
                        return await self._found_invoice(record, node)
            return None
        if isinstance(record, Customer):
            # No filter on displayId: newest first, our lost create comes early.
            with reading("customers"):
                async for node in self._pages("customers", gql.CUSTOMERS):
                    if node["displayId"] == wanted:
                        return wire.ref(node, "name")
            return None
        if isinstance(record, Item):
            with reading("products"):
                async for node in self._pages("products", gql.PRODUCTS):
                    if node["description"] == wanted and not node["isArchived"]:
                        return wire.ref(node, "name")
            return None
        raise Unsupported(wire.UNSUPPORTED[entity])

    async def _found_invoice(self, record: Invoice, node: Json) -> RemoteRef:
        """Our invoice, finished if a push was cut short after its create: a record that is
        sent but whose invoice is still a draft or unsent is approved and marked sent here."""
        if record.status is InvoiceStatus.SENT:
            node = await self._mark_sent(node)
        with reading("invoice"):
            return wire.ref(node, "invoiceNumber")

    async def list_customers(self) -> AsyncIterator[RemoteCustomer]:
        async for node in self._pages("customers", gql.CUSTOMERS):
            with reading("customers"):
                yield RemoteCustomer(remote_id=str(node["id"]), display_name=str(node["name"]),
                                     email=node.get("email") or None,
                                     phone=node.get("phone") or None)

    async def list_items(self) -> AsyncIterator[RemoteItem]:
        async for node in self._pages("products", gql.PRODUCTS):
            with reading("products"):
                account = node.get("incomeAccount") or {}
                yield RemoteItem(remote_id=str(node["id"]), name=str(node["name"]),
                                 unit_price=Decimal(str(node["unitPrice"])),
                                 income_account=account.get("id"))

    async def list_accounts(self) -> AsyncIterator[RemoteAccount]:
        async for node in self._pages("accounts", gql.ACCOUNTS):
            with reading("accounts"):
                if not node["isArchived"]:
                    # Wave accounts are mapped by id: its account numbers are optional.
                    yield RemoteAccount(code=str(node["id"]), name=str(node["name"]),
                                        kind=str(node["type"]["value"]))

    async def list_tax_codes(self) -> AsyncIterator[RemoteTaxCode]:
        async for node in self._pages("salesTaxes", gql.SALES_TAXES):
            with reading("salesTaxes"):
                if not node["isArchived"]:
                    yield RemoteTaxCode(code=str(node["id"]), name=str(node["name"]),
                                        rate=Decimal(str(node["rate"])))

    async def list_payment_methods(self) -> AsyncIterator[RemoteOption]:
        """None: Wave's public API records no payments, so there is no method to map."""
        for option in _NO_OPTIONS:
            yield option

    async def list_classes(self) -> AsyncIterator[RemoteOption]:
        """None: Wave has no classes (a line carrying one is refused)."""
        for option in _NO_OPTIONS:
            yield option

    async def list_locations(self) -> AsyncIterator[RemoteOption]:
        """None: Wave has no locations (a line carrying one is refused)."""
        for option in _NO_OPTIONS:
            yield option

    # -- the way back --------------------------------------------------------------------------

    async def read_changes(self, entity: Entity, cursor: str | None, since: datetime, *,
                           limit: int = 1000) -> ChangePage:
        """Up to `limit` customers, products or invoices modified after the cursor (or
        `since`), `PAGE_SIZE` a page in `modifiedAt` order (`_feed`)."""
        if entity in feed.UNFED:
            raise Unsupported(feed.UNFED[entity])
        field = feed.FEEDS[entity]
        document = {Entity.CUSTOMER: gql.CUSTOMERS_CHANGED, Entity.ITEM: gql.PRODUCTS_CHANGED,
                    Entity.INVOICE: gql.INVOICES_CHANGED}[entity]
        position = feed.Position.start(cursor, since)
        changes: list[Change] = []
        room, extra = max(limit, 1), 0
        while room > 0:
            page = position.page(PAGE_SIZE) + extra
            data = await self._query(document, {"page": page, "pageSize": PAGE_SIZE,
                                                "modifiedAtAfter": position.bound})
            took = False
            with reading(field):
                listing = data["business"][field]
                pages = int(listing["pageInfo"]["totalPages"])
                for edge in listing["edges"]:
                    node = dict(edge["node"])
                    if room == 0:
                        break
                    if position.passed(node):
                        continue
                    position.take(node)
                    took, room = True, room - 1
                    changes.append(feed.change(entity, node))
            if room == 0 or page >= pages:
                break
            # A page of objects all taken before: ties at the boundary ran past a page.
            extra = 0 if took else extra + 1
        return ChangePage(changes=changes, cursor=position.text(), more=room == 0)

    async def list_states(self, entity: Entity) -> AsyncIterator[RemoteState]:
        """Every invoice's state, `PAGE_SIZE` a page: Wave has no other documents, and no
        payments the public API can read."""
        if entity is not Entity.INVOICE:
            raise Unsupported(feed.UNFED.get(entity) or "the drift audit compares documents "
                              f"and payments, not {entity.label}s")
        async for node in self._pages("invoices", gql.INVOICE_STATES):
            with reading("invoices"):
                yield feed.state(node)

    def quota(self) -> Quota | None:
        return None  # Wave sends no rate-limit headers

    async def aclose(self) -> None:
        await self._api.aclose()

    # -- plumbing ----------------------------------------------------------------------------

    async def _pages(self, field: str, document: str,
                     filters: Mapping[str, Any] | None = None) -> AsyncIterator[Json]:
        page, pages = 1, 1
        while page <= pages:
            data = await self._query(document, {"page": page, "pageSize": PAGE_SIZE,
                                                **(filters or {})})
            with reading(field):
                listing = data["business"][field]
                pages = int(listing["pageInfo"]["totalPages"])
                nodes = [dict(edge["node"]) for edge in listing["edges"]]
            for node in nodes:
                yield node
            page += 1

    async def _query(self, document: str, variables: Mapping[str, Any]) -> Json:
        return await self._graphql(document, {"businessId": self._business, **variables})

    async def _mutate(self, mutation: gql.Mutation, payload: Json) -> Json:
        data = await self._graphql(mutation.text, {"input": payload})
        return mutation_result(data, mutation.name, mutation.entity)

    async def _graphql(self, document: str, variables: Mapping[str, Any]) -> Json:
        response = await self._api.send("POST", API_PATH,
                                        json_body={"query": document, "variables": variables})
        return data_of(response)


def _link(request: PushRequest) -> RemoteRef:
    if request.link is None:
        raise TypeError(f"{request.operation} of {request.entity} needs the remote link")
    return request.link


def _check_total(record: Invoice, node: Json) -> None:
    """The invoice Wave answered with must total what the ledger says, to the cent."""
    with reading("invoice"):
        landed = wire.total(node)
        ref = wire.ref(node, "invoiceNumber")
    if landed != record.total:
        raise TotalMismatch(
            f"Wave totals invoice {record.number} at {landed} {record.currency}, the ledger at "
            f"{record.total} (tax {record.tax_total}"
            f"{', included' if record.tax_inclusive else ''}): check the tax code mappings and "
            "the line amounts", ref=ref, ledger_total=record.total, platform_total=landed,
            code="TOTAL_MISMATCH")
