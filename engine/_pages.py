"""Keyset reads of a listing's window: which jobs, in order, from any point of a million.

A listing is `sync_jobs j` narrowed by a WHERE and ordered by one sort key, then id. Every
read here selects only `(key, id)`, so an index answers it alone; the service then reads the
full rows of that window by id (a few dozen). How each kind of read stays an index range:

- next or previous rows: the row value `(key, j.id) < (?, ?)` seeks the index at a cursor,
  in either direction, from either end; no OFFSET.
- several connections, entities or statuses: the indexes lead with (connection, entity
  [, status]), so `IN (a, b)` on those would need every match sorted before the first row.
  Instead each combination is one ordered arm, and SQLite merges the arms of a compound
  SELECT with an ORDER BY: the index order is kept, and each arm reads at most a window.
- row N (`:N`, the scroll bar): a seek to the nearest mark before it (`Positions`: every
  `EVERY`th key, from one walk of the index when `:` is typed), then fewer than `EVERY` rows
  skipped; without marks, OFFSET over the covering index from the nearer end (no table row
  is read for the rows skipped, but up to half the index is, 0.5-1.5 s when it is cold).

`text_match` is the free-text search: FTS5 with the trigram tokenizer over the records'
number/name, id and customer (which change rarely, so its triggers cost the engine's status
writes and bulk retries nothing). Error messages are not in it: they change with every
failure and every retry; the problems view groups jobs by them instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

from ._store import Store

Key = tuple[Any, int]
"""A row's place in a listing: its sort key and its id."""

MAX_ARMS = 64
"""Beyond this many combinations the IN lists stay in one query (SQLite sorts the matches)."""

_TEXT = "(j.label || char(10) || j.record_id || char(10) || COALESCE(j.customer, ''))"
"""A job's searchable text, as the `sync_jobs_text_source` view (migration 6) has it."""


@dataclass(frozen=True)
class Order:
    """A listing's order: `key` (SQL over `j`), then id, the same way."""

    key: str
    descending: bool
    by_status: bool
    """The sort key's index has the status after (connection, entity): arms split by it."""


@dataclass(frozen=True)
class Scope:
    """Which jobs: the lists the indexes lead with, and everything else as SQL over `j`."""

    connections: Sequence[int]
    entities: Sequence[str]
    statuses: Sequence[str]
    """Empty: any status."""
    clause: str
    params: Sequence[Any]
    by_text: bool = False
    """The clause holds a text search through the trigram index: its candidates are few, so
    the lists only filter them (an index on them would walk the whole connection)."""

    @property
    def where(self) -> tuple[str, list[Any]]:
        """The whole scope as one WHERE (for counts and by-id reads)."""
        clauses, params = [self.clause], list(self.params)
        for column, values in (("j.connection_id", self.connections),
                               ("j.entity", self.entities), ("j.status", self.statuses)):
            if values:
                marks = ", ".join("?" for _ in values)
                clauses.append(f"{'+' if self.by_text else ''}{column} IN ({marks})")
                params.extend(values)
        return " AND ".join(clauses), params


async def keys(store: Store, scope: Scope, order: Order, *, limit: int,
               after: Key | None = None, inclusive: bool = False, backwards: bool = False,
               offset: int = 0) -> list[Key]:
    """Up to `limit` rows' keys in the listing's order: the first ones (after None), or those
    following `after` (and `after` itself if `inclusive`); with `backwards`, those before it
    (or the last ones), still in the listing's order. `offset` skips that many first."""
    descending = order.descending != backwards
    direction = "DESC" if descending else "ASC"
    seek = ""
    params: list[Any] = []
    if after is not None:
        seek = f" AND ({order.key}, j.id) {'<' if descending else '>'}{'=' if inclusive else ''}" \
               " (?, ?)"
        params = [after[0], after[1]]
    arms = _arms(scope, order)
    if arms is None:
        clause, where = scope.where
        rows = await store.fetch_all(
            f"SELECT {order.key} AS k, j.id AS id FROM sync_jobs j WHERE {clause}{seek} "
            f"ORDER BY k {direction}, id {direction} LIMIT ? OFFSET ?",
            [*where, *params, limit, offset])
    else:
        sql, values = [], []
        for arm in arms:
            clause, where = arm
            sql.append(f"SELECT k, id FROM (SELECT {order.key} AS k, j.id AS id FROM sync_jobs "
                       f"j WHERE {clause}{seek} ORDER BY k {direction}, id {direction} "
                       f"LIMIT ?)")
            values += [*where, *params, limit + offset]
        rows = await store.fetch_all(
            " UNION ALL ".join(sql) + f" ORDER BY k {direction}, id {direction} "
            "LIMIT ? OFFSET ?", [*values, limit, offset])
    found = [(row["k"], int(row["id"])) for row in rows]
    return found[::-1] if backwards else found


class Positions:
    """Every `EVERY`th key of the listings last jumped in, as of one store version (the last
    event: every insert, delete and status change writes one).

    Row N is then the mark before it and fewer than `EVERY` rows on; the marks cost one walk
    of the listing's index, taken before the jump (while its row number is typed) rather
    than an OFFSET walk of up to half that index in every jump.
    """

    EVERY = 512
    KEPT = 4
    """Listings whose marks are kept (a filter or sort and back finds them again)."""

    def __init__(self) -> None:
        self._marks: dict[tuple[Any, ...], tuple[object, list[Key]]] = {}

    async def mark(self, store: Store, scope: Scope, order: Order, version: object) -> None:
        """Walk the listing once, keeping every `EVERY`th key, unless marked at `version`."""
        name = _listing(scope, order)
        if name in self._marks and self._marks[name][0] == version:
            return
        marks = await keys(store, scope, order, limit=1)
        while marks and (found := await keys(store, scope, order, limit=1, after=marks[-1],
                                             offset=self.EVERY - 1)):
            marks += found
        self._marks.pop(name, None)
        self._marks[name] = (version, marks)
        while len(self._marks) > self.KEPT:
            del self._marks[next(iter(self._marks))]

    def at(self, scope: Scope, order: Order, version: object, index: int) -> tuple[Key, int] | None:
        """The mark at or before row `index` and how many rows follow it up to `index`, or
        None when the listing has no marks as of `version`."""
        version_marks = self._marks.get(_listing(scope, order))
        if version_marks is None or version_marks[0] != version or not version_marks[1]:
            return None
        marks = version_marks[1]
        nearest = min(index // self.EVERY, len(marks) - 1)
        return marks[nearest], index - nearest * self.EVERY


def _listing(scope: Scope, order: Order) -> tuple[Any, ...]:
    return (tuple(scope.connections), tuple(scope.entities), tuple(scope.statuses),
            scope.clause, tuple(scope.params), scope.by_text, order)


def _arms(scope: Scope, order: Order) -> list[tuple[str, list[Any]]] | None:
    """One WHERE per (connection, entity[, status]) to merge, or None when one query does:
    a single combination, too many, or a text search (its matches are few, or the planner
    starts from the FTS index whatever the order)."""
    statuses: Sequence[str | None] = [None]
    if order.by_status:
        statuses = scope.statuses or [None]
    connections: Sequence[int | None] = scope.connections or [None]
    entities: Sequence[str | None] = scope.entities or [None]
    combos = list(product(connections, entities, statuses))
    if len(combos) <= 1 or len(combos) > MAX_ARMS or scope.by_text:
        return None
    arms = []
    for connection, entity, status in combos:
        clauses, params = [scope.clause], list(scope.params)
        for column, value in (("j.connection_id", connection), ("j.entity", entity),
                              ("j.status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if status is None and scope.statuses:
            clauses.append(f"j.status IN ({', '.join('?' for _ in scope.statuses)})")
            params.extend(scope.statuses)
        arms.append((" AND ".join(clauses), params))
    return arms


def text_indexed(text: str) -> bool:
    """Whether `text_match(text)` goes through the trigram index (no literal wildcard)."""
    return not _wild(text)


def text_match(text: str) -> tuple[str, list[Any]]:
    """Jobs whose number/name, record id or customer contains `text` (any case): exact, and
    found through the trigram index (for a count or a bulk retry; a listing's window uses
    `TextSample.match`, which gives the same rows sooner)."""
    if not text_indexed(text):
        return _literal(text)
    return ("j.id IN (SELECT rowid FROM sync_jobs_text WHERE text LIKE ?)", [f"%{text}%"])


class TextSample:
    """How common each trigram is among the jobs' texts, from evenly spread blocks of rows.

    FTS5 reads a term's whole doclist, and a trigram like `000` or `cus` is in nearly every
    job: a search that asks the index for all of its trigrams reads a million rowids several
    times over. Asking for the three rarest (by this sample) finds the same candidates from
    short lists, and LIKE over the text keeps only exact matches. When even the rarest is in
    a third of the jobs, matches may be as dense, and walking the listing's own index finds
    a window sooner.
    """

    BLOCKS = 64
    ROWS = 32
    DENSE = 0.3
    """A trigram in more than this share of the sample is not worth its doclist."""

    def __init__(self) -> None:
        self.counts: Counter[str] | None = None
        self.size = 0

    async def match(self, store: Store, text: str) -> tuple[str, list[Any], bool]:
        """The clause, its parameters, and whether it goes through the trigram index."""
        if not text_indexed(text) or len(text) < 3 or store.dialect == "postgresql":
            # PostgreSQL's trigram index answers the LIKE itself, rare trigrams first.
            return *text_match(text), text_indexed(text)
        await self.read(store)
        assert self.counts is not None
        grams = sorted({text.lower()[i:i + 3] for i in range(len(text) - 2)},
                       key=lambda gram: self.counts[gram] if self.counts else 0)
        exact = f"{_TEXT} LIKE ?"
        if self.size and self.counts[grams[0]] > self.DENSE * self.size:
            return exact, [f"%{text}%"], False
        terms = " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams[:3])
        return (f"j.id IN (SELECT rowid FROM sync_jobs_text WHERE sync_jobs_text MATCH ?) "
                f"AND {exact}", [terms, f"%{text}%"], True)

    async def read(self, store: Store) -> None:
        """Read the sample, once (a console does so when its query line opens)."""
        if self.counts is not None:
            return
        bounds = await store.fetch_one("SELECT COALESCE(MIN(id), 0) AS low, "
                                       "COALESCE(MAX(id), 0) AS high FROM sync_jobs")
        low, high = (bounds["low"], bounds["high"]) if bounds else (0, 0)
        step = max(self.ROWS, (high - low) // self.BLOCKS)
        starts = range(low, high + 1, step)
        rows = await store.fetch_all(
            "SELECT text FROM sync_jobs_text_source WHERE "
            + " OR ".join("id BETWEEN ? AND ?" for _ in starts),
            [bound for start in starts for bound in (start, start + self.ROWS - 1)])
        self.counts = Counter(gram for row in rows for gram in {
            row["text"].lower()[i:i + 3] for i in range(len(row["text"]) - 2)})
        self.size = len(rows)


def _wild(text: str) -> bool:
    return any(wild in text for wild in "%_\\")


def _literal(text: str) -> tuple[str, list[Any]]:
    # LIKE through the trigram index takes no ESCAPE: a literal wildcard is searched the slow
    # way, over the rows of the rest of the filter.
    return f"{_TEXT} LIKE ? ESCAPE '\\'", ["%" + like_literal(text) + "%"]


def like_literal(text: str) -> str:
    """`text` matched literally inside a LIKE pattern with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
