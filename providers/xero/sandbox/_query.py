"""The list forms of GET `/{Resource}`: `where`, `order` and the `If-Modified-Since` header.

Xero evaluates `where` and `order` as .NET Dynamic LINQ over the resource's own properties, so
this module types every property as Xero does and refuses, with Xero's QueryParseException
(HTTP 400, ErrorNumber 16), whatever it cannot evaluate, never answering a silent wrong list:

- comparisons `==` (or `=`), `!=` (or `<>`), and on dates and numbers `>`, `>=`, `<`, `<=`;
- literals: `"text"` (backslash escapes, as the SDKs build them), `Guid("…")`,
  `DateTime(2026, 1, 1)` (up to seconds), numbers, `true`/`false`, `null`;
- string methods `.Contains("x")`, `.StartsWith("x")`, `.EndsWith("x")` (ordinal, as .NET);
- `AND`/`OR` (also `&&`/`||`), parentheses; AND binds tighter, as in C#.

Types, by Xero's own rules: a property ending in `ID` is a Guid (comparing it with a string is
Xero's observed "Operator '==' incompatible with operand types 'Guid' and 'String'", seen in
pyxero#46); dates, amounts and `Is…`/`Has…` flags are DateTime, Decimal and Boolean (the
observed 'DateTime?', 'Decimal?' and 'Boolean?' messages: Xero-NetStandard#597, pyxero#200,
#217); a property the resource does not have is "No property or field 'X' exists in type
'Invoice'" (xero-php#402). Anything else this parser does not know (other methods, `!`,
arithmetic) is refused as a parse error, not guessed at.

`If-Modified-Since` keeps the objects whose UpdatedDateUTC is after the header's time (ISO 8601
as the SDKs send it, or an HTTP date); `order` sorts by one or more `Property [ASC|DESC]`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

Json = dict[str, Any]
Test = Callable[[Json], bool]


class QueryError(ValueError):
    """A `where`, `order` or `If-Modified-Since` Xero would refuse; the message is Xero's."""


_DATES = frozenset({"Date", "DueDate", "UpdatedDateUTC", "FullyPaidOnDate",
                    "ExpectedPaymentDate", "PlannedPaymentDate"})
_NUMBERS = frozenset({"Total", "SubTotal", "TotalTax", "AmountDue", "AmountPaid",
                      "AmountCredited", "Amount", "RemainingCredit", "BankAmount",
                      "CurrencyRate", "UnitPrice"})
_TYPE_NAMES = {"guid": "Guid", "date": "DateTime?", "number": "Decimal?", "bool": "Boolean?",
               "string": "String", "null": "Object"}
_ORDERED = frozenset({"date", "number"})
_ORDER_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_METHODS = {"Contains": str.__contains__, "StartsWith": str.startswith,
            "EndsWith": str.endswith}

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<op>==|!=|<>|>=|<=|&&|\|\||[=<>(),.!])
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_]\w*)
    )""", re.VERBOSE)


def kind_of(name: str) -> str:
    """How Xero types a property, by its name (its spec schema agrees for every resource)."""
    if name.endswith("ID"):
        return "guid"
    if name in _DATES:
        return "date"
    if name in _NUMBERS:
        return "number"
    if name.startswith(("Is", "Has")) or name == "SentToContact":
        return "bool"
    return "string"


@dataclass(frozen=True)
class Schema:
    """What `where` and `order` may name on one resource: its type name as Xero says it (in
    messages) and, per property path's parent, the properties it has."""

    type_name: str
    properties: Mapping[str, Collection[str]]
    """'' → the resource's own properties; 'Contact' → a nested object's, and so on."""

    def check(self, path: Sequence[str]) -> None:
        parent = ""
        for part in path:
            if part not in self.properties.get(parent, ()):
                owner = self.type_name if not parent else parent.rpartition(".")[2]
                raise QueryError(f"No property or field '{part}' exists in type '{owner}'")
            parent = f"{parent}.{part}" if parent else part


def where(text: str, schema: Schema) -> Test:
    """The test `text` means on one element (the element as Xero shows it)."""
    parser = _Parser(_tokens(text), schema)
    test = parser.expression()
    if not parser.done():
        raise QueryError(f"Syntax error ('{parser.peek()}' unexpected)")
    return test


def order(text: str, schema: Schema) -> Callable[[list[Json]], list[Json]]:
    """The sort `order=` asks for: `Property [ASC|DESC]`, comma-separated, stable."""
    keys: list[tuple[list[str], bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2
                                           and words[1].upper() not in ("ASC", "DESC")):
            raise QueryError(f"Syntax error in order '{text}'")
        path = words[0].split(".")
        schema.check(path)
        keys.append((path, len(words) == 2 and words[1].upper() == "DESC"))

    def sort(elements: list[Json]) -> list[Json]:
        ordered = list(elements)
        for path, descending in reversed(keys):
            ordered.sort(key=_sort_by(path), reverse=descending)
        return ordered

    return sort


def modified_since(header: str) -> datetime:
    """The moment an `If-Modified-Since` header names, aware UTC (no offset means UTC)."""
    text = header.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise QueryError(f"The If-Modified-Since header '{header}' is not a valid date "
                             "time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def updated_after(element: Json, since: datetime) -> bool:
    stamp = element.get("UpdatedDateUTC")
    return isinstance(stamp, datetime) and stamp > since


# -- the where parser ------------------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise QueryError(f"Syntax error at '{text[position:].strip()[:20]}'")
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


@dataclass
class _Literal:
    kind: str
    value: Any


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], schema: Schema) -> None:
        self.tokens = tokens
        self.at = 0
        self.schema = schema

    def done(self) -> bool:
        return self.at >= len(self.tokens)

    def peek(self) -> str:
        return self.tokens[self.at][1] if not self.done() else ""

    def take(self, *expected: str) -> str:
        if self.done():
            raise QueryError("Expression expected")
        value = self.tokens[self.at][1]
        if expected and value.upper() not in expected:
            raise QueryError(f"'{expected[0]}' expected, not '{value}'")
        self.at += 1
        return value

    def expression(self) -> Test:
        terms = [self.term()]
        while self.peek().upper() in ("OR", "||"):
            self.take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else lambda e: any(t(e) for t in terms)

    def term(self) -> Test:
        factors = [self.factor()]
        while self.peek().upper() in ("AND", "&&"):
            self.take()
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else lambda e: all(f(e) for f in factors)

    def factor(self) -> Test:
        if self.peek() == "(":
            self.take()
            inner = self.expression()
            self.take(")")
            return inner
        path = self.path()
        if self.peek() == ".":
            return self.method(path)
        symbol = self.take()
        if symbol not in ("==", "=", "!=", "<>", ">", ">=", "<", "<="):
            raise QueryError(f"Syntax error: operator expected after '{'.'.join(path)}', "
                             f"not '{symbol}'")
        return self.comparison(path, {"=": "==", "<>": "!="}.get(symbol, symbol),
                               self.literal())

    def path(self) -> list[str]:
        if self.done() or self.tokens[self.at][0] != "name":
            raise QueryError(f"Expression expected at '{self.peek()}'")
        path = [self.take()]
        while self.peek() == "." and self.at + 2 < len(self.tokens) \
                and self.tokens[self.at + 2][1] != "(":
            self.take()
            path.append(self.take())
        self.schema.check(path)
        return path

    def method(self, path: list[str]) -> Test:
        self.take(".")
        name = self.take()
        kind = kind_of(path[-1])
        if name not in _METHODS or kind != "string":
            raise QueryError(f"No applicable method '{name}' exists in type "
                             f"'{_TYPE_NAMES[kind].rstrip('?')}'")
        self.take("(")
        argument = self.literal()
        self.take(")")
        if argument.kind != "string":
            raise QueryError(f"No applicable method '{name}' exists in type 'String' for an "
                             f"argument of type '{_TYPE_NAMES[argument.kind]}'")
        check = _METHODS[name]
        return lambda e: isinstance(v := _value(e, path), str) and check(v, argument.value)

    def literal(self) -> _Literal:
        if self.done():
            raise QueryError("Expression expected")
        kind, text = self.tokens[self.at]
        self.at += 1
        if kind == "string":
            return _Literal("string", re.sub(r"\\(.)", r"\1", text[1:-1]))
        if kind == "number":
            return _Literal("number", Decimal(text))
        lowered = text.lower()
        if kind == "name" and lowered in ("true", "false"):
            return _Literal("bool", lowered == "true")
        if kind == "name" and lowered == "null":
            return _Literal("null", None)
        if kind == "name" and text in ("Guid", "GUID"):
            self.take("(")
            value = self.literal()
            self.take(")")
            if value.kind != "string" or not _is_guid(str(value.value)):
                raise QueryError(f"Guid() needs a GUID string, not {value.value!r}")
            return _Literal("guid", str(value.value).lower())
        if kind == "name" and text == "DateTime":
            return _Literal("date", self.date_parts())
        if kind == "name":  # a bare word is a property to Dynamic LINQ, never a value
            raise QueryError(f"No property or field '{text}' exists in type "
                             f"'{self.schema.type_name}'")
        raise QueryError(f"Expression expected, not '{text}'")

    def date_parts(self) -> datetime:
        self.take("(")
        parts: list[int] = []
        while True:
            number = self.literal()
            if number.kind != "number" or number.value != int(number.value):
                raise QueryError("DateTime() takes whole numbers: year, month, day[, hour, "
                                 "minute, second]")
            parts.append(int(number.value))
            if self.take(",", ")") == ")":
                break
        if not 3 <= len(parts) <= 6:
            raise QueryError("DateTime() takes year, month, day[, hour, minute, second]")
        year, month, day, hour, minute, second = [*parts, 0, 0, 0][:6]
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            raise QueryError(f"DateTime({', '.join(map(str, parts))}) is not a date: "
                             f"{exc}") from None

    def comparison(self, path: list[str], symbol: str, literal: _Literal) -> Test:
        kind = kind_of(path[-1])
        if literal.kind != "null" and (literal.kind != kind or (
                symbol not in ("==", "!=") and kind not in _ORDERED)):
            raise QueryError(f"Operator '{symbol}' incompatible with operand types "
                             f"'{_TYPE_NAMES[kind]}' and '{_TYPE_NAMES[literal.kind]}'")
        if literal.kind == "null" and symbol not in ("==", "!="):
            raise QueryError(f"Operator '{symbol}' incompatible with operand types "
                             f"'{_TYPE_NAMES[kind]}' and 'Object'")
        wanted = literal.value

        def test(element: Json) -> bool:
            value = _comparable(_value(element, path), kind)
            if symbol in ("==", "!="):
                return bool(value == wanted) == (symbol == "==")
            if value is None:
                return False
            return bool(_ORDER_OPERATORS[symbol](value, wanted))

        return test


def _value(element: Json, path: Sequence[str]) -> Any:
    value: Any = element
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _comparable(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "guid":
        return str(value).lower()
    if kind == "date":
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return None
    if kind == "number":
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    return value


def _sort_by(path: Sequence[str]) -> Callable[[Json], tuple[int, Any]]:
    return lambda element: _sort_key(_value(element, path))


def _sort_key(value: Any) -> tuple[int, Any]:
    """None first (as SQL sorts nulls), then the value; dates and datetimes together."""
    if value is None:
        return (0, 0)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, bool | int | float | Decimal):
        return (1, Decimal(str(value)))
    if isinstance(value, datetime):
        return (2, value)
    return (3, str(value))


def _is_guid(text: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", text) \
        is not None
