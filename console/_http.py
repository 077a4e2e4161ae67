"""`syncdesk serve`: the HTTP API a business's own app feeds syncdesk through.

Versioned under `/v1`, JSON in and out, errors as `application/problem+json` (RFC 9457) that
name the record and the field. Records are validated by exactly the checks a ledger file gets
(`engine.parse_json`), so the API, the importer and the OpenAPI document describe one model.
Every write is one transaction of the ledger: a request that is refused has written nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine import (
    MODEL_OF,
    SECTIONS,
    ApiKey,
    ApiKeys,
    ConfigError,
    Entity,
    HookInbox,
    InputError,
    JobFilter,
    JobRow,
    Ledger,
    Problem,
    QueryError,
    Record,
    Store,
    SyncService,
    UpsertResult,
    hint_for,
    parse_json,
    parse_record,
)
from engine._time import to_iso, utcnow

MAX_BODY = 2_000_000
"""Largest request body, in bytes: a batch of a few thousand records."""

_ENDABLE = {Entity.INVOICE, Entity.PAYMENT, Entity.CREDIT_NOTE}


class ApiError(Exception):
    """A refusal, as the problem document it becomes."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra

    def response(self) -> JSONResponse:
        body = {"type": "about:blank", "title": self.title, "status": self.status,
                "detail": self.detail, **self.extra}
        headers = {"WWW-Authenticate": 'Bearer realm="syncdesk"'} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, headers=headers,
                            media_type="application/problem+json")


def _problems(problems: list[Problem]) -> ApiError:
    listed = [{"record": p.record, "field": p.field, "message": p.message} for p in problems]
    first = problems[0]
    where = " ".join(part for part in (first.record, first.field) if part)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ApiError(422, "Unprocessable record", f"{where}: {first.message}{more}; nothing "
                    "was saved", errors=listed)


_Waiting = tuple[int, list[Record], str, "asyncio.Future[UpsertResult]"]
"""A request's upsert waiting for the next transaction: (business, records, actor, answer)."""


class _GroupCommit:
    """Upserts of concurrent requests, committed together.

    While one transaction is on the store, requests that arrive wait for the next, which
    takes them all (each under its own savepoint, still all-or-nothing on its own). Under
    load a PUT then costs a share of one transaction and of one store lock instead of a
    whole one; alone it is written at once. Each business's requests commit in a transaction
    of that business's ledger."""

    LARGEST = 256

    def __init__(self, store: Store) -> None:
        self.store = store
        self.waiting: list[_Waiting] = []
        self.flushing: asyncio.Task[None] | None = None

    async def upsert(self, business: int, records: list[Record], actor: str) -> UpsertResult:
        future: asyncio.Future[UpsertResult] = asyncio.get_running_loop().create_future()
        self.waiting.append((business, records, actor, future))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self.waiting:
            business = self.waiting[0][0]
            batch: list[_Waiting] = []
            later: list[_Waiting] = []
            for waiting in self.waiting:
                fits = waiting[0] == business and len(batch) < self.LARGEST
                (batch if fits else later).append(waiting)
            self.waiting = later
            outcomes: list[UpsertResult | Exception]
            try:
                outcomes = [*await Ledger(self.store, business=business).upsert_each(
                    [(r, a) for _, r, a, _ in batch])]
            except Exception as exc:  # the transaction itself failed: none was written
                outcomes = [exc] * len(batch)
            for (_, _, _, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


KEY_CACHE_SECONDS = 1.0
"""How long a checked key is trusted without reading the store again: a revocation (made by
`syncdesk api-key revoke`, another process) takes effect within this."""


@dataclass
class _Context:
    store: Store
    keys: ApiKeys
    max_body: int
    writes: _GroupCommit
    key_cache_seconds: float
    checked: dict[str, tuple[ApiKey, float]] = field(default_factory=dict)
    """Secret → the key it is and when it was read, for `KEY_CACHE_SECONDS`."""
    hooks: HookInbox | None = None
    """The platforms' incoming webhooks (`POST /v1/hooks/{platform}`); None answers 404."""


Handler = Callable[[Request, _Context, ApiKey], Awaitable[Response]]


def build_api(store: Store, *, max_body: int = MAX_BODY,
              key_cache_seconds: float = KEY_CACHE_SECONDS,
              hooks: HookInbox | None = None) -> Starlette:
    context = _Context(store, ApiKeys(store), max_body, _GroupCommit(store),
                       key_cache_seconds, hooks=hooks)

    def guarded(handler: Handler, *, writes: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                key = await _authenticate(request, context)
                if writes and key.read_only:
                    raise ApiError(403, "Read-only key", f"the API key {key.name!r} may only "
                                   "read; this request changes records")
                return await handler(request, context, key)
            except ApiError as error:
                return error.response()
        return endpoint

    async def hook(request: Request) -> Response:
        try:
            return await _hook(request, context)
        except ApiError as error:
            return error.response()

    routes = [
        Route("/v1/openapi.json", _openapi, methods=["GET"]),
        Route("/v1/hooks/{platform}", hook, methods=["POST"]),
        Route("/v1/batch", guarded(_batch, writes=True), methods=["POST"]),
        Route("/v1/problems", guarded(_list_problems, writes=False), methods=["GET"]),
        Route("/v1/retry", guarded(_retry, writes=True), methods=["POST"]),
        Route("/v1/invoices/{record_id}/send", guarded(_send, writes=True), methods=["POST"]),
        Route("/v1/{collection}/{record_id}/void", guarded(_void, writes=True),
              methods=["POST"]),
        Route("/v1/{collection}/{record_id}/sync", guarded(_sync_status, writes=False),
              methods=["GET"]),
        Route("/v1/{collection}/{record_id}", guarded(_put, writes=True), methods=["PUT"]),
        Route("/v1/{collection}/{record_id}", guarded(_delete, writes=True),
              methods=["DELETE"]),
        Route("/v1/{collection}/{record_id}", guarded(_get, writes=False), methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})


async def _not_found(request: Request, exc: Exception) -> Response:
    return ApiError(404, "Not found", f"no such endpoint: {request.method} "
                    f"{request.url.path}").response()


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return ApiError(405, "Method not allowed", f"{request.method} is not allowed on "
                    f"{request.url.path}").response()


async def _authenticate(request: Request, context: _Context) -> ApiKey:
    header = request.headers.get("authorization", "")
    secret = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get(
        "x-api-key", "")
    if not secret:
        raise ApiError(401, "Unauthorized", "send the API key as `Authorization: Bearer <key>` "
                       "(make one with `syncdesk api-key create`)")
    now = time.monotonic()
    seen = context.checked.get(secret)
    key = seen[0] if seen is not None and now - seen[1] < context.key_cache_seconds \
        else None
    if key is None or not key.live(utcnow()):
        key = await context.keys.authenticate(secret)
        if key is None:
            context.checked.pop(secret, None)
        else:
            if len(context.checked) > 1000:  # a flood of distinct keys: forget, not grow
                context.checked.clear()
            context.checked[secret] = (key, now)
    if key is None:
        raise ApiError(401, "Unauthorized", "this API key is not valid: it was revoked, its "
                       "rotation overlap ended, or it was never issued")
    return key


# -- reading requests -------------------------------------------------------------------


async def _raw_body(request: Request, context: _Context) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > context.max_body:
        raise _too_large(context.max_body)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > context.max_body:
            raise _too_large(context.max_body)
        chunks.append(chunk)
    return b"".join(chunks)


async def _body(request: Request, context: _Context) -> str:
    raw = await _raw_body(request, context)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(422, "Unreadable body", f"the body is not UTF-8 (byte {exc.start})"
                       ) from None


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "Body too large", f"the body is over {limit:,} bytes; send a large "
                    "load as several batches")


def _entity(request: Request) -> Entity:
    collection = request.path_params["collection"]
    entity = SECTIONS.get(collection)
    if entity is None:
        raise ApiError(404, "Not found", f"no collection {collection!r}: one of "
                       f"{', '.join(SECTIONS)}")
    return entity


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(422, "Bad parameter", f"{name}: must be true or false, got {value!r}")
    return value in ("true", "1")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# -- writes -----------------------------------------------------------------------------


async def _put(request: Request, context: _Context, key: ApiKey) -> Response:
    entity, record_id = _entity(request), request.path_params["record_id"]
    text = await _body(request, context)
    try:
        # Numbers stay exact (Decimal), and reach the model as the text they were.
        fields = json.loads(text, parse_float=Decimal, parse_int=Decimal,
                            parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        where = (f" (line {exc.lineno}, column {exc.colno})"
                 if isinstance(exc, json.JSONDecodeError) else "")
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ApiError(422, "Unprocessable record", f"the body is not JSON: {message}{where}; "
                       "nothing was saved") from None
    if not isinstance(fields, dict):
        raise ApiError(422, "Unprocessable record", "the body must be a JSON object with the "
                       f"fields of a {entity.label} (many records go to POST /v1/batch)")
    if fields.setdefault("id", record_id) != record_id:
        raise ApiError(422, "Unprocessable record", f"id: the body says {fields['id']!r} but "
                       f"the path says {record_id!r}", errors=[
                           {"record": f"{entity.label} {record_id}", "field": "id",
                            "message": "must match the id in the path"}])
    parsed = parse_record("body", entity, fields)
    if parsed.problems:
        raise _problems(parsed.problems)
    result = await _upsert(context, parsed.records, key)
    outcome = ("created" if result.created else "updated" if result.updated else "unchanged")
    return JSONResponse({"id": record_id, "entity": entity.value, "result": outcome,
                         "jobs_queued": result.jobs_queued},
                        status_code=201 if result.created else 200)


async def _batch(request: Request, context: _Context, key: ApiKey) -> Response:
    parsed = parse_json("body", await _body(request, context))
    if parsed.problems:
        raise _problems(parsed.problems)
    result = await _upsert(context, parsed.records, key)
    return JSONResponse({"created": result.created, "updated": result.updated,
                         "unchanged": result.unchanged, "jobs_queued": result.jobs_queued})


async def _upsert(context: _Context, records: list[Record], key: ApiKey) -> UpsertResult:
    try:
        return await context.writes.upsert(key.business_id, records, _actor(key))
    except InputError as exc:
        # The ledger's own checks (references, allocations, unique numbers): one line each.
        lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        errors = []
        for line in lines:
            record, _, rest = line.partition(": ")
            field, _, message = rest.partition(": ")
            errors.append({"record": record, "field": field if message else "",
                           "message": message or rest})
        raise ApiError(422, "Unprocessable record", str(exc).splitlines()[0] if not lines
                       else f"{lines[0]}; nothing was saved", errors=errors) from None


async def _send(request: Request, context: _Context, key: ApiKey) -> Response:
    record_id = request.path_params["record_id"]
    record = await _existing(context, key, Entity.INVOICE, record_id)
    if record.status.value == "sent":
        return JSONResponse({"id": record_id, "result": "unchanged", "status": "sent"})
    if record.status.value != "draft":
        raise ApiError(409, "Conflict", f"invoice {record.number} is {record.status.value}; "
                       "only a draft can be sent")
    sent = type(record).model_validate({**record.model_dump(by_alias=True), "status": "sent"})
    result = await _upsert(context, [sent], key)
    return JSONResponse({"id": record_id, "result": "updated", "status": "sent",
                         "jobs_queued": result.jobs_queued})


async def _void(request: Request, context: _Context, key: ApiKey) -> Response:
    return await _end(request, context, key, delete=False)


async def _delete(request: Request, context: _Context, key: ApiKey) -> Response:
    return await _end(request, context, key, delete=True)


async def _end(request: Request, context: _Context, key: ApiKey, *, delete: bool) -> Response:
    entity, record_id = _entity(request), request.path_params["record_id"]
    if entity not in _ENDABLE:
        raise ApiError(405, "Method not allowed", f"a {entity.label} cannot be voided or "
                       "deleted, only changed (PUT)")
    await _existing(context, key, entity, record_id)
    service = SyncService(context.store, actor=_actor(key), business=key.business_id)
    try:
        done = await service.end_record(entity, record_id, unapply=_flag(request, "unapply"),
                                        delete=delete)
    except InputError as exc:
        raise ApiError(409, "Conflict", str(exc)) from None
    return JSONResponse({"id": record_id, "entity": entity.value, "removed": done.removed,
                         "changed": done.changed,
                         "unapplied": [str(entry) for entry in done.unapplied],
                         "jobs_queued": done.jobs_queued})


async def _retry(request: Request, context: _Context, key: ApiKey) -> Response:
    text = await _body(request, context)
    try:
        asked = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ApiError(422, "Unprocessable body", f"the body is not JSON: {exc.msg}") from None
    if not isinstance(asked, dict) or not isinstance(asked.get("filter", ""), str) \
            or not isinstance(asked.get("dry_run", False), bool):
        raise ApiError(422, "Unprocessable body", 'the body is {"filter": "<query>", '
                       '"dry_run": true|false}', errors=[{"record": "", "field": "filter",
                                                          "message": "must be a string"}])
    where = _filter(asked.get("filter", ""))
    service = SyncService(context.store, actor=_actor(key), business=key.business_id)
    count = await service.retry_matching(where, dry_run=asked.get("dry_run", False))
    return JSONResponse({"matched" if asked.get("dry_run") else "queued": count,
                         "filter": where.describe()})


def _actor(key: ApiKey) -> str:
    return f"api:{key.name}"


# -- feed: the platforms' webhooks in --------------------------------------------------

async def _hook(request: Request, context: _Context) -> Response:
    """A platform's webhook: no API key, its signature is the authentication (checked by
    the engine with the connection's webhook key). It only marks feeds due: what changed is
    read through the feed, never taken from the payload."""
    platform = request.path_params["platform"]
    if context.hooks is None:
        raise ApiError(404, "Not found", "this service takes no platform webhooks")
    reply = await context.hooks.receive(platform, request.headers,
                                        await _raw_body(request, context))
    # A registration handshake is confirmed after the platform has its answer.
    confirm = reply.confirm
    hooks = context.hooks
    background = BackgroundTask(hooks.confirm, platform, confirm) if confirm else None
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type,
                    background=background)


# -- reads ------------------------------------------------------------------------------


async def _existing(context: _Context, key: ApiKey, entity: Entity, record_id: str) -> Any:
    record = await Ledger(context.store, business=key.business_id).get(entity, record_id)
    if record is None:
        raise ApiError(404, "Not found", f"no {entity.label} {record_id!r}")
    return record


async def _get(request: Request, context: _Context, key: ApiKey) -> Response:
    entity, record_id = _entity(request), request.path_params["record_id"]
    record = await _existing(context, key, entity, record_id)
    return Response(record.model_dump_json(by_alias=True), media_type="application/json")


async def _sync_status(request: Request, context: _Context, key: ApiKey) -> Response:
    entity, record_id = _entity(request), request.path_params["record_id"]
    await _existing(context, key, entity, record_id)
    jobs = await SyncService(context.store, _actor(key), business=key.business_id
                             ).record_jobs(entity, record_id)
    return JSONResponse({"id": record_id, "entity": entity.value,
                         "connections": [_job_json(job, number) for job, number in jobs]})


def _job_json(job: JobRow, number: str | None = None) -> dict[str, Any]:
    last = job.last_attempt_at
    return {
        "job": job.id, "connection": job.connection_id, "platform": job.platform,
        "entity": job.entity.value, "record_id": job.record_id, "label": job.label,
        "status": job.status, "in_doubt": job.in_doubt, "remote_id": job.remote_id,
        "remote_number": number, "attempts": job.attempts,
        "last_attempt_at": to_iso(last) if last else None,
        "error": None if job.error_class is None else {
            "class": job.error_class, "code": job.error_code, "message": job.error_message,
            "http_status": job.http_status},
        "hint": hint_for(job) or None,
    }


def _filter(query: str) -> JobFilter:
    try:
        return JobFilter.parse(query, now=utcnow())
    except (QueryError, ConfigError) as exc:
        raise ApiError(422, "Bad filter", str(exc), errors=[
            {"record": "", "field": "filter", "message": str(exc)}]) from None


async def _list_problems(request: Request, context: _Context, key: ApiKey) -> Response:
    where = _filter(request.query_params.get("filter", ""))
    try:
        limit = int(request.query_params.get("limit", "100"))
        after = int(request.query_params.get("after", "0"))
    except ValueError:
        raise ApiError(422, "Bad parameter", "limit and after must be whole numbers") from None
    if not 1 <= limit <= 1000:
        raise ApiError(422, "Bad parameter", f"limit: must be 1 to 1000, got {limit}")
    service = SyncService(context.store, _actor(key), business=key.business_id)
    jobs = await service.problem_jobs(where, after=after, limit=limit)
    following = jobs[-1].id if len(jobs) == limit else None
    return JSONResponse({"problems": [_job_json(job) for job in jobs], "next_after": following})


# -- the contract -----------------------------------------------------------------------


def openapi() -> dict[str, Any]:
    """The OpenAPI document, built from the ledger's own pydantic models."""
    schemas: dict[str, Any] = {}
    for model in MODEL_OF.values():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}",
                                         by_alias=True)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    problem = {"content": {"application/problem+json": {"schema": {
        "$ref": "#/components/schemas/Problem"}}}}
    schemas["Problem"] = {"type": "object", "properties": {
        "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "errors": {"type": "array", "items": {
            "type": "object", "properties": {"record": {"type": "string"},
                                             "field": {"type": "string"},
                                             "message": {"type": "string"}}}}}}
    errors = {"401": {"description": "no key, or not a valid one", **problem},
              "404": {"description": "no such record", **problem},
              "413": {"description": "body too large", **problem},
              "422": {"description": "the record is not valid; nothing was saved", **problem}}
    paths: dict[str, Any] = {}
    for collection, entity in SECTIONS.items():
        ref = {"$ref": f"#/components/schemas/{MODEL_OF[entity].__name__}"}
        item = f"/v1/{collection}/{{record_id}}"
        paths[item] = {
            "parameters": [{"name": "record_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "put": {"summary": f"Create or update a {entity.label} by your app's id "
                               "(idempotent: the same body twice changes nothing)",
                    "requestBody": {"required": True,
                                    "content": {"application/json": {"schema": ref}}},
                    "responses": {"201": {"description": "created"},
                                  "200": {"description": "updated or unchanged"}, **errors}},
            "get": {"summary": f"The {entity.label} as stored",
                    "responses": {"200": {"description": "the record", "content": {
                        "application/json": {"schema": ref}}}, **errors}},
        }
        if entity in _ENDABLE:
            paths[item]["delete"] = {
                "summary": f"Delete the {entity.label} (a sent invoice is voided)",
                "parameters": [{"name": "unapply", "in": "query",
                                "schema": {"type": "boolean"}}],
                "responses": {"200": {"description": "done"}, **errors}}
            paths[f"{item}/void"] = {"post": {
                "summary": f"Void the {entity.label} on every platform",
                "responses": {"200": {"description": "done"}, **errors}}}
        paths[f"{item}/sync"] = {"get": {
            "summary": "How the record stands on each connection",
            "responses": {"200": {"description": "per connection: status, remote id and "
                                                 "number, last attempt, error, hint"},
                          **errors}}}
    paths["/v1/invoices/{record_id}/send"] = {"post": {
        "summary": "Mark a draft invoice sent: it is queued for every platform",
        "responses": {"200": {"description": "sent"}, **errors}}}
    paths["/v1/batch"] = {"post": {
        "summary": "Many records in one transaction, all or nothing",
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "properties": {
                name: {"type": "array", "items": {
                    "$ref": f"#/components/schemas/{MODEL_OF[entity].__name__}"}}
                for name, entity in SECTIONS.items()}}}}},
        "responses": {"200": {"description": "counts"}, **errors}}}
    paths["/v1/problems"] = {"get": {
        "summary": "Records that need a person, filtered with the CLI's query grammar",
        "parameters": [{"name": "filter", "in": "query", "schema": {"type": "string"}},
                       {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                       {"name": "after", "in": "query", "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "a page of problems"}, **errors}}}
    paths["/v1/retry"] = {"post": {
        "summary": "Retry every record matching a filter (dry_run counts them)",
        "responses": {"200": {"description": "how many"}, **errors}}}
    paths["/v1/hooks/{platform}"] = {"post": {
        "summary": "A platform's webhook (quickbooks, xero, freshbooks): authenticated by the "
                   "platform's own signature, not an API key; it makes the engine read the "
                   "changes it names (docs/WAYBACK.md)",
        "security": [],
        "parameters": [{"name": "platform", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "verified (or a handshake answered)"},
                      "401": {"description": "the signature did not verify; logged"},
                      "404": {"description": "no webhooks for that platform"}}}}
    return {"openapi": "3.1.0",
            "info": {"title": "syncdesk", "version": "1"},
            "components": {"schemas": schemas, "securitySchemes": {
                "key": {"type": "http", "scheme": "bearer"}}},
            "security": [{"key": []}], "paths": paths}


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi())


KEY_OVERLAP = timedelta(days=1)
"""How long a rotated key keeps working by default, so an app can be redeployed."""
