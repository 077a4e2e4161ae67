"""Ledger files (JSON or CSV) read into valid records, and problems that say what is wrong.

`parse_file` never writes anything and never half-accepts a record: each record in the file
ends up either in `ParsedFile.records` (it passed every model rule and the within-file
checks) or named by one or more `Problem`s. Whether to import the valid part is the
caller's decision; references to customers, items and invoices are not checked here, since
they may already be in the store. The formats are described in docs/IMPORT.md.

Only a file that cannot be read at all, or whose extension is neither .json nor .csv,
raises (`InputError`); any content, however broken, comes back as problems.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ._classify import classify
from ._errors import InputError
from ._models import MODEL_OF, Address, Allocation, Entity, Line, Record, Refund
from ._money import MAX_NUMBER

SECTIONS: dict[str, Entity] = {
    "customers": Entity.CUSTOMER,
    "items": Entity.ITEM,
    "invoices": Entity.INVOICE,
    "payments": Entity.PAYMENT,
    "credit_notes": Entity.CREDIT_NOTE,
}
"""The keys of a JSON ledger file, in the dependency order records are returned in."""
_ORDER = {MODEL_OF[entity]: position for position, entity in enumerate(SECTIONS.values())}

CSV_MARKERS: tuple[tuple[str, Entity], ...] = (
    ("display_name", Entity.CUSTOMER),
    ("sku", Entity.ITEM),
    ("issue_date", Entity.INVOICE),
    ("amount", Entity.PAYMENT),
    ("number", Entity.CREDIT_NOTE),
)
"""Which records a CSV file holds: the first of these columns its header has decides."""

CSV_PREFIXES: dict[str, str] = {
    "billing_address_": "billing_address",
    "income_account_": "income_accounts",
    "line_": "lines",
    "allocation_": "allocations",
    "refund_": "refunds",
}
"""CSV column prefix -> the nested field it fills: "line_unit_price" is lines[].unit_price."""

_CHILD_MODELS: dict[str, type[BaseModel]] = {
    "billing_address": Address,
    "lines": Line,
    "allocations": Allocation,
    "refunds": Refund,
}
# One element per CSV row, rows grouped by id.
_LISTS = frozenset({"lines", "allocations", "refunds"})
_NUMBERED = frozenset({Entity.INVOICE, Entity.CREDIT_NOTE})
_CLIP = 120


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input file, located as precisely as the file allows."""

    file: str
    """The path as given."""
    record: str
    """"invoice INV-1001", or where it is ("customers[3]", "row 7") when its id is unreadable;
    "" for a problem with the whole file."""
    field: str
    """Dotted path ("lines[2].unit_price") or CSV column; "" for whole-record problems."""
    message: str
    """What is wrong, in plain words."""

    def __str__(self) -> str:
        parts = (self.file, self.record, self.field, self.message)
        return ": ".join(part for part in parts if part)


@dataclass(frozen=True)
class ParsedFile:
    records: list[Record]
    """Valid records, customers and items first, then invoices, payments, credit notes."""
    problems: list[Problem]


def parse_json(name: str, text: str) -> ParsedFile:
    """A ledger document given as text (an API request's body, named `name` in problems):
    every check a .json file gets, exact numbers included."""
    return _read_json(name, text)


def parse_record(name: str, entity: Entity, fields: dict[str, Any]) -> ParsedFile:
    """One record's fields as a JSON object decodes them (numbers as `Decimal`): every check
    the same record gets in a ledger document, named as there ("invoices[0]"). An API PUT is
    checked this way without being written out as a document and read back."""
    where = f"{next(s for s, known in SECTIONS.items() if known is entity)}[0]"
    return _validate(name, [_Candidate(entity, _label(entity, fields, where), where, fields,
                                       _json_field)])


def parse_file(path: Path) -> ParsedFile:
    """Read a .json or .csv ledger file. Raises `InputError` only if it cannot be read."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"{path}: unknown file type {path.suffix!r}: expected .json or .csv")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _failed(str(path), f"is not UTF-8 text (bad byte at offset {exc.start})")
    return reader(str(path), text)


# --- what both formats produce: candidates for records --------------------------------------


FieldNamer = Callable[[tuple[int | str, ...]], str]


@dataclass
class _Candidate:
    """A record as the file gives it, before validation."""

    entity: Entity
    label: str
    where: str
    """Its position in the file, to tell duplicates apart: "customers[3]", "row 7"."""
    data: dict[str, Any]
    field_name: FieldNamer
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(field, message) found while reading: the record cannot be validated as given."""


def _label(entity: Entity, data: dict[str, Any], where: str) -> str:
    raw = data.get("id")
    if isinstance(raw, str) and 0 < len(raw.strip()) <= 64 and raw.strip().isprintable():
        return f"{entity.label} {raw.strip()}"
    return where


def _validate(file: str, candidates: list[_Candidate]) -> ParsedFile:
    problems: list[Problem] = []
    same_id = _duplicate_ids(file, candidates, problems)
    same_number = _duplicate_numbers(file, candidates, same_id, problems)
    valid: list[Record] = []
    for index, candidate in enumerate(candidates):
        if index in same_id:
            continue  # which of them is meant is for the user to say, not the model
        if candidate.problems:
            problems.extend(Problem(file, candidate.label, name, message)
                            for name, message in candidate.problems)
            continue
        checked = _check(file, candidate)
        if isinstance(checked, list):
            problems.extend(checked)
        elif index not in same_number:
            valid.append(checked)
    valid.sort(key=lambda record: _ORDER[type(record)])
    return ParsedFile(valid, problems)


def _address(data: dict[str, Any]) -> Address | None:
    """The billing address the classification reads; one that is not valid is left to the
    model's own check, which names it."""
    try:
        return Address.model_validate(data["billing_address"])
    except (KeyError, ValidationError):
        return None


def _check(file: str, candidate: _Candidate) -> Record | list[Problem]:
    data = candidate.data
    if candidate.entity is Entity.CUSTOMER and "classification" not in data:
        # Files rarely say who a customer is; the name usually does.
        name, company = data.get("display_name"), data.get("company")
        if isinstance(name, str):
            company = company if isinstance(company, str) else None
            data = {**data, "classification": classify(name, company, _address(data))}
    try:
        return MODEL_OF[candidate.entity].model_validate(data)
    except ValidationError as exc:
        return [
            Problem(file, candidate.label, candidate.field_name(tuple(err["loc"])), _message(err))
            for err in exc.errors(include_url=False)
        ]


def _duplicate_ids(file: str, candidates: list[_Candidate], problems: list[Problem]) -> set[int]:
    """Report ids given to more than one record of a kind; return their indexes."""
    by_id: dict[tuple[Entity, str], list[int]] = {}
    for index, candidate in enumerate(candidates):
        raw = candidate.data.get("id")
        if isinstance(raw, str) and raw.strip():
            by_id.setdefault((candidate.entity, raw.strip()), []).append(index)
    clashing: set[int] = set()
    for (entity, _), indexes in by_id.items():
        if len(indexes) > 1:
            places = ", ".join(candidates[index].where for index in indexes)
            problems.append(Problem(file, candidates[indexes[0]].label, "id",
                                    f"is used by {len(indexes)} {entity.label}s in this file "
                                    f"({places}); ids must be unique"))
            clashing.update(indexes)
    return clashing


def _duplicate_numbers(file: str, candidates: list[_Candidate], skip: set[int],
                       problems: list[Problem]) -> set[int]:
    """Report invoice or credit note numbers used twice; return their indexes."""
    by_number: dict[tuple[Entity, str], list[int]] = {}
    for index, candidate in enumerate(candidates):
        number = candidate.data.get("number")
        if (candidate.entity in _NUMBERED and index not in skip and isinstance(number, str)
                and number.strip()):
            by_number.setdefault((candidate.entity, number.strip()), []).append(index)
    clashing: set[int] = set()
    for (_, number), indexes in by_number.items():
        if len(indexes) > 1:
            for index in indexes:
                others = ", ".join(candidates[i].label for i in indexes if i != index)
                problems.append(Problem(file, candidates[index].label, "number",
                                        f"{_clip(number)} is also the number of {others}"))
            clashing.update(indexes)
    return clashing


_REWORDED = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
}


def _message(err: Any) -> str:
    """Pydantic's message in plain words, with the value given where it helps."""
    kind: str = err["type"]
    if kind in _REWORDED:
        message = _REWORDED[kind]
    else:
        message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind not in ("value_error", "assertion_error", "missing", "extra_forbidden"):
        message += f", got {_shown(err.get('input'))}"
    return _clip(message, 300)


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int):
        return _clip(str(value))
    return _clip(repr(value))


def _clip(text: str, limit: int = _CLIP) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failed(file: str, message: str) -> ParsedFile:
    """The whole file is unusable: one problem, no records."""
    return ParsedFile([], [Problem(file, "", "", message)])


# --- JSON -----------------------------------------------------------------------------------


def _read_json(file: str, text: str) -> ParsedFile:
    try:
        # Every number as Decimal: floats would turn 0.1 into 0.1000000000000000055...
        document = json.loads(text, parse_float=_json_number, parse_int=_json_number,
                              parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        return _failed(file, f"is not valid JSON: {exc.msg} ({where})")
    except (ValueError, RecursionError) as exc:
        return _failed(file, f"is not valid JSON: {_clip(str(exc) or 'nested too deeply')}")
    if not isinstance(document, dict):
        return _failed(file, f"must be a JSON object with the keys {', '.join(SECTIONS)}; "
                             f"got {_shown(document)}")
    problems: list[Problem] = []
    candidates: list[_Candidate] = []
    for key in document:
        if key not in SECTIONS:
            problems.append(Problem(file, "", _clip(key), "is not a section of a ledger file; "
                                    f"expected {', '.join(SECTIONS)}"))
    for section, entity in SECTIONS.items():
        if section not in document:
            continue
        elements = document[section]
        if not isinstance(elements, list):
            problems.append(Problem(file, "", section,
                                    f"must be a list of {entity.label}s, got {_shown(elements)}"))
            continue
        for index, element in enumerate(elements):
            where = f"{section}[{index}]"
            if not isinstance(element, dict):
                problems.append(Problem(file, where, "",
                                        f"must be an object with the fields of a "
                                        f"{entity.label}, got {_shown(element)}"))
                continue
            candidates.append(
                _Candidate(entity, _label(entity, element, where), where, element, _json_field)
            )
    parsed = _validate(file, candidates)
    return ParsedFile(parsed.records, problems + parsed.problems)


def _json_number(text: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:  # an exponent past 10**18: no Decimal holds it, so no record can
        raise ValueError(f"the number {_clip(text, 40)} is out of range "
                         f"(at most {MAX_NUMBER:f})") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_field(loc: tuple[int | str, ...]) -> str:
    """("lines", 2, "unit_price") -> "lines[2].unit_price"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return _clip(path)


# --- CSV ------------------------------------------------------------------------------------


def _read_csv(file: str, text: str) -> ParsedFile:
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        return _failed(file, f"is not valid CSV: {_clip(str(exc))}")
    if not rows or not any(cell.strip() for cell in rows[0]):
        return _failed(file, "has no header row")
    header = [cell.strip().lower() for cell in rows[0]]
    entity = next((entity for marker, entity in CSV_MARKERS if marker in header), None)
    if entity is None:
        markers = ", ".join(f"{marker} ({kind.label}s)" for marker, kind in CSV_MARKERS)
        return _failed(file, f"cannot tell which records it holds: the header needs one of "
                             f"{markers}")
    targets = {column: _target(entity, column) for column in header if column}
    problems = [Problem(file, "header", _clip(column), f"is not a column of a {entity.label}s file")
                for column, target in targets.items() if target is None]
    problems += [Problem(file, "header", _clip(column), "appears more than once")
                 for column in targets if header.count(column) > 1]
    if problems:
        return ParsedFile([], problems)
    known = {column: target for column, target in targets.items() if target is not None}
    data_rows = [(number, _cells(header, row)) for number, row in enumerate(rows[1:], start=2)
                 if any(cell.strip() for cell in row)]
    grouped = _LISTS & MODEL_OF[entity].model_fields.keys()
    read = _csv_documents if grouped else _csv_rows
    return _validate(file, list(read(entity, known, data_rows)))


def _target(entity: Entity, column: str) -> tuple[str, str | None] | None:
    """Where a column goes: ("email", None), ("lines", "unit_price"); None if nowhere."""
    fields = MODEL_OF[entity].model_fields
    if column in fields and column not in CSV_PREFIXES.values():
        return column, None
    for prefix, target in CSV_PREFIXES.items():
        if column.startswith(prefix) and target in fields:
            sub = column.removeprefix(prefix)
            child = _CHILD_MODELS.get(target)
            names = {f.alias or name for name, f in child.model_fields.items()} if child else None
            if sub and (names is None or sub in names):
                return target, sub
    return None


def _cells(header: list[str], row: list[str]) -> tuple[dict[str, str], bool]:
    """The given (non-empty) cells by column, and whether any lies outside the named columns.

    A row shorter than the header is fine: spreadsheets drop trailing empty cells.
    """
    given: dict[str, str] = {}
    stray = False
    for column, cell in itertools.zip_longest(header, row, fillvalue=""):
        value = cell.strip()
        if value and column:
            given[column] = value
        elif value:
            stray = True
    return given, stray


_STRAY = "has a value in a column the header does not name"


Targets = dict[str, tuple[str, str | None]]
Rows = list[tuple[int, tuple[dict[str, str], bool]]]
"""(row number, (given cells by column, has stray cells)) for each non-blank row."""


def _csv_rows(entity: Entity, targets: Targets, rows: Rows) -> Iterator[_Candidate]:
    """Customers and items: one record per row."""
    for number, (cells, stray) in rows:
        data: dict[str, Any] = {}
        for column, value in cells.items():
            target, sub = targets[column]
            if sub is None:
                data[target] = value
            else:
                data.setdefault(target, {})[sub] = value
        where = f"row {number}"
        yield _Candidate(entity, _label(entity, data, where), where, data, _csv_field_namer({}),
                         [("", _STRAY)] if stray else [])


def _csv_documents(entity: Entity, targets: Targets, rows: Rows) -> Iterator[_Candidate]:
    """Invoices, payments, credit notes: one row per line or allocation, grouped by id."""
    groups: dict[str, Rows] = {}
    for number, (cells, stray) in rows:
        document_id = cells.get("id", "")
        if document_id:
            groups.setdefault(document_id, []).append((number, (cells, stray)))
        else:
            where = f"row {number}"
            missing = f"is required: rows are grouped into {entity.label}s by id"
            yield _Candidate(entity, where, where, {}, _csv_field_namer({}), [("id", missing)])
    for group in groups.values():
        yield _csv_document(entity, targets, group)


def _csv_document(entity: Entity, targets: Targets, group: Rows) -> _Candidate:
    data: dict[str, Any] = {target: [] for target in _LISTS & MODEL_OF[entity].model_fields.keys()}
    first_row: dict[str, int] = {}
    children_rows: dict[str, list[int]] = {}
    problems: list[tuple[str, str]] = []
    for number, (cells, stray) in group:
        if stray:
            problems.append((f"row {number}", _STRAY))
        children: dict[str, dict[str, str]] = {}
        for column, value in cells.items():
            target, sub = targets[column]
            if sub is not None:
                children.setdefault(target, {})[sub] = value
            elif target not in data:
                data[target], first_row[target] = value, number
            elif data[target] != value:
                problems.append((column, f"is {_clip(repr(data[target]))} on row "
                                         f"{first_row[target]} but {_clip(repr(value))} on row "
                                         f"{number}"))
        for target, child in children.items():
            data[target].append(child)
            children_rows.setdefault(target, []).append(number)
    numbers = [str(number) for number, _ in group]
    where = f"row{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"
    return _Candidate(entity, _label(entity, data, where), where, data,
                      _csv_field_namer(children_rows), problems)


def _csv_field_namer(children_rows: dict[str, list[int]]) -> FieldNamer:
    """Name a model field by its CSV column, and the row of a line or allocation."""
    prefix_of = {target: prefix for prefix, target in CSV_PREFIXES.items()}

    def name(loc: tuple[int | str, ...]) -> str:
        if not loc or not isinstance(loc[0], str) or loc[0] not in prefix_of:
            return _json_field(loc)
        target, rest = loc[0], loc[1:]
        row = ""
        if rest and isinstance(rest[0], int) and rest[0] < len(children_rows.get(target, [])):
            row = f"row {children_rows[target][rest[0]]}"
            rest = rest[1:]
        column = prefix_of[target] + ".".join(map(str, rest)) if rest else target
        if row:
            return f"{column} ({row})" if rest else row
        return _clip(column)

    return name


_READERS: dict[str, Callable[[str, str], ParsedFile]] = {".json": _read_json, ".csv": _read_csv}
