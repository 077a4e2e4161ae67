"""The subset of QBO's query language the sandbox understands.

    SELECT * | count(*) FROM <Entity> [WHERE <cond> [AND <cond>]…]
        [ORDERBY <field> [ASC|DESC]]   (ORDER BY is accepted too) [STARTPOSITION n] [MAXRESULTS n]
    <cond> := <field> (= | < | > | <= | >= | LIKE) <value> | <field> IN (<value>, …)

Like QBO: no OR, string literals in single quotes with `\\'` escapes, keywords and field
names case-insensitive, references compare by id (`CustomerRef = '58'`), MAXRESULTS ≤ 1000.
Parse failures answer code 4000 as QBO does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ._state import Obj
from ._wire import QboFault

MAX_RESULTS = 1000
DEFAULT_RESULTS = 100

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:\\.|[^'\\])*')|(?P<op><=|>=|=|<|>|\(|\)|,|\*)"
    r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][\w.]*))"
)


@dataclass(frozen=True)
class Condition:
    path: str
    op: str
    values: tuple[str, ...]


@dataclass
class Query:
    entity: str
    count: bool = False
    where: list[Condition] = field(default_factory=list)
    order_by: str | None = None
    descending: bool = False
    start: int = 1
    max_results: int = DEFAULT_RESULTS


def _parse_error(detail: str) -> QboFault:
    return QboFault("4000", "Error parsing query", f"QueryParserError: {detail}")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip().rstrip(";")
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _parse_error(f'Encountered "{text[position:position + 10]}" at column '
                               f"{position + 1}.")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> str:
        return self.tokens[self.at][1].upper() if self.at < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            wanted = f', expected "{expected}"' if expected else ""
            raise _parse_error(f'Encountered "<EOF>"{wanted}.')
        kind, value = self.tokens[self.at]
        if expected is not None and value.upper() != expected:
            raise _parse_error(f'Encountered "{value}", expected "{expected}".')
        self.at += 1
        return kind, value

    def integer(self) -> int:
        kind, value = self.take()
        if kind != "number" or not value.isdigit():
            raise _parse_error(f'Encountered "{value}", expected a number.')
        return int(value)

    def value(self) -> str:
        kind, value = self.take()
        if kind not in ("string", "number", "word"):
            raise _parse_error(f'Encountered "{value}", expected a value.')
        return value

    def query(self) -> Query:
        self.take("SELECT")
        counting = False
        if self.peek() == "COUNT":
            self.take()
            self.take("(")
            self.take("*")
            self.take(")")
            counting = True
        else:
            self.take("*")
        self.take("FROM")
        query = Query(entity=self.take()[1], count=counting)
        if self.peek() == "WHERE":
            self.take()
            query.where.append(self.condition())
            while self.peek() == "AND":
                self.take()
                query.where.append(self.condition())
        if self.peek() in ("ORDERBY", "ORDER"):
            if self.take()[1].upper() == "ORDER":
                self.take("BY")
            query.order_by = self.take()[1]
            if self.peek() in ("ASC", "DESC"):
                query.descending = self.take()[1].upper() == "DESC"
        if self.peek() == "STARTPOSITION":
            self.take()
            query.start = max(self.integer(), 1)
        if self.peek() == "MAXRESULTS":
            self.take()
            query.max_results = self.integer()
            if query.max_results > MAX_RESULTS:
                raise QboFault("4001", "Invalid query",
                               f"QueryValidationError: value {query.max_results} is too large. "
                               f"Max allowed value is: {MAX_RESULTS}")
        if self.at < len(self.tokens):
            raise _parse_error(f'Encountered "{self.tokens[self.at][1]}".')
        return query

    def condition(self) -> Condition:
        kind, path = self.take()
        if kind != "word":
            raise _parse_error(f'Encountered "{path}", expected a field name.')
        op = self.take()[1].upper()
        if op == "IN":
            self.take("(")
            values = [self.value()]
            while self.peek() == ",":
                self.take()
                values.append(self.value())
            self.take(")")
            return Condition(path, op, tuple(values))
        if op not in ("=", "<", ">", "<=", ">=", "LIKE"):
            raise _parse_error(f'Encountered "{op}", expected an operator.')
        return Condition(path, op, (self.value(),))


def parse(text: str) -> Query:
    return _Parser(text).query()


def _lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        key = next((k for k in obj if k.casefold() == part.casefold()), None)
        obj = obj.get(key) if key is not None else None
    if isinstance(obj, dict) and "value" in obj:
        return obj["value"]  # a reference compares by id
    return obj


def _comparable(actual: Any, literal: str) -> tuple[Any, Any]:
    if isinstance(actual, bool):
        return actual, literal.casefold() == "true"
    if isinstance(actual, (int, Decimal)):
        try:
            return Decimal(actual), Decimal(literal)
        except InvalidOperation:
            return str(actual), literal
    text = str(actual)
    try:
        return _instant(text), _instant(literal)
    except ValueError:
        return text.casefold(), literal.casefold()


def _instant(text: str) -> datetime:
    if not re.match(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(text)
    return datetime.fromisoformat(text)


def _matches(obj: Obj, condition: Condition) -> bool:
    actual = _lookup(obj, condition.path)
    if actual is None:
        return False
    if condition.op == "LIKE":
        pattern = ".*".join(re.escape(part) for part in condition.values[0].split("%"))
        return re.fullmatch(pattern, str(actual), re.IGNORECASE | re.DOTALL) is not None
    if condition.op == "IN":
        return any(_matches(obj, Condition(condition.path, "=", (v,))) for v in condition.values)
    left, right = _comparable(actual, condition.values[0])
    try:
        return bool({"=": left == right, "<": left < right, ">": left > right,
                     "<=": left <= right, ">=": left >= right}[condition.op])
    except TypeError:  # naive vs aware datetimes, or mixed kinds: QBO finds nothing
        return False


def _sort_key(obj: Obj, path: str) -> tuple[int, Any]:
    value = _lookup(obj, path)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return (0, Decimal(value))
    if path.casefold() == "id" and str(value).isdigit():
        return (0, Decimal(str(value)))
    return (1, str(value).casefold())


def run(query: Query, rows: Sequence[Obj]) -> list[Obj] | int:
    found = [row for row in rows if all(_matches(row, c) for c in query.where)]
    if query.count:
        return len(found)
    found.sort(key=lambda row: _sort_key(row, query.order_by or "Id"),
               reverse=query.descending)
    return found[query.start - 1:query.start - 1 + query.max_results]
