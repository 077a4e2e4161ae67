"""The accounting routes of the sandbox, plus `/auth/api/v1/users/me`.

Under `/accounting/account/{accountId}/`, per resource (`users/clients`, `items/items`,
`invoices/invoices`, `payments/payments`, `credit_notes/credit_notes`): `GET` a page of
the list, `POST` create, `GET …/{id}`, `PUT …/{id}` update (soft delete with
`{"vis_state": 1}`); `DELETE …/{id}` on invoices only, as FreshBooks deletes invoices;
`GET taxes/taxes`.

Lists page by `page` and `per_page` (default 30; anything above 100 is silently cut to 100,
as FreshBooks does) and answer `page`, `pages`, `per_page`, `total`. Filters, the forms the
SDKs build (`FilterBuilder`): `search[<field>]=v` is equality, `search[<field>_like]=v` a
case-insensitive substring, `search[<field>s][]=a&search[<field>s][]=b` one of a list
(`search[invoiceids][]`, `search[clientids][]`), `search[updated_min]`/`search[updated_max]`
bound `updated` inclusively (US/Eastern, like the answers; a date, `YYYY-MM-DD HH:MM:SS` or
ISO 8601 with an offset). Deleted objects (`vis_state` 1) are listed only when asked
(`search[vis_state]=1`); archived ones (2) are listed with the active (UNCERTAIN). `sort` is
`<field>_asc` or `<field>_desc` (`updated_desc`, `SortBuilder`), ties in id order. A
document's `lines` are in a list's rows only with `include[]=lines`, as FreshBooks lists.

Refused as FreshBooks refuses (400, accounting error body): a page or per_page that is not a
positive integer (1014, 1013), a bound that is not a time (1004), `updated_min` after
`updated_max` (1007 DateRangeBackwardsError). A filter or sort on a field the resource does
not have is refused too (1004, UNCERTAIN: FreshBooks documents no answer, and ignoring it
would be a silent wrong answer).
A `GET` by id also returns soft-deleted objects, with their `vis_state` (UNCERTAIN).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._auth import ME_PATH
from .._dates import EASTERN, eastern
from . import _rules as rules
from ._rules import FbError, Refused
from ._state import CENT, CREDIT_TYPE, Books, Json

ACCOUNT = "/accounting/account/{account_id}"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
MONEY_FIELDS = frozenset({"amount", "paid", "outstanding", "applied", "balance"})
_SEARCH = re.compile(r"^search\[(\w+)\]$")

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Kind:
    path: str
    single: str
    plural: str
    store: str
    create: Callable[[Books, Json], Json] | None
    update: Callable[[Books, Json, Json], Json] | None
    delete: Callable[[Books, Json], Json] | None = None
    """HTTP DELETE; only invoices (and taxes, not emulated) are deleted this way."""
    searchable: frozenset[str] = frozenset()
    """Fields a list filters and sorts on, beside `id`, `vis_state`, `updated`."""


KINDS = [
    Kind("users/clients", "client", "clients", "clients", Books.create_client,
         Books.update_client, searchable=frozenset({
             "userid", "email", "organization", "fname", "lname", "note", "signup_date"})),
    Kind("items/items", "item", "items", "items", Books.create_item, Books.update_item,
         searchable=frozenset({"itemid", "name", "sku", "description"})),
    Kind("invoices/invoices", "invoice", "invoices", "invoices", Books.create_invoice,
         Books.update_invoice, Books.delete_invoice, searchable=frozenset({
             "invoiceid", "invoice_number", "customerid", "po_number", "create_date",
             "created_at", "status", "v3_status", "payment_status", "display_status"})),
    Kind("payments/payments", "payment", "payments", "payments", Books.create_payment,
         Books.update_payment, searchable=frozenset({
             "invoiceid", "clientid", "creditid", "note", "type", "date"})),
    Kind("credit_notes/credit_notes", "credit_note", "credit_notes", "credit_notes",
         Books.create_credit_note, Books.update_credit_note, searchable=frozenset({
             "creditid", "credit_number", "clientid", "po_number", "create_date",
             "created_at", "display_status"})),
]
TAXES = Kind("taxes/taxes", "tax", "taxes", "taxes", None, None,
             searchable=frozenset({"taxid", "name"}))
_ALWAYS = frozenset({"id", "vis_state", "updated"})


@dataclass
class FreshBooksApi:
    books: Books

    def routes(self) -> list[Route]:
        routes = [Route(ME_PATH, self._me, methods=["GET"]),
                  Route(f"{ACCOUNT}/{TAXES.path}", self._list(TAXES), methods=["GET"])]
        for kind in KINDS:
            base = f"{ACCOUNT}/{kind.path}"
            routes += [
                Route(base, self._list(kind), methods=["GET"]),
                Route(base, self._create(kind), methods=["POST"]),
                Route(f"{base}/{{object_id}}", self._get(kind), methods=["GET"]),
                Route(f"{base}/{{object_id}}", self._update(kind), methods=["PUT"]),
            ]
            if kind.delete is not None:
                routes.append(Route(f"{base}/{{object_id}}", self._delete(kind),
                                    methods=["DELETE"]))
        return routes

    async def _me(self, request: Request) -> Response:
        books = self.books
        business = {"id": books.business_id, "business_uuid": f"uuid-{books.business_id}",
                    "name": books.name, "account_id": books.account_id,
                    "date_format": "mm/dd/yyyy"}
        return JSONResponse({"response": {
            "id": 1, "identity_id": 1, "first_name": "Sandbox", "last_name": "Owner",
            "email": "owner@sandbox.example", "language": "en",
            "business_memberships": [{"id": 1, "role": "owner",
                                      "unacknowledged_change": False, "business": business}],
            "roles": [{"id": 1, "role": "admin", "accountid": books.account_id}],
        }})

    # -- handlers --------------------------------------------------------------------------

    def _list(self, kind: Kind) -> Handler:
        @_refusals
        async def handler(request: Request) -> Response:
            query = request.query_params
            page = _positive(query.get("page", "1"), rules.INVALID_PAGE, "page")
            per_page = min(_positive(query.get("per_page", str(DEFAULT_PER_PAGE)),
                                     rules.INVALID_PER_PAGE, "per_page"), MAX_PER_PAGE)
            chosen = _sorted(_listed(self._store(kind).values(), kind, query), kind,
                             query.get("sort"))
            window = chosen[(page - 1) * per_page: page * per_page]
            # A document's lines come in a list only when asked (UNCERTAIN for FreshBooks'
            # reads by id, which the sandbox answers whole).
            lines = "lines" in query.getlist("include[]")
            rows = [_view(e if lines else _without_lines(e)) for e in window]
            return _ok({kind.plural: rows, "page": page,
                        "pages": max(math.ceil(len(chosen) / per_page), 1),
                        "per_page": per_page, "total": len(chosen)})

        return handler

    def _get(self, kind: Kind) -> Handler:
        @_refusals
        async def handler(request: Request) -> Response:
            return _ok({kind.single: _view(self._find(kind, request))})

        return handler

    def _create(self, kind: Kind) -> Handler:
        @_refusals
        async def handler(request: Request) -> Response:
            assert kind.create is not None
            created = kind.create(self.books, await _body(request, kind))
            return _ok({kind.single: _view(created)})

        return handler

    def _update(self, kind: Kind) -> Handler:
        @_refusals
        async def handler(request: Request) -> Response:
            assert kind.update is not None
            found = self._find(kind, request)
            updated = kind.update(self.books, found, await _body(request, kind))
            return _ok({kind.single: _view(updated)})

        return handler

    def _delete(self, kind: Kind) -> Handler:
        @_refusals
        async def handler(request: Request) -> Response:
            assert kind.delete is not None
            return _ok({kind.single: _view(kind.delete(self.books, self._find(kind, request)))})

        return handler

    def _store(self, kind: Kind) -> dict[int, Json]:
        store: dict[int, Json] = getattr(self.books, kind.store)
        return store

    def _find(self, kind: Kind, request: Request) -> Json:
        raw = request.path_params["object_id"]
        found = self._store(kind).get(int(raw)) if str(raw).isdigit() else None
        if found is None:
            raise rules.not_found(kind.single, raw)
        return found


def person_routes(books: Books) -> list[Route]:
    """What a person does in FreshBooks' app that its API cannot (control API, unguarded):
    `POST /_sandbox/move-payment {"id": payment id, "invoiceid": …}` applies a payment to
    another invoice of its client (`Books.move_payment`)."""

    @_refusals
    async def move(request: Request) -> Response:
        body = await request.json()
        payment = books.payments.get(int(body.get("id") or 0))
        if payment is None:
            raise rules.not_found("payment", body.get("id"))
        return _ok({"payment": _view(books.move_payment(payment, body.get("invoiceid")))})

    return [Route("/_sandbox/move-payment", move, methods=["POST"])]


def counted(books: Books) -> dict[str, int]:
    """Live objects per engine entity; credit applications are not payments of the ledger."""
    def live(store: dict[int, Json]) -> list[Json]:
        return [e for e in store.values() if e["vis_state"] == 0]

    return {"customer": len(live(books.clients)), "item": len(live(books.items)),
            "invoice": len(live(books.invoices)),
            "payment": sum(1 for p in live(books.payments) if p["type"] != CREDIT_TYPE),
            "credit_note": len(live(books.credit_notes))}


def _refusals(handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as refused:
            return error_response(refused.status, *refused.errors)

    return guarded


def error_response(status: int, *errors: FbError) -> JSONResponse:
    return JSONResponse({"response": {"errors": [e.wire() for e in errors]}}, status_code=status)


async def _body(request: Request, kind: Kind) -> Json:
    try:
        payload = json.loads(await request.body() or b"null", parse_float=Decimal)
    except ValueError:
        raise Refused(400, FbError(rules.PARSE, None, "Could not parse the request body as "
                                   "JSON.", kind.single)) from None
    body = payload.get(kind.single) if isinstance(payload, dict) else None
    if not isinstance(body, dict):
        raise Refused(400, rules.required(kind.single, kind.single))
    return body


def _positive(raw: str, errno: int, name: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise Refused(400, FbError(errno, name, f"{name} must be a positive integer.", "list",
                                   raw))
    return int(raw)


_LIST = re.compile(r"^search\[(\w+)\]\[\]$")
_DELETED = 1


def _listed(elements: Iterable[Json], kind: Kind, query: QueryParams) -> list[Json]:
    """The elements every filter of the query lets through; refused when one is malformed."""
    tests: list[Callable[[Json], bool]] = []
    lists: dict[str, set[str]] = {}
    bounds: dict[str, datetime] = {}
    for key, wanted in query.multi_items():
        if (listed := _LIST.match(key)) is not None:
            name = _field(kind, listed.group(1).removesuffix("s"), key)
            lists.setdefault(name, set()).add(wanted)
        elif (match := _SEARCH.match(key)) is not None:
            name = match.group(1)
            if name in ("updated_min", "updated_max"):
                bounds[name] = _moment(name, wanted)
            elif name.endswith("_like"):
                tests.append(_like(_field(kind, name.removesuffix("_like"), key), wanted))
            else:
                tests.append(_equal(_field(kind, name, key), wanted))
    low, high = bounds.get("updated_min"), bounds.get("updated_max")
    if low is not None and high is not None and low > high:
        raise Refused(400, FbError(rules.DATE_RANGE_BACKWARDS, "updated_min", "updated_min "
                                   "must not be after updated_max.", "list", query.get(
                                       "search[updated_min]")))
    if low is not None:
        tests.append(lambda e: e["updated"] >= low)
    if high is not None:
        tests.append(lambda e: e["updated"] <= high)
    tests += [_one_of(name, values) for name, values in lists.items()]
    if query.get("search[vis_state]", "0") not in ("0", "1", "2"):
        raise Refused(400, rules.invalid("list", "search[vis_state]", "vis_state must be 0, "
                                         "1 or 2.", query.get("search[vis_state]")))
    if "search[vis_state]" not in query:
        # Deleted objects are FreshBooks' "deleted" list, shown only when asked for.
        tests.append(lambda e: e.get("vis_state", 0) != _DELETED)
    return [e for e in elements if all(test(e) for test in tests)]


def _field(kind: Kind, name: str, key: str) -> str:
    if name not in kind.searchable | _ALWAYS:
        raise Refused(400, rules.invalid("list", key, f"{kind.plural} cannot be searched "
                                         f"by {name}.", name))
    return name


def _like(name: str, wanted: str) -> Callable[[Json], bool]:
    return lambda e: wanted.lower() in str(e.get(name) or "").lower()


def _one_of(name: str, values: set[str]) -> Callable[[Json], bool]:
    return lambda e: _text(e.get(name)) in values


def _equal(name: str, wanted: str) -> Callable[[Json], bool]:
    return lambda e: _text(e.get(name)) == wanted


def _sorted(elements: list[Json], kind: Kind, sort: str | None) -> list[Json]:
    """In id order, or by `<field>_asc` / `<field>_desc` with ties in id order."""
    ordered = sorted(elements, key=lambda e: e["id"])
    if sort is None:
        return ordered
    name, _, direction = sort.rpartition("_")
    if direction not in ("asc", "desc") or name not in kind.searchable | _ALWAYS:
        raise Refused(400, rules.invalid("list", "sort", f"{kind.plural} cannot be sorted "
                                         f"by {sort!r}.", sort))
    present = [e for e in ordered if e.get(name) is not None]
    absent = [e for e in ordered if e.get(name) is None]
    present.sort(key=lambda e: e[name], reverse=direction == "desc")
    return present + absent


def _moment(name: str, text: str) -> datetime:
    """A filter bound, read like FreshBooks' own timestamps: US/Eastern unless it says."""
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        raise Refused(400, rules.invalid("list", name, "Invalid date.", text)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=EASTERN)


def _text(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def _without_lines(element: Json) -> Json:
    return {k: v for k, v in element.items() if k != "lines"}


def _view(element: Json) -> Json:
    """An object as FreshBooks shows it: money with its code, times in US/Eastern."""
    currency = str(element.get("currency_code") or "USD")
    view: Json = {}
    for key, value in element.items():
        if key.startswith("_"):
            continue
        if key in MONEY_FIELDS and isinstance(value, Decimal) and "taxid" not in element:
            value = {"amount": value, "code": currency}
        elif key == "lines":
            value = [_view({**line, "currency_code": currency}) for line in value]
            for line in value:
                line.pop("currency_code")
        view[key] = _render(value)
    return view


def _render(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _render(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render(v) for v in value]
    if isinstance(value, Decimal):
        return format(value.quantize(CENT) if value == value.quantize(CENT) else value, "f")
    if isinstance(value, datetime):
        return eastern(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _ok(result: Json) -> JSONResponse:
    return JSONResponse({"response": {"result": result}})
