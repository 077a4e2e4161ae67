"""The one API route: `POST /graphql/public`, executed by graphql-core against the schema.

Each request is parsed, validated and executed as separate steps, so each kind of failure
gets the code Wave gives it (PLATFORMS.md §3.4): a document that does not parse or does not
validate against the schema, or variables that do not fit their types, is
`GRAPHQL_VALIDATION_FAILED` with no `data`; an object addressed by an id that does not exist
is `NOT_FOUND` with its field null. Every error carries `extensions.id`, the reference Wave
support asks for. HTTP status is 200 whenever GraphQL answered.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    execute_sync,
    parse,
    validate,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._auth import API_PATH
from ._resolvers import RequestContext, WaveRoot
from ._state import Books, Missing

VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


@dataclass
class GraphQLEndpoint:
    schema: GraphQLSchema
    root: WaveRoot

    def routes(self) -> list[Route]:
        return [Route(API_PATH, self.handle, methods=["POST"])]

    async def handle(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _bad_request("POST body sent invalid JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _bad_request("POST body must be a JSON object with a 'query' string.")
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return _bad_request("'variables' must be a JSON object.")
        context = RequestContext(authorization=request.headers.get("authorization", ""))
        return JSONResponse(self.run(body["query"], variables, body.get("operationName"),
                                     context))

    def run(self, query: str, variables: dict[str, Any], operation: str | None,
            context: RequestContext) -> dict[str, Any]:
        try:
            document = parse(query)
        except GraphQLError as error:
            return {"errors": [_format(error, VALIDATION_FAILED)]}
        problems = validate(self.schema, document)
        if problems:
            return {"errors": [_format(e, VALIDATION_FAILED) for e in problems]}
        result = execute_sync(self.schema, document, root_value=self.root,
                              context_value=context, variable_values=variables,
                              operation_name=operation)
        return _envelope(result)


def person_routes(books: Books) -> list[Route]:
    """What a person does in Wave's app that the public API cannot (control API, unguarded):
    `POST /_sandbox/record-payment {"invoiceId": …, "amount": "40.00"}` records a payment on
    an invoice (`Books.record_payment`); a negative amount removes that much of what was
    recorded, so a payment moved to another invoice is one of each."""

    async def record(request: Request) -> Response:
        body = await request.json()
        try:
            amount = Decimal(str(body["amount"]))
            invoice = books.get("invoices", "Invoice", str(body["invoiceId"]))
        except (KeyError, InvalidOperation):
            return JSONResponse({"error": "give invoiceId and a decimal amount"},
                                status_code=400)
        except Missing as missing:
            return JSONResponse({"error": str(missing)}, status_code=404)
        if not amount.is_finite() or invoice["amountPaid"]["_amount"] + amount < 0:
            return JSONResponse({"error": f"cannot take {-amount} off what is recorded"},
                                status_code=400)
        paid = books.record_payment(invoice["id"], amount)
        return JSONResponse({"invoiceId": paid["id"], "status": paid["status"],
                             "amountDue": paid["amountDue"]["value"]})

    return [Route("/_sandbox/record-payment", record, methods=["POST"])]


def _envelope(result: ExecutionResult) -> dict[str, Any]:
    if result.data is None and result.errors:
        # Execution never started: the variables did not fit their declared types.
        return {"errors": [_format(e, VALIDATION_FAILED) for e in result.errors]}
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [_format(e, _code(e)) for e in result.errors]
    return answer


def _code(error: GraphQLError) -> str:
    if isinstance(error.original_error, Missing):
        return "NOT_FOUND"
    return "INTERNAL_SERVER_ERROR"


def _format(error: GraphQLError, code: str) -> dict[str, Any]:
    formatted = dict(error.formatted)
    formatted["extensions"] = {"id": str(uuid.uuid4()), "code": code}
    return formatted


def _bad_request(message: str) -> Response:
    return JSONResponse({"errors": [{"message": message, "extensions": {
        "id": str(uuid.uuid4()), "code": "BAD_REQUEST"}}]}, status_code=400)
