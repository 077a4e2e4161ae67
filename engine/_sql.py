"""The engine's SQL, written once for SQLite, as PostgreSQL takes it.

The engine's statements keep to what both databases accept (upserts with `ON CONFLICT`,
`RETURNING`, `COUNT(*) FILTER`, CTEs, window functions); what is left differs in spelling
only, and this module respells it for PostgreSQL (and psycopg):

- `?`, `?N` and `:name` placeholders become `%s`, `%(_N)s` and `%(name)s` (the caller passes
  numbered parameters as a mapping: `numbered_params`); a literal `%` becomes `%%`;
- `? IS NULL` becomes `CAST(%s AS text) IS NULL` (PostgreSQL must know a parameter's type),
  and `WHEN ? THEN` becomes `WHEN %s <> 0 THEN` (a flag as a condition);
- `LIKE` becomes `ILIKE` (SQLite's LIKE ignores ASCII case, PostgreSQL's does not);
- `a IS NOT b` / `a IS b` on values become `IS DISTINCT FROM` / `IS NOT DISTINCT FROM`;
- `MAX(a, b)` / `MIN(a, b)` of several arguments become `GREATEST` / `LEAST`;
- `json_extract(doc, '$.a.b')` becomes `(CAST(doc AS jsonb) #>> '{a,b}')`, and
  `json_each(doc, '$.lines')` becomes `jsonb_array_elements(CAST(doc AS jsonb) -> 'lines')`
  (its column is `value` in both);
- `json_group_array(x)` becomes `json_agg` as text ('[]' for no rows, as SQLite gives), and
  `json_array` / `json_object` become `json_build_array` / `json_build_object`;
- `char(10)` becomes `chr(10)`, `instr(a, b)` becomes `strpos(a, b)`;
- a subquery in FROM without a name gets one;
- in an upsert's `DO UPDATE SET … WHERE …`, a bare column is the existing row's (SQLite's
  reading); PostgreSQL finds it ambiguous beside `excluded`, so it is qualified with the
  target table.

It reads the statement as tokens, so nothing inside a string literal or a quoted name is
touched. Statements repeat, so each is translated once (`functools.cache`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

_TOKEN = re.compile(
    r"""
      (?P<string>'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*")
    | (?P<comment>--[^\n]*)
    | (?P<named>(?<!:):[A-Za-z_][A-Za-z0-9_]*)
    | (?P<numbered>\?[0-9]+)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<space>\s+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_SCALAR_OF = {"max": "GREATEST", "min": "LEAST"}
_JSON_BUILDERS = {"json_array": "json_build_array", "json_object": "json_build_object"}


@functools.cache
def to_postgres(sql: str) -> str:
    """`sql`, a statement for SQLite, as psycopg and PostgreSQL take it."""
    return "".join(_Rewriter(_qualify_upsert(_tokens(sql))).statement())


def numbered_params(params: Sequence[Any]) -> dict[str, Any]:
    """Parameters of a statement with `?N` placeholders, as its translation names them."""
    return {f"_{n}": value for n, value in enumerate(params, start=1)}


def _tokens(sql: str) -> list[tuple[str, str]]:
    return [(str(m.lastgroup), m.group()) for m in _TOKEN.finditer(sql)]


_NOT_COLUMNS = frozenset("""
    all and any as asc between case cast collate desc distinct do else end escape excluded
    exists false filter from in is isnull like not notnull nothing null or over returning
    select set then true update when where
""".split())


def _qualify_upsert(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    words = [(i, text.lower()) for i, (kind, text) in enumerate(tokens) if kind == "word"]
    target = next((words[n + 1][0] for n, (_, word) in enumerate(words[:-1])
                   if word == "into" and n > 0 and words[n - 1][1] == "insert"), None)
    if target is None:
        return tokens
    name = tokens[target][1]
    aliased = [n for n, (i, _) in enumerate(words) if i == target]
    if aliased and aliased[0] + 2 < len(words) and words[aliased[0] + 1][1] == "as":
        name = tokens[words[aliased[0] + 2][0]][1]
    after = [i for n, (i, word) in enumerate(words[:-2]) if word == "do"
             and words[n + 1][1] == "update" and words[n + 2][1] == "set"]
    if not after:
        return tokens
    start = next(i for i, word in words if i > after[0] and word == "set") + 1
    out = list(tokens)
    depth, subquery_at, assigning = 0, None, True
    for i in range(start, len(tokens)):
        kind, text = tokens[i]
        lowered = text.lower()
        if kind == "other" and text == "(":
            depth += 1
            if subquery_at is None and _next_word(tokens, i) == "select":
                subquery_at = depth
        elif kind == "other" and text == ")":
            if subquery_at == depth:
                subquery_at = None
            depth -= 1
        elif depth == 0 and kind == "other" and text == ",":
            assigning = True
        elif depth == 0 and ((kind == "other" and text == "=" and assigning)
                             or lowered == "where"):
            assigning = False
        elif depth == 0 and lowered == "returning":
            break
        elif (kind == "word" and not assigning and subquery_at is None
              and lowered not in _NOT_COLUMNS and not _beside(tokens, i)):
            out[i] = (kind, f"{name}.{text}")
    return out


def _next_word(tokens: list[tuple[str, str]], i: int) -> str | None:
    for kind, text in tokens[i + 1:]:
        if kind != "space":
            return text.lower() if kind == "word" else None
    return None


def _beside(tokens: list[tuple[str, str]], i: int) -> bool:
    """The word is a call, or is qualified, or qualifies: `f(`, `t.x`, `x.`."""
    before = next((t for t in reversed(tokens[:i]) if t[0] != "space"), ("", ""))
    after = next((t for t in tokens[i + 1:] if t[0] != "space"), ("", ""))
    return before == ("other", ".") or after in (("other", "("), ("other", "."))


_AFTER_FROM = frozenset({None, "where", "group", "order", "limit", "offset", "union", "except",
                         "intersect", "join", "left", "inner", "cross", "on", "having",
                         "window"})
"""What may follow a subquery in FROM that has no name."""


class _Rewriter:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0
        self.subqueries = 0

    def statement(self, *, until_close: bool = False) -> list[str]:
        """Rewrite tokens up to the end (or, inside a call, up to its closing parenthesis,
        which is consumed and not returned)."""
        out: list[str] = []
        depth = 0
        while self.at < len(self.tokens):
            kind, text = self.tokens[self.at]
            self.at += 1
            if until_close and kind == "other" and text == ")" and depth == 0:
                return out
            if kind == "other" and text == "(":
                depth += 1
            elif kind == "other" and text == ")":
                depth -= 1
            out.extend(self._token(kind, text))
        return out

    def _token(self, kind: str, text: str) -> list[str]:
        if kind == "string":
            return [text.replace("%", "%%")]
        if kind == "named":
            return [f"%({text[1:]})s"]
        if kind == "numbered" or (kind == "other" and text == "?"):
            mark = f"%(_{text[1:]})s" if kind == "numbered" else "%s"
            if self._peek_word() == "is":
                # `? IS NULL` names no type for its parameter, and PostgreSQL needs one.
                return [f"CAST({mark} AS text)"]
            if self._peek_word() == "then" and self._previous_word() == "when":
                # A flag as a whole condition: SQLite reads any non-zero number as true.
                return [f"{mark} <> 0"]
            return [mark]
        if kind == "other" and text == "%":
            return ["%%"]
        if kind != "word":
            return [text]
        word = text.lower()
        if word == "like":
            return ["ILIKE"]
        if word == "is":
            return [self._is()]
        if self._next_is("("):
            return self._call(word, text)
        return [text]

    def _is(self) -> str:
        following = self._peek_word()
        if following == "null":
            return "IS"
        if following == "not":
            after = self._peek_word(skip=1)
            if after in ("null", "true", "false", "distinct"):
                return "IS"
            self._skip_word()
            return "IS DISTINCT FROM"
        if following in ("true", "false", "distinct"):
            return "IS"
        return "IS NOT DISTINCT FROM"

    def _call(self, word: str, text: str) -> list[str]:
        """A function call: its arguments rewritten, the call respelt where it must be."""
        self._skip_to_open()
        args = self._arguments()
        if word in _SCALAR_OF and len(args) > 1:
            return [_SCALAR_OF[word], "(", ", ".join(args), ")"]
        if word == "json_extract" and len(args) == 2:
            return [_json_path(args[0], args[1], text_result=True)]
        if word == "json_each" and len(args) == 2:
            return ["jsonb_array_elements(", _json_path(args[0], args[1], text_result=False), ")"]
        if word == "json_group_array" and len(args) == 1:
            return [f"COALESCE(CAST(json_agg({args[0]}) AS text), '[]')"]
        if word in _JSON_BUILDERS:
            return [f"{_JSON_BUILDERS[word]}(", ", ".join(args), ")"]
        if word == "char" and len(args) == 1:
            return ["chr(", args[0], ")"]
        if word == "instr" and len(args) == 2:
            return ["strpos(", ", ".join(args), ")"]
        if word in ("from", "join") and args and args[0][:6].lower() == "select" and (
                self._peek_word() in _AFTER_FROM):
            # PostgreSQL before 16 refuses a subquery in FROM without a name.
            self.subqueries += 1
            return [text, "(", ", ".join(args), f") AS _subquery{self.subqueries}"]
        return [text, "(", ", ".join(args), ")"]

    def _arguments(self) -> list[str]:
        """The call's arguments, each rewritten, up to and including its `)`."""
        body = self.statement(until_close=True)
        args: list[list[str]] = [[]]
        depth = 0
        for piece in body:
            if piece == "(" or piece.endswith("("):
                depth += 1
            elif piece == ")":
                depth -= 1
            if piece == "," and depth == 0:
                args.append([])
            else:
                args[-1].append(piece)
        joined = ["".join(arg).strip() for arg in args]
        return [] if joined == [""] else joined

    def _next_is(self, char: str) -> bool:
        at = self.at
        while at < len(self.tokens) and self.tokens[at][0] == "space":
            at += 1
        return at < len(self.tokens) and self.tokens[at] == ("other", char)

    def _skip_to_open(self) -> None:
        while self.tokens[self.at] != ("other", "("):
            self.at += 1
        self.at += 1

    def _peek_word(self, skip: int = 0) -> str | None:
        at = self.at
        while at < len(self.tokens):
            kind, text = self.tokens[at]
            at += 1
            if kind == "space":
                continue
            if kind != "word":
                return None
            if skip == 0:
                return text.lower()
            skip -= 1
        return None

    def _previous_word(self) -> str | None:
        for kind, text in reversed(self.tokens[:self.at - 1]):
            if kind != "space":
                return text.lower() if kind == "word" else None
        return None

    def _skip_word(self) -> None:
        while self.tokens[self.at][0] == "space":
            self.at += 1
        self.at += 1


def _json_path(document: str, path: str, *, text_result: bool) -> str:
    """`document` at `path` (`'$.a.b'`, or `'$.' || expr` for a key computed by the query)."""
    arrow = "->>" if text_result else "->"
    literal = re.fullmatch(r"'\$\.([A-Za-z0-9_.]+)'", path)
    if literal:
        keys = literal[1].split(".")
        if len(keys) == 1:
            return f"(CAST({document} AS jsonb) {arrow} '{keys[0]}')"
        deep = "#>>" if text_result else "#>"
        return f"(CAST({document} AS jsonb) {deep} '{{{','.join(keys)}}}')"
    computed = re.fullmatch(r"'\$\.'\s*\|\|\s*(.+)", path, re.DOTALL)
    if computed:
        return f"(CAST({document} AS jsonb) {arrow} ({computed[1]}))"
    raise ValueError(f"json path {path!r}: only '$.key…' and '$.' || key are translated")


__all__ = ["numbered_params", "to_postgres"]
