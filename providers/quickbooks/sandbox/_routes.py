"""The QBO v3 REST surface under `/v3/company/{realmId}/…`.

    POST {resource}                        create, or update when the body has Id + SyncToken
    POST {resource}?operation=delete       delete a transaction
    POST invoice?operation=void            void an invoice
    POST payment?operation=update&include=void
    GET  {resource}/{id}                   read one
    GET|POST query                         read many (`_query`); name lists only their
                                           active objects unless the query names Active
    POST batch                             ≤ 30 independent items, HTTP 200 with per-item Fault
    GET  companyinfo/{realmId}
    GET  cdc?entities=…&changedSince=…     change data capture (`_cdc`)

`requestid` on any write: the first response under that id is kept and replayed verbatim,
without a second write (errors too, unless `replay_errors` is off: Intuit's wording is "the
same response", whether it covers errors is not documented). It is kept for the key window
(`providers._sandbox.KeyMemory`; Intuit documents no retention, UNCERTAIN): past it the same
id is a new write. Ids over 50 characters fail, on a batch over 36, and a batch sent with a
requestid takes `bId`s of at most 10 characters (Intuit's request-id blog, PLATFORMS.md §1.5;
the refusals' wording is UNCERTAIN, `_rules.request_id_too_long`).

Batch items are independent (Intuit's batch reference): what one item creates does not exist
for the other items of the same batch — a reference to it is 610, a query does not return it,
an update of it is 610 — and is there for every request after the batch
(`Company.batch`). Uniqueness rules (6240 names, 6140 numbers) still see it: the company
holds it, and two batch items cannot both take one name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from providers._sandbox import Clock, KeyMemory, RateLimiter

from . import _query
from ._cdc import ChangeFeed
from ._rules import (
    BUILDERS,
    apply_payment,
    delete,
    request_id_too_long,
    unrecognized_fields,
    unsupported_operation,
    void,
)
from ._state import Company, Obj, not_found
from ._wire import (
    QboFault,
    as_xml,
    fault_response,
    json_response,
    loads,
    qbo_response_time,
    throttle_response,
)

WRITABLE = {"customer": "Customer", "item": "Item", "invoice": "Invoice",
            "payment": "Payment", "creditmemo": "CreditMemo"}
READABLE = {**WRITABLE, "vendor": "Vendor", "employee": "Employee", "account": "Account",
            "taxcode": "TaxCode", "taxrate": "TaxRate", "paymentmethod": "PaymentMethod",
            "class": "Class", "department": "Department"}
MAX_REQUEST_ID = 50
MAX_BATCH_REQUEST_ID = 36
MAX_BATCH_ID_WITH_REQUEST_ID = 10

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class _Replay:
    status: int
    body: bytes
    media_type: str


@dataclass
class QboApi:
    company: Company
    clock: Clock
    batch_limiter: RateLimiter
    replays: KeyMemory[_Replay]
    replay_errors: bool = True
    batch_max: int = 30

    def routes(self) -> list[Route]:
        base = "/v3/company/{realm}"
        return [
            Route(f"{base}/query", _negotiated(self.query), methods=["GET", "POST"]),
            Route(f"{base}/batch", _negotiated(self.batch), methods=["POST"]),
            Route(f"{base}/cdc", _negotiated(ChangeFeed(self.company, self.clock).endpoint),
                  methods=["GET"]),
            Route(f"{base}/companyinfo/{{id}}", _negotiated(self.company_info), methods=["GET"]),
            Route(f"{base}/{{resource}}", _negotiated(self.write), methods=["POST"]),
            Route(f"{base}/{{resource}}/{{id}}", _negotiated(self.read), methods=["GET"]),
        ]

    # -- endpoints ------------------------------------------------------------------------

    async def write(self, request: Request) -> Response:
        resource = request.path_params["resource"]
        params = request.query_params
        raw = await request.body()

        def perform() -> Response:
            entity = WRITABLE.get(resource)
            if entity is None:
                raise _unsupported_path(request)
            body = _parse_body(raw)
            include = set(filter(None, params.get("include", "").split(",")))
            key, obj = self.execute(entity, params.get("operation"), include, body)
            return json_response({key: obj, "time": self._time()})

        return self._replayable(params.get("requestid"), MAX_REQUEST_ID, perform)

    async def read(self, request: Request) -> Response:
        entity = READABLE.get(request.path_params["resource"])
        if entity is None:
            return fault_response(_unsupported_path(request), self.clock.now())
        try:
            obj = self.company.read(entity, request.path_params["id"])
        except QboFault as fault:
            return fault_response(fault, self.clock.now())
        return json_response({entity: obj, "time": self._time()})

    async def query(self, request: Request) -> Response:
        if request.method == "POST":
            text = (await request.body()).decode("utf-8", "replace")
        else:
            text = request.query_params.get("query", "")
        try:
            return json_response({"QueryResponse": self.run_query(text), "time": self._time()})
        except QboFault as fault:
            return fault_response(fault, self.clock.now())

    async def batch(self, request: Request) -> Response:
        raw = await request.body()
        request_id = request.query_params.get("requestid")
        with self.batch_limiter.admit(self.company.realm_id) as verdict:
            if not verdict.allowed:
                return throttle_response(self.clock.now())

            def perform() -> Response:
                body = _parse_body(raw)
                items = body.get("BatchItemRequest")
                if not isinstance(items, list) or not items:
                    raise QboFault("2020", "Required Param Missing",
                                   "Required parameter BatchItemRequest is missing in the request")
                if len(items) > self.batch_max:
                    raise QboFault("1000", "Batch size exceeded",
                                   f"Maximum {self.batch_max} BatchItemRequest payloads allowed "
                                   f"in one batch request, got {len(items)}")
                if request_id is not None and any(
                        isinstance(item, dict)
                        and len(str(item.get("bId", ""))) > MAX_BATCH_ID_WITH_REQUEST_ID
                        for item in items):
                    raise request_id_too_long("bId", MAX_BATCH_ID_WITH_REQUEST_ID)
                with self.company.batch():
                    answers = [self._batch_item(item) for item in items]
                return json_response({"BatchItemResponse": answers, "time": self._time()})

            return self._replayable(request_id, MAX_BATCH_REQUEST_ID, perform)

    async def company_info(self, request: Request) -> Response:
        if request.path_params["id"] != self.company.realm_id:
            return fault_response(not_found(), self.clock.now())
        return json_response({"CompanyInfo": {
            "Id": self.company.realm_id, "SyncToken": "0", "CompanyName": self.company.name,
            "Country": self.company.prefs.country, "domain": "QBO", "sparse": False,
        }, "time": self._time()})

    # -- shared by single requests and batch items ----------------------------------------

    def execute(self, entity: str, operation: str | None, include: set[str],
                body: Obj) -> tuple[str, Obj]:
        company = self.company
        unrecognized_fields(entity, body)
        allow_dup = "allowduplicatedocnum" in include
        if operation == "delete":
            if entity not in ("Invoice", "Payment", "CreditMemo"):
                raise unsupported_operation("delete", entity)
            return entity, delete(company, entity, body)
        if operation == "void" or (operation == "update" and "void" in include):
            return entity, void(company, entity, body)
        if operation not in (None, "create", "update"):
            raise unsupported_operation(str(operation), entity)
        build = BUILDERS[entity]
        if operation == "update" or body.get("Id"):
            obj = company.update(entity, body, build, allow_dup=allow_dup)
        else:
            obj = company.create(entity, body, build, allow_dup=allow_dup)
        if entity == "Payment":
            apply_payment(company, obj)
        return entity, obj

    def run_query(self, text: str) -> dict[str, Any]:
        query = _query.parse(text)
        entity = next((name for name in READABLE.values()
                       if name.casefold() == query.entity.casefold()), None)
        if entity is None:
            raise QboFault("4001", "Invalid query",
                           f"QueryValidationError: Invalid entity name {query.entity}")
        rows = self.company.visible_rows(entity)
        if not any(c.path.casefold() == "active" for c in query.where):
            # As QBO: a name list (customers, items, accounts…) shows only its active
            # objects unless the query asks about Active; transactions have no Active.
            rows = [row for row in rows if row.get("Active") is not False]
        found = _query.run(query, rows)
        if isinstance(found, int):
            return {"totalCount": found}
        if not found:
            return {}
        return {entity: found, "startPosition": query.start, "maxResults": len(found)}

    def _batch_item(self, item: Any) -> Obj:
        bid = item.get("bId") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict) or not bid:
                raise QboFault("2020", "Required Param Missing",
                               "Required parameter bId is missing in the request")
            if "Query" in item:
                return {"bId": bid, "QueryResponse": self.run_query(str(item["Query"]))}
            entity = next((name for name in WRITABLE.values() if name in item), None)
            if entity is None:
                raise QboFault("2020", "Required Param Missing",
                               "Required parameter entity is missing in the request")
            include = {"void"} if item.get("optionsData") == "void" else set()
            operation = "void" if include and entity == "Invoice" else item.get("operation")
            key, obj = self.execute(entity, operation, include, item[entity])
            return {"bId": bid, key: obj}
        except QboFault as fault:
            return {"bId": bid, "Fault": fault.envelope()}

    def _replayable(self, request_id: str | None, limit: int,
                    perform: Callable[[], Response]) -> Response:
        if request_id is not None and len(request_id) > limit:
            return fault_response(request_id_too_long("requestid", limit), self.clock.now())
        replay = self.replays.recall(request_id) if request_id else None
        if replay is not None:
            return Response(replay.body, status_code=replay.status, media_type=replay.media_type)
        try:
            response = perform()
        except QboFault as fault:
            response = fault_response(fault, self.clock.now())
        if request_id and (self.replay_errors or response.status_code < 400):
            self.replays.remember(request_id, _Replay(
                response.status_code, bytes(response.body),
                response.media_type or "application/json"))
        return response

    def _time(self) -> str:
        return qbo_response_time(self.clock.now())


def _negotiated(endpoint: Endpoint) -> Endpoint:
    """QBO answers XML unless the client's Accept header asks for JSON."""

    async def negotiated(request: Request) -> Response:
        response = await endpoint(request)
        wants_json = "json" in request.headers.get("accept", "")
        if wants_json or response.media_type != "application/json":
            return response
        return Response(as_xml(bytes(response.body)), status_code=response.status_code,
                        media_type="application/xml")

    return negotiated


def _parse_body(raw: bytes) -> Obj:
    try:
        body = loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise QboFault("2010", "Request has invalid or unsupported property",
                       "Property Name:request body is not a JSON object")
    return body


def _unsupported_path(request: Request) -> QboFault:
    return QboFault("500", "Unsupported Operation",
                    f"Operation {request.url.path} is not supported.")

