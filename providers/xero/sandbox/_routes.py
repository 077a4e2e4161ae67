"""The Accounting API 2.0 routes of the sandbox, plus `/connections`.

Per resource (Contacts, Items, Invoices, Payments, CreditNotes, BankTransactions,
BatchPayments): `GET /{R}` (where, order and the If-Modified-Since header as `_query` reads
them; IDs, InvoiceNumbers, Statuses, page/pageSize, includeArchived; Items come unpaged, as in
Xero's spec), `GET /{R}/{id}`, `PUT /{R}` (create only), `POST /{R}` (update or create),
`POST /{R}/{id}` (update one; on Payments and BatchPayments: delete), `DELETE /Items/{id}`,
`PUT /CreditNotes/{id}/Allocations`; Overpayments read, `PUT /Overpayments/{id}/Allocations`
and `DELETE /Overpayments/{id}/Allocations/{AllocationID}`; `GET /Accounts`, `GET /TaxRates`,
`GET /TrackingCategories`. Every element written keeps only the fields Xero knows
(`_fields`): the rest is dropped, as Xero drops it.

Collection writes follow `summarizeErrors`: by default any invalid element makes the answer
a 400 ValidationException listing the invalid elements, while the valid ones are still
stored (Xero's non-transactional behaviour); `summarizeErrors=false` answers 200 with every
element marked OK or ERROR. Every write honours `Idempotency-Key` (see `_idempotency`).
After every API call, what it changed goes out as webhooks (`_webhooks`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from providers._sandbox import Clock

from .._auth import API_PATH, CONNECTIONS_PATH
from .._dates import date_string, ms_date
from . import _query as query
from . import _rules as rules
from ._fields import known, properties
from ._idempotency import MAX_KEY_LENGTH, Conflict, IdempotencyCache, Remembered
from ._state import Company, Json, Outcome
from ._webhooks import WebhookEmitter

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
NOT_FOUND_TEXT = "The resource you're looking for cannot be found"

Saver = Callable[[Company, Json, "Json | None", int], Outcome]


@dataclass(frozen=True)
class Kind:
    collection: str
    singular: str
    id_field: str
    store: str
    save: Saver | None
    """None where the API writes it only through another resource (allocations, overpayments)."""
    schema: str
    """The spec schema of one element: what it may carry (`_fields.known`)."""


def _save_payment(company: Company, body: Json, existing: Json | None, unitdp: int) -> Outcome:
    return company.save_payment(body)


KINDS = [
    Kind("Contacts", "Contact", "ContactID", "contacts",
         lambda c, body, old, dp: c.save_contact(body, old), "Contact"),
    Kind("Items", "Item", "ItemID", "items", lambda c, body, old, dp: c.save_item(body, old),
         "Item"),
    Kind("Invoices", "Invoice", "InvoiceID", "invoices",
         lambda c, body, old, dp: c.save_invoice(body, old, unitdp=dp), "Invoice"),
    Kind("Payments", "Payment", "PaymentID", "payments", _save_payment, "Payment"),
    Kind("CreditNotes", "CreditNote", "CreditNoteID", "credit_notes",
         lambda c, body, old, dp: c.save_credit_note(body, old, unitdp=dp), "CreditNote"),
    Kind("BankTransactions", "BankTransaction", "BankTransactionID", "bank_transactions",
         lambda c, body, old, dp: c.save_bank_transaction(body, old), "BankTransaction"),
    Kind("BatchPayments", "BatchPayment", "BatchPaymentID", "batch_payments",
         lambda c, body, old, dp: c.save_batch_payment(body, old), "BatchPayment"),
    Kind("Overpayments", "Overpayment", "OverpaymentID", "overpayments", None, "Overpayment"),
]

ALLOCATIONS = Kind("Allocations", "Allocation", "AllocationID", "", None, "Allocation")



@dataclass
class XeroApi:
    company: Company
    clock: Clock
    idempotency: IdempotencyCache
    tenant_id: str
    webhooks: WebhookEmitter

    def routes(self) -> list[Route]:
        """The API, each route followed by the webhook delivery of what it changed."""
        return [Route(route.path, self._emitting(route.endpoint), methods=route.methods)
                for route in self._api_routes()]

    def control_routes(self) -> list[Route]:
        """What a test drives the sandbox with beyond the API (see `create_sandbox_app`)."""
        return [
            Route("/_sandbox/webhooks", self._configure_webhooks, methods=["GET", "POST"]),
            Route("/_sandbox/webhooks/drain", self._drain_webhooks, methods=["POST"]),
            Route("/_sandbox/webhooks/intent", self._intent, methods=["POST"]),
            Route("/_sandbox/redo-payment", self._redo_payment, methods=["POST"]),
        ]

    def _emitting(self, endpoint: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            response: Response = await endpoint(request)
            self.webhooks.emit()
            return response

        return handler

    async def _configure_webhooks(self, request: Request) -> Response:
        if request.method == "GET":
            return _json(200, self.webhooks.report())
        try:
            body = json.loads(await request.body() or b"{}")
            return _json(200, self.webhooks.configure(body))
        except (ValueError, TypeError, AttributeError) as exc:
            return _json(400, {"error": f"bad webhook settings: {exc}"})

    async def _drain_webhooks(self, request: Request) -> Response:
        return _json(200, await self.webhooks.drain())

    async def _intent(self, request: Request) -> Response:
        try:
            return _json(200, await self.webhooks.intent())
        except ValueError as exc:
            return _json(400, {"error": str(exc)})

    async def _redo_payment(self, request: Request) -> Response:
        """`{"payment_id", "invoice_id"}`: a person moves a payment (Remove and Redo)."""
        body = json.loads(await request.body() or b"{}")
        payment = self.company.payments.get(str(body.get("payment_id")))
        if payment is None or payment["Status"] == "DELETED" or "Invoice" not in payment:
            return _json(404, {"error": "no such live payment of an invoice"})
        outcome = self.company.redo_payment(payment, str(body.get("invoice_id")))
        self.webhooks.emit()
        if not outcome.ok:
            return _json(400, {"errors": outcome.errors})
        return _json(200, {"Payments": [self._view(KINDS[3], outcome.element)]})

    def _api_routes(self) -> list[Route]:
        routes = [
            Route(f"{API_PATH}/Accounts", self._reference("Accounts", "accounts"),
                  methods=["GET"]),
            Route(f"{API_PATH}/TaxRates", self._reference("TaxRates", "tax_rates"),
                  methods=["GET"]),
            Route(f"{API_PATH}/TrackingCategories",
                  self._reference("TrackingCategories", "tracking_categories"), methods=["GET"]),
            Route(f"{API_PATH}/CreditNotes/{{object_id}}/Allocations",
                  self._allocations("credit_notes", Company.allocate), methods=["PUT"]),
            Route(f"{API_PATH}/Overpayments/{{object_id}}/Allocations",
                  self._allocations("overpayments", Company.allocate_overpayment),
                  methods=["PUT"]),
            Route(f"{API_PATH}/Overpayments/{{object_id}}/Allocations/{{allocation_id}}",
                  self._delete_overpayment_allocation, methods=["DELETE"]),
            Route(f"{API_PATH}/Items/{{object_id}}", self._delete_item, methods=["DELETE"]),
            Route(CONNECTIONS_PATH, self._connections, methods=["GET"]),
        ]
        for kind in KINDS:
            base = f"{API_PATH}/{kind.collection}"
            routes += [
                Route(base, self._list(kind), methods=["GET"]),
                Route(f"{base}/{{object_id}}", self._get_one(kind), methods=["GET"]),
            ]
            if kind.save is not None:
                routes += [
                    Route(base, self._write_many(kind), methods=["PUT", "POST"]),
                    Route(f"{base}/{{object_id}}", self._write_one(kind), methods=["POST"]),
                ]
        return routes

    # -- reads -----------------------------------------------------------------------------

    def _list(self, kind: Kind) -> Callable[[Request], Any]:
        schema = query.Schema(kind.singular, properties(kind.schema))

        async def handler(request: Request) -> Response:
            elements = getattr(self.company, kind.store).values()
            try:
                chosen = _filtered(elements, kind, schema, request,
                                   lambda element: self._view(kind, element))
            except query.QueryError as exc:
                return _api_exception(400, 16, "QueryParseException", str(exc))
            extra: Json = {}
            page_param = request.query_params.get("page")
            if page_param is not None and kind.collection != "Items":  # Xero never pages Items
                page = max(int(page_param), 1) if page_param.isdigit() else 1
                size = request.query_params.get("pageSize", "")
                size_n = min(int(size), MAX_PAGE_SIZE) if size.isdigit() else PAGE_SIZE
                extra["pagination"] = {"page": page, "pageSize": size_n,
                                       "pageCount": -(-len(chosen) // size_n),
                                       "itemCount": len(chosen)}
                chosen = chosen[(page - 1) * size_n: page * size_n]
            return self._envelope(kind.collection, chosen, extra)

        return handler

    def _get_one(self, kind: Kind) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            found = self._lookup(kind, request.path_params["object_id"])
            if found is None:
                return PlainTextResponse(NOT_FOUND_TEXT, status_code=404)
            return self._envelope(kind.collection, [self._view(kind, found)])

        return handler

    def _lookup(self, kind: Kind, object_id: str) -> Json | None:
        store: dict[str, Json] = getattr(self.company, kind.store)
        found = store.get(object_id)
        if found is None and kind.collection == "Invoices":  # Xero accepts the number too
            found = next((i for i in store.values() if i["InvoiceNumber"] == object_id), None)
        return found

    def _reference(self, collection: str, attribute: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            return self._envelope(collection, list(getattr(self.company, attribute)))

        return handler

    async def _connections(self, request: Request) -> Response:
        created = self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f0")
        return _json(200, [{
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"xero-sandbox/connection/{self.tenant_id}")),
            "authEventId": str(uuid.uuid4()), "tenantId": self.tenant_id,
            "tenantType": "ORGANISATION", "tenantName": self.company.name,
            "createdDateUtc": created, "updatedDateUtc": created,
        }])

    # -- writes ----------------------------------------------------------------------------

    def _write_many(self, kind: Kind) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            def write(raw: bytes) -> Response:
                elements = _elements(raw, kind)
                if isinstance(elements, Response):
                    return elements
                outcomes = [self._save(kind, known(kind.schema, body),
                                       create_only=request.method == "PUT",
                                       unitdp=_unitdp(request)) for body in elements]
                return self._answer(kind, outcomes, _summarize(request))

            return await self._idempotent(request, write)

        return handler

    def _write_one(self, kind: Kind) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            found = self._lookup(kind, request.path_params["object_id"])
            if found is None:
                return PlainTextResponse(NOT_FOUND_TEXT, status_code=404)

            def write(raw: bytes) -> Response:
                if kind.collection == "Payments":
                    return self._delete_payment(kind, found, raw)
                elements = _elements(raw, kind)
                if isinstance(elements, Response):
                    return elements
                saved = self._save(kind, {**known(kind.schema, elements[0]),
                                          kind.id_field: found[kind.id_field]},
                                   create_only=False, unitdp=_unitdp(request))
                return self._answer(kind, [saved], summarize=True)

            return await self._idempotent(request, write)

        return handler

    def _save(self, kind: Kind, body: Json, *, create_only: bool, unitdp: int) -> Outcome:
        object_id = body.get(kind.id_field)
        existing = self._lookup(kind, str(object_id)) if object_id else None
        if object_id and (create_only or existing is None):
            # PUT with an id is refused (UNCERTAIN in Xero's docs); POST needs a known id.
            message = rules.PUT_WITH_ID if create_only else \
                f"{kind.singular} with {kind.id_field} '{object_id}' could not be found."
            return Outcome(body, [message])
        assert kind.save is not None
        return kind.save(self.company, body, existing, unitdp)

    def _delete_payment(self, kind: Kind, payment: Json, raw: bytes) -> Response:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _api_exception(400, 14, "PostDataInvalidException", "Invalid Json data")
        if isinstance(body, Mapping) and isinstance(body.get("Payments"), list) \
                and body["Payments"]:
            body = body["Payments"][0]
        if not isinstance(body, Mapping) or body.get("Status") != "DELETED":
            outcome = Outcome(dict(body) if isinstance(body, Mapping) else {},
                              ["A payment can only be deleted: send Status DELETED."])
        elif payment.get("BatchPaymentID") and payment["Status"] != "DELETED":
            outcome = Outcome(dict(body), [rules.PAYMENT_IN_BATCH])
        else:
            outcome = self.company.delete_payment(payment)
        return self._answer(kind, [outcome], summarize=True)

    async def _delete_item(self, request: Request) -> Response:
        if self.company.items.pop(request.path_params["object_id"], None) is None:
            return PlainTextResponse(NOT_FOUND_TEXT, status_code=404)
        return Response(status_code=204)

    def _allocations(self, store: str, allocate: Callable[[Company, Json, Json], Outcome]) \
            -> Callable[[Request], Any]:
        """PUT allocations of a credit note or an overpayment to invoices."""
        async def handler(request: Request) -> Response:
            source = getattr(self.company, store).get(request.path_params["object_id"])
            if source is None:
                return PlainTextResponse(NOT_FOUND_TEXT, status_code=404)

            def write(raw: bytes) -> Response:
                elements = _elements(raw, ALLOCATIONS)
                if isinstance(elements, Response):
                    return elements
                outcomes = [allocate(self.company, source, known(ALLOCATIONS.schema, body))
                            for body in elements]
                return self._answer(ALLOCATIONS, outcomes, _summarize(request))

            return await self._idempotent(request, write)

        return handler

    async def _delete_overpayment_allocation(self, request: Request) -> Response:
        overpayment = self.company.overpayments.get(request.path_params["object_id"])
        deleted = None if overpayment is None else self.company.delete_overpayment_allocation(
            overpayment, request.path_params["allocation_id"])
        if deleted is None:
            return PlainTextResponse(NOT_FOUND_TEXT, status_code=404)
        return _json(200, deleted)

    async def _idempotent(self, request: Request, write: Callable[[bytes], Response]) -> Response:
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        if key is None:
            return write(raw)
        if len(key) > MAX_KEY_LENGTH:
            return _api_exception(400, 10, "ValidationException",
                                  f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.")
        tenant = request.headers.get("xero-tenant-id", "")
        fingerprint = IdempotencyCache.fingerprint(request.method, request.url.path,
                                                   request.url.query, raw)
        recalled = self.idempotency.recall(tenant, key, fingerprint)
        if recalled is Conflict.DIFFERENT_REQUEST:
            return _api_exception(400, 10, "ValidationException",
                                  f"Idempotency Key {key} is used with a different request.")
        if isinstance(recalled, Remembered):
            return Response(recalled.body, status_code=recalled.status,
                            media_type="application/json")
        response = write(raw)
        self.idempotency.remember(tenant, key, fingerprint, response.status_code,
                                  bytes(response.body))
        return response

    # -- answers ---------------------------------------------------------------------------

    def _answer(self, kind: Kind, outcomes: list[Outcome], summarize: bool) -> Response:
        failed = [o for o in outcomes if not o.ok]
        if summarize and failed:
            return _json(400, {
                "ErrorNumber": 10, "Type": "ValidationException",
                "Message": "A validation exception occurred",
                "Elements": [_render(_with_errors(o)) for o in failed],
            })
        return self._envelope(kind.collection, [
            {**self._view(kind, o.element), "StatusAttributeString": "OK"} if o.ok
            else _with_errors(o) for o in outcomes
        ])

    def _envelope(self, collection: str, elements: list[Json], extra: Json | None = None) \
            -> Response:
        return _json(200, {
            "Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "syncdesk sandbox",
            "DateTimeUTC": ms_date(self.clock.now(), offset=False), **(extra or {}),
            collection: elements,
        })

    def _view(self, kind: Kind, element: Json) -> Json:
        """An object as Xero shows it: documents embed their contact, payments their invoice."""
        view = dict(element)
        if "Contact" in element:
            view["Contact"] = self._contact(element)
        invoice_ref = element.get("Invoice") if kind.collection == "Payments" else None
        if isinstance(invoice_ref, Mapping) and invoice_ref.get("InvoiceID") in \
                self.company.invoices:
            invoice = self.company.invoices[invoice_ref["InvoiceID"]]
            view["Invoice"] = {"InvoiceID": invoice["InvoiceID"], "Type": invoice["Type"],
                               "InvoiceNumber": invoice["InvoiceNumber"],
                               "Contact": self._contact(invoice)}
        for name in ("Date", "DueDate"):
            if isinstance(element.get(name), date):
                view[f"{name}String"] = date_string(element[name])
        return view

    def _contact(self, document: Json) -> Json:
        ref = document.get("Contact")
        contact = self.company.contacts.get(ref.get("ContactID", "")) \
            if isinstance(ref, Mapping) else None
        if contact is None:
            return dict(ref) if isinstance(ref, Mapping) else {}
        return {k: contact[k] for k in ("ContactID", "Name", "ContactStatus")}


def _with_errors(outcome: Outcome) -> Json:
    return {**outcome.element, "StatusAttributeString": "ERROR", "HasErrors": True,
            "ValidationErrors": [{"Message": m} for m in outcome.errors]}


def _elements(raw: bytes, kind: Kind) -> list[Json] | Response:
    try:
        payload = json.loads(raw or b"null", parse_float=Decimal)
    except ValueError:
        return _api_exception(400, 14, "PostDataInvalidException", "Invalid Json data")
    elements = payload.get(kind.collection) if isinstance(payload, dict) else None
    if not isinstance(elements, list) or not elements \
            or not all(isinstance(e, dict) for e in elements):
        return _api_exception(
            400, 17, "NoDataProcessedException",
            "No data has been processed for this endpoint. This endpoint is expecting "
            f"{kind.singular} data to be specifed in the request body.")
    return elements


_SEARCHED = {"Contacts": ("Name", "FirstName", "LastName", "ContactNumber", "CompanyNumber",
                          "EmailAddress"),
             "Invoices": ("InvoiceNumber", "Reference")}
"""What `searchTerm` looks in, case-insensitively (spec getContacts, getInvoices)."""


def _filtered(elements: Iterable[Json], kind: Kind, schema: query.Schema, request: Request,
              view: Callable[[Json], Json]) -> list[Json]:
    """The stored `elements` a list asks for, as Xero shows them: `where` and `order` are
    evaluated on that view (a document's Contact.Name is there), made only for the objects
    the cheaper filters kept."""
    params = request.query_params
    test = query.where(params["where"], schema) if params.get("where") else None
    since = request.headers.get("if-modified-since")
    after = query.modified_since(since) if since else None
    if params.get("createdByMyApp", "").lower() == "true":
        # Which app wrote an object is not kept: an answer would be a guess.
        raise query.QueryError("createdByMyApp is not evaluated by this sandbox")
    ids = {i.lower() for i in params.get("IDs", "").split(",") if i}
    contact_ids = {i.lower() for i in params.get("ContactIDs", "").split(",") if i}
    term = params.get("searchTerm", "").lower()
    numbers = set(filter(None, params.get("InvoiceNumbers", "").split(",")))
    statuses = set(filter(None, params.get("Statuses", "").split(",")))
    archived = params.get("includeArchived", "").lower() == "true"
    chosen = []
    for element in elements:
        if ids and str(element.get(kind.id_field)).lower() not in ids:
            continue
        if numbers and element.get("InvoiceNumber") not in numbers:
            continue
        if contact_ids and str((element.get("Contact") or {}).get("ContactID")).lower() \
                not in contact_ids:
            continue
        if term and not any(term in str(element.get(name) or "").lower()
                            for name in _SEARCHED.get(kind.collection, ())):
            continue
        if statuses and element.get("Status") not in statuses:
            continue
        if kind.collection == "Contacts" and not archived \
                and element.get("ContactStatus") == "ARCHIVED":
            continue
        if after is not None and not query.updated_after(element, after):
            continue
        shown = view(element)
        if test is None or test(shown):
            chosen.append(shown)
    return query.order(params["order"], schema)(chosen) if params.get("order") else chosen


def _summarize(request: Request) -> bool:
    return request.query_params.get("summarizeErrors", "true").lower() != "false"


def _unitdp(request: Request) -> int:
    return 4 if request.query_params.get("unitdp") == "4" else 2


def _api_exception(status: int, number: int, kind: str, message: str) -> Response:
    return _json(status, {"ErrorNumber": number, "Type": kind, "Message": message})


def _json(status: int, payload: Any) -> Response:
    return Response(json.dumps(_render(payload)), status_code=status,
                    media_type="application/json")


def _render(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _render(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return ms_date(value)
    return value
