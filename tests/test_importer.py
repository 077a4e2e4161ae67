"""Import parsing: the example files, named problems for broken ones, and fuzzing for the rest."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine._errors import InputError
from engine._importer import CSV_MARKERS, SECTIONS, ParsedFile, Problem, parse_file
from engine._models import (
    MODEL_OF,
    Classification,
    CreditNote,
    Customer,
    Entity,
    Invoice,
    Item,
    Payment,
    Record,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ENTITY_OF = {model: entity for entity, model in MODEL_OF.items()}
FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def label(record: Record) -> str:
    return f"{ENTITY_OF[type(record)].label} {record.id}"


def only(parsed: ParsedFile) -> Problem:
    assert len(parsed.problems) == 1, [str(p) for p in parsed.problems]
    return parsed.problems[0]


def assert_well_formed(parsed: ParsedFile) -> None:
    """The invariants every parse keeps, whatever the input."""
    valid = [label(record) for record in parsed.records]
    assert len(set(valid)) == len(valid), "two valid records of a kind share an id"
    named = {problem.record for problem in parsed.problems}
    assert not named & set(valid), "a record is both valid and a problem"
    for problem in parsed.problems:
        assert problem.file
        assert problem.message.strip()
        assert str(problem).endswith(problem.message)
    stages = [ENTITY_OF[type(record)] for record in parsed.records]
    order = list(SECTIONS.values())
    assert stages == sorted(stages, key=order.index)


# --- the example files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("ledger.json", {Customer: 2, Item: 2, Invoice: 2, Payment: 1, CreditNote: 1}),
        ("customers.csv", {Customer: 3}),
        ("items.csv", {Item: 2}),
        ("invoices.csv", {Invoice: 2}),
        ("payments.csv", {Payment: 2}),
        ("credit_notes.csv", {CreditNote: 1}),
    ],
)
def test_examples_parse_fully(name: str, counts: dict[type, int]) -> None:
    parsed = parse_file(EXAMPLES / name)
    assert parsed.problems == []
    found: dict[type, int] = {}
    for record in parsed.records:
        found[type(record)] = found.get(type(record), 0) + 1
    assert found == counts
    assert_well_formed(parsed)


def test_json_example_in_dependency_order_with_exact_money() -> None:
    records = parse_file(EXAMPLES / "ledger.json").records
    assert [type(r) for r in records] == [Customer, Customer, Item, Item, Invoice, Invoice,
                                          Payment, CreditNote]
    paint = records[3]
    assert isinstance(paint, Item)
    assert paint.unit_price == Decimal("38.50")  # written as a JSON number, never a float
    invoice = records[4]
    assert isinstance(invoice, Invoice)
    assert invoice.total == Decimal("1386.00")


def test_csv_invoice_rows_group_into_lines() -> None:
    invoices = parse_file(EXAMPLES / "invoices.csv").records
    first = invoices[0]
    assert isinstance(first, Invoice)
    assert first.id == "INV-3001"
    assert first.customer_id == "C-0101"
    assert [line.description for line in first.lines] == ["Bathroom floor", "",
                                                          "Haul-away of old tile"]
    assert first.lines[1].tax_code == "TAX"
    assert first.total == Decimal("920.50")


def test_csv_nested_columns() -> None:
    customers = parse_file(EXAMPLES / "customers.csv").records
    first = customers[0]
    assert isinstance(first, Customer)
    assert first.billing_address is not None
    assert first.billing_address.city == "Salem"
    items = parse_file(EXAMPLES / "items.csv").records
    assert isinstance(items[0], Item)
    assert items[0].income_accounts == {"quickbooks": "79", "xero": "200"}


def test_customers_are_classified_unless_the_file_says(tmp_path: Path) -> None:
    customers = parse_file(EXAMPLES / "customers.csv").records
    assert [c.classification for c in customers if isinstance(c, Customer)] == [
        Classification.HOMEOWNER, Classification.BUSINESS, Classification.BUILDER]
    said = write(tmp_path, "c.csv", "id,display_name,classification\nC-1,Acme Builders,homeowner\n")
    record = parse_file(said).records[0]
    assert isinstance(record, Customer)
    assert record.classification is Classification.HOMEOWNER


# --- what cannot be read at all -------------------------------------------------------------


def test_unknown_extension_raises_with_path(tmp_path: Path) -> None:
    path = write(tmp_path, "ledger.xlsx", b"PK\x03\x04")
    with pytest.raises(InputError, match=r"ledger\.xlsx.*\.json or \.csv"):
        parse_file(path)


def test_unreadable_file_raises_with_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.json"):
        parse_file(tmp_path / "missing.json")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match=r"dir\.csv"):
        parse_file(tmp_path / "dir.csv")


# --- broken files: named problems -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "record", "field", "message"),
    [
        ("a.json", b"\xff\xfe\x00\x01", "", "", "not UTF-8"),
        ("a.json", '{"customers": [', "", "", "not valid JSON: Expecting value (line 1"),
        ("a.json", "[1, 2]", "", "", "must be a JSON object"),
        ("a.json", "42", "", "", "got 42"),
        ("a.json", '{"items": [{"unit_price": NaN}]}', "", "", "NaN is not a JSON number"),
        pytest.param("a.json", "[" * 5_000, "", "", "not valid JSON", id="nested-too-deep"),
        ("a.json", '{"vendors": []}', "", "vendors", "not a section"),
        ("a.json", '{"payments": {"id": "P"}}', "", "payments", "must be a list"),
        ("a.json", '{"customers": ["Ann"]}', "customers[0]", "", "must be an object"),
        ("a.json", '{"customers": [{"display_name": "Ann"}]}', "customers[0]", "id",
         "is required"),
        ("a.json", '{"customers": [{"id": "C-1", "display_name": "Ann", "nick": "A"}]}',
         "customer C-1", "nick", "is not a known field"),
        ("a.json", '{"customers": [{"id": 7, "display_name": "Ann"}]}', "customers[0]", "id",
         "Input should be a valid string, got 7"),
        ("a.json", '{"items": [{"id": "X", "sku": "X", "name": "X",'
                   ' "unit_price": 0.30000000000000004}]}',
         "item X", "unit_price", "has more than 4 decimal places"),
        ("a.json", '{"invoices": [{"id": "I-1", "number": "1", "customer_id": "C",'
                   ' "issue_date": "2026-09-01", "lines": [{"description": "a", "unit_price": 1},'
                   ' {"description": "b", "unit_price": 1, "quantity": -5}]}]}',
         "invoice I-1", "lines[1].quantity", "must be greater than zero, got -5"),
        ("a.json", '{"invoices": [{"id": "I-1", "number": "1", "customer_id": "C",'
                   ' "issue_date": "2026-09-01", "lines": []}]}',
         "invoice I-1", "lines", "must have at least one line"),
        ("a.json", '{"payments": [{"id": "P-1", "customer_id": "C", "date": "2026-09-01",'
                   ' "amount": "10", "allocations": [{"invoice_id": "I", "amount": "11"}]}]}',
         "payment P-1", "", "allocations add up to 11, more than the payment's 10"),
        ("a.json", '{"items": [{"id": "X", "sku": "X", "name": "X", "unit_price": 1e40}]}',
         "item X", "unit_price", "1E+40 is out of range (at most 1000000000000)"),
        ("a.json", '{"payments": [{"id": "P-1", "customer_id": "C", "date": "2026-09-01",'
                   ' "amount": 1e25}]}',
         "payment P-1", "amount", "1E+25 is out of range"),
        ("a.json", '{"invoices": [{"id": "I-1", "number": "1", "customer_id": "C",'
                   ' "issue_date": "2026-09-01", "lines": [{"description": "a",'
                   ' "quantity": 1e30, "unit_price": "1"}]}]}',
         "invoice I-1", "lines[0].quantity", "1E+30 is out of range"),
        ("a.csv", "id,number,customer_id,issue_date,line_description,line_quantity,"
                  "line_unit_price\nINV-9,N-1,C-1,2026-09-01,a,1,5\nINV-9,,,,b,2,1e40\n",
         "invoice INV-9", "line_unit_price (row 3)", "1e40 is out of range"),
        ("a.csv", "id,customer_id,date,amount,allocation_invoice_id,allocation_amount\n"
                  "P-1,C-1,2026-09-01,10,I-1,-Infinity\n",
         "payment P-1", "allocation_amount (row 2)", "must be a finite number"),
        ("a.csv", b"", "", "", "no header row"),
        ("a.csv", "name,total\nAnn,5\n", "", "", "cannot tell which records"),
        ("a.csv", "id,display_name,nick\n", "header", "nick", "not a column of a customers file"),
        ("a.csv", "id,display_name,id\n", "header", "id", "appears more than once"),
        ("a.csv", "id,display_name\nC-1,Ann,extra\n", "customer C-1", "",
         "a column the header does not name"),
        ("a.csv", "id,display_name\n,Ann\n", "row 2", "id", "is required"),
        ("a.csv", "id,display_name,email\nC-1,Ann,ann@\n", "customer C-1", "email",
         "'ann@' is not an email address"),
        ("a.csv", "id,sku,name,income_account_xero\nZ,Z\n",
         "item Z", "name", "is required"),
        ("a.csv", "id,number,customer_id,issue_date,line_description,line_unit_price\n"
                  "I-1,N-1,C-1,2026-09-01,a,5\nI-1,N-1,C-2,2026-09-01,b,6\n",
         "invoice I-1", "customer_id", "is 'C-1' on row 2 but 'C-2' on row 3"),
        ("a.csv", "id,number,customer_id,issue_date,line_description,line_unit_price\n"
                  "I-1,N-1,C-1,2026-09-01,a,5\nI-1,,,,b,-6\n",
         "invoice I-1", "line_unit_price (row 3)", "unit price must not be negative, got -6"),
        ("a.csv", "id,number,customer_id,issue_date,line_quantity,line_unit_price\n"
                  "I-1,N-1,C-1,2026-09-01,1,5\n",
         "invoice I-1", "row 2", "a line needs an item_id or a description"),
        ("a.csv", "id,number,customer_id,issue_date,line_description,line_unit_price\n"
                  ",N-1,C-1,2026-09-01,a,5\n",
         "row 2", "id", "rows are grouped into invoices by id"),
        ("a.csv", "id,customer_id,date,amount,allocation_invoice_id,allocation_amount\n"
                  "P-1,C-1,2026-09-01,10,I-1,5\nP-1,,,,I-1,5\n",
         "payment P-1", "", "allocates to the same invoice twice"),
        ("a.csv", "id,customer_id,date,amount,allocation_invoice_id,allocation_amount\n"
                  "P-1,C-1,2026-09-01,10,I-1,0\n",
         "payment P-1", "allocation_amount (row 2)", "must be greater than zero, got 0"),
    ],
)
def test_broken_file_names_record_and_field(
    tmp_path: Path, name: str, content: str | bytes, record: str, field: str, message: str
) -> None:
    path = write(tmp_path, name, content)
    parsed = parse_file(path)
    assert parsed.records == []
    assert_well_formed(parsed)
    matching = [p for p in parsed.problems if (p.record, p.field) == (record, field)]
    assert matching, [str(p) for p in parsed.problems]
    assert any(message in p.message for p in matching), [str(p) for p in matching]
    assert all(p.file == str(path) for p in parsed.problems)
    assert all("pydantic" not in p.message and "Value error" not in p.message
               for p in parsed.problems)


def test_problem_reads_as_one_line() -> None:
    problem = Problem("ledger.json", "invoice INV-1001", "lines[2].unit_price",
                      "must be greater than zero, got -5")
    assert str(problem) == (
        "ledger.json: invoice INV-1001: lines[2].unit_price: must be greater than zero, got -5"
    )
    assert str(Problem("a.csv", "", "", "has no header row")) == "a.csv: has no header row"


def test_duplicate_ids_reject_every_copy(tmp_path: Path) -> None:
    path = write(tmp_path, "c.json", json.dumps({"customers": [
        {"id": "C-1", "display_name": "Ann"},
        {"id": "C-2", "display_name": "Bob"},
        {"id": "C-1", "display_name": "Cy"},
    ]}))
    parsed = parse_file(path)
    assert [r.id for r in parsed.records] == ["C-2"]
    problem = only(parsed)
    assert (problem.record, problem.field) == ("customer C-1", "id")
    assert "customers[0], customers[2]" in problem.message


def test_same_id_of_different_kinds_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "l.json", json.dumps({
        "customers": [{"id": "X-1", "display_name": "Ann"}],
        "items": [{"id": "X-1", "sku": "X-1", "name": "Thing"}],
    }))
    assert parse_file(path).problems == []


def test_duplicate_invoice_numbers_name_each_other(tmp_path: Path) -> None:
    line = {"description": "Work", "unit_price": "10"}
    invoice = {"customer_id": "C-1", "issue_date": "2026-09-01", "lines": [line]}
    path = write(tmp_path, "i.json", json.dumps({"invoices": [
        {**invoice, "id": "I-1", "number": "INV-7"},
        {**invoice, "id": "I-2", "number": "INV-7 "},
        {**invoice, "id": "I-3", "number": "INV-8"},
    ]}))
    parsed = parse_file(path)
    assert [r.id for r in parsed.records] == ["I-3"]
    assert {(p.record, p.message) for p in parsed.problems} == {
        ("invoice I-1", "INV-7 is also the number of invoice I-2"),
        ("invoice I-2", "INV-7 is also the number of invoice I-1"),
    }


def test_references_outside_the_file_are_not_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "id,customer_id,date,amount,allocation_invoice_id,"
                                    "allocation_amount\nP-1,C-404,2026-09-01,10,INV-404,10\n")
    assert parse_file(path).problems == []


def test_csv_conveniences(tmp_path: Path) -> None:
    """BOM, header case, short rows, blank rows and CRLF, as spreadsheets write them."""
    content = ("\ufeffID,Display_Name ,Email,Phone\r\nC-1,Ann\r\n,,,\r\n\r\n"
               "C-2, Bob ,bob@example.com\r\n")
    parsed = parse_file(write(tmp_path, "c.csv", content))
    assert parsed.problems == []
    assert [(r.id, getattr(r, "display_name", None)) for r in parsed.records] == [
        ("C-1", "Ann"), ("C-2", "Bob")]


def test_invalid_csv_quoting_and_oversized_cells(tmp_path: Path) -> None:
    huge = "id,display_name\nC-1," + "x" * 200_000 + "\n"
    problem = only(parse_file(write(tmp_path, "c.csv", huge)))
    assert problem.record in ("", "customer C-1")


# --- fuzzing: whatever the bytes, only problems come back -----------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".json", ".csv"]))
def test_random_bytes(scratch: Path, data: bytes, suffix: str) -> None:
    assert_well_formed(parse_file(write(scratch, "random" + suffix, data)))


json_scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=12)
                | st.decimals(allow_nan=False).map(str)
                | st.sampled_from(["2026-09-01", "0.1", "1e999", "-0", "USD", "sent", "C-1"]))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)


@FUZZ
@given(value=json_values)
def test_random_json_values(scratch: Path, value: Any) -> None:
    assert_well_formed(parse_file(write(scratch, "value.json", json.dumps(value))))


@FUZZ
@given(sections=st.dictionaries(st.sampled_from([*SECTIONS, "other"]),
                                st.lists(json_values, max_size=4), max_size=5))
def test_random_records_in_sections(scratch: Path, sections: dict[str, Any]) -> None:
    parsed = parse_file(write(scratch, "sections.json", json.dumps(sections)))
    assert_well_formed(parsed)
    assert_accounted_for(sections, parsed)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON document, containers and leaves alike."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


@st.composite
def mutated_ledgers(draw: st.DrawFn) -> dict[str, Any]:
    document = json.loads((EXAMPLES / "ledger.json").read_text())
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(paths(document))[1:]))
        *parents, last = path
        container = document
        for step in parents:
            container = container[step]
        action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if action == "replace":
            container[last] = draw(json_values)
        elif action == "delete":
            del container[last]
        elif isinstance(container, list):
            container.append(container[last])
        else:
            container[last] = [container[last], container[last]]
    return document


def assert_accounted_for(document: dict[str, Any], parsed: ParsedFile) -> None:
    """Every element of every section is either a valid record or named by a problem."""
    valid = {label(record) for record in parsed.records}
    named = {problem.record for problem in parsed.problems}
    for section, elements in document.items():
        if section not in SECTIONS or not isinstance(elements, list):
            assert any(p.field == section[:120] for p in parsed.problems)
            continue
        for index, element in enumerate(elements):
            raw = element.get("id") if isinstance(element, dict) else None
            if isinstance(raw, str) and 0 < len(raw.strip()) <= 64 and raw.strip().isprintable():
                expected = f"{SECTIONS[section].label} {raw.strip()}"
            else:
                expected = f"{section}[{index}]"
            assert (expected in valid) != (expected in named), expected


@FUZZ
@given(document=mutated_ledgers())
def test_mutated_ledgers(scratch: Path, document: dict[str, Any]) -> None:
    parsed = parse_file(write(scratch, "mutated.json", json.dumps(document)))
    assert_well_formed(parsed)
    if isinstance(document, dict):
        assert_accounted_for(document, parsed)


CSV_COLUMNS = {
    Entity.CUSTOMER: ["id", "display_name", "company", "email", "classification",
                      "billing_address_city"],
    Entity.ITEM: ["id", "sku", "name", "unit_price", "income_account_xero", "taxable"],
    Entity.INVOICE: ["id", "number", "customer_id", "issue_date", "due_date", "status",
                     "line_item_id", "line_description", "line_quantity", "line_unit_price"],
    Entity.PAYMENT: ["id", "customer_id", "date", "amount", "allocation_invoice_id",
                     "allocation_amount"],
    Entity.CREDIT_NOTE: ["id", "number", "customer_id", "date", "line_description",
                         "line_unit_price", "allocation_invoice_id", "allocation_amount"],
}
cells = st.sampled_from(["", "", "I-1", "I-2", "C-1", "N-1", "Ann", "x:y", "2026-09-01",
                         "2026-02-30", "10", "-1", "0", "0.1", "1e40", "NaN", "true", "sent",
                         "builder", "a@b.co", " ", "\"", "\n", ","]) | st.text(max_size=6)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[Entity, str]:
    entity = draw(st.sampled_from(list(CSV_COLUMNS)))
    columns = CSV_COLUMNS[entity]
    width = len(columns)
    rows = draw(st.lists(st.lists(cells, min_size=width - 2, max_size=width + 1), max_size=8))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return entity, out.getvalue()


@FUZZ
@given(file=csv_files())
def test_random_csv_cells(scratch: Path, file: tuple[Entity, str]) -> None:
    entity, content = file
    parsed = parse_file(write(scratch, "random.csv", content))
    assert_well_formed(parsed)
    assert all(ENTITY_OF[type(record)] is entity for record in parsed.records)
    assert {marker for marker, _ in CSV_MARKERS} & set(CSV_COLUMNS[entity])


def test_examples_in_the_docs_parse(tmp_path: Path) -> None:
    doc = (EXAMPLES.parent / "docs" / "IMPORT.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(json|csv)\n(.*?)```", doc, flags=re.DOTALL)
    assert len(blocks) >= 4
    for index, (kind, body) in enumerate(blocks):
        parsed = parse_file(write(tmp_path, f"doc{index}.{kind}", body))
        assert parsed.problems == [], [str(p) for p in parsed.problems]
        assert parsed.records


# --- numbers of any size: refused by record and field, or stored whole ---------------------

number_cells = st.sampled_from([
    "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "-0", "-0.00", "0e-999", "1e12",
    "1e13", "1e40", "1E+999999999", "1e-999999999", "1e99999999999999999999", "9" * 40,
    "999999999999.99", "1_0", "0x10", "1,5", "12.5", "3",
]) | st.builds(lambda m, e: f"{m}e{e}", st.integers(-10**6, 10**6), st.integers(-30, 30))


@st.composite
def ledgers_with_numbers(draw: st.DrawFn) -> dict[str, Any]:
    """A valid ledger whose every number is replaced by text drawn from `number_cells`."""
    def number() -> str:
        return draw(number_cells)

    currency = draw(st.sampled_from(["USD", "JPY", "KWD"]))
    lines = [{"description": f"line {n}", "quantity": number(), "unit_price": number()}
             for n in range(draw(st.integers(1, 3)))]
    return {
        "customers": [{"id": "C-1", "display_name": "Ann"}],
        "items": [{"id": "IT-1", "sku": "IT-1", "name": "Tile", "unit_price": number()}],
        "invoices": [{"id": "INV-1", "number": "INV-1", "customer_id": "C-1",
                      "issue_date": "2026-09-01", "status": "sent", "currency": currency,
                      "lines": lines}],
        "payments": [{"id": "P-1", "customer_id": "C-1", "date": "2026-09-02",
                      "currency": currency, "amount": number(),
                      "allocations": [{"invoice_id": "INV-1", "amount": number()}]}],
    }


def as_json(document: dict[str, Any], raw: bool) -> str:
    """JSON text; `raw` writes each number bare (1e40, not "1e40") where JSON allows it."""
    text = json.dumps(document)
    if raw:
        text = re.sub(r'"([+-]?\d+(\.\d+)?([eE][+-]?\d+)?)"', r"\1", text)
    return text


NUMBER_FIELD = re.compile(r"|unit_price|amount|lines\[\d\](\.quantity|\.unit_price)?|"
                          r"allocations\[\d\]\.amount")


async def import_all_or_nothing(path: Path, store_path: Path) -> ParsedFile:
    """What `syncdesk import` does: refuse the file on any problem, else store every record."""
    from engine import Ledger, Store

    parsed = parse_file(path)
    assert_well_formed(parsed)
    for problem in parsed.problems:
        if problem.record == "":  # an exponent no Decimal holds: the file is refused
            assert "is out of range" in problem.message, str(problem)
            continue
        assert problem.record in ("item IT-1", "invoice INV-1", "payment P-1"), str(problem)
        assert NUMBER_FIELD.fullmatch(problem.field), str(problem)
    store = await Store.open(store_path)
    try:
        stored = 0
        if not parsed.problems:
            try:
                await Ledger(store).upsert(parsed.records)
                stored = 1
            except InputError as exc:  # the ledger's own rules, e.g. over-allocation
                assert "allocat" in str(exc), str(exc)
        assert await store.fetch_value("SELECT COUNT(*) FROM invoices") == stored
        assert await store.fetch_value("SELECT COUNT(*) FROM payments") == stored
    finally:
        await store.close()
    return parsed


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=ledgers_with_numbers(), raw=st.booleans())
async def test_json_numbers_of_any_size_are_refused_or_stored(
        tmp_path_factory: pytest.TempPathFactory, document: dict[str, Any], raw: bool) -> None:
    directory = tmp_path_factory.mktemp("numbers")
    path = write(directory, "ledger.json", as_json(document, raw))
    await import_all_or_nothing(path, directory / "s.db")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=ledgers_with_numbers())
async def test_csv_numbers_of_any_size_are_refused_or_stored(
        tmp_path_factory: pytest.TempPathFactory, document: dict[str, Any]) -> None:
    directory = tmp_path_factory.mktemp("numbers")
    invoice = document["invoices"][0]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "number", "customer_id", "issue_date", "status", "currency",
                     "line_description", "line_quantity", "line_unit_price"])
    for line in invoice["lines"]:
        writer.writerow([invoice["id"], invoice["number"], "C-404", invoice["issue_date"],
                         "sent", invoice["currency"], line["description"], line["quantity"],
                         line["unit_price"]])
    parsed = parse_file(write(directory, "invoices.csv", out.getvalue()))
    assert_well_formed(parsed)
    for problem in parsed.problems:
        assert problem.record == "invoice INV-1"
        assert problem.field.startswith(("line_quantity (row", "line_unit_price (row", "row ")) \
            or problem.field == "", str(problem)
    assert len(parsed.records) == (0 if parsed.problems else 1)


def test_cli_import_of_huge_numbers_names_them_without_a_traceback(tmp_path: Path) -> None:

    ledger = {**json.loads((EXAMPLES / "ledger.json").read_text())}
    ledger["payments"] = [{"id": "P-9", "customer_id": ledger["customers"][0]["id"],
                           "date": "2026-09-02", "amount": "1e25"}]
    ledger["invoices"][0]["lines"][0]["unit_price"] = "1e40"
    path = write(tmp_path, "huge.json", json.dumps(ledger))
    db = tmp_path / "tmp.db"
    syncdesk = Path(sys.executable).with_name("syncdesk")
    run = subprocess.run([str(syncdesk), "import", str(path), "--db", str(db)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    invoice_id = ledger["invoices"][0]["id"]
    assert (f"huge.json: invoice {invoice_id}: lines[0].unit_price: 1e40 is out of range "
            "(at most 1000000000000)") in run.stderr
    assert "huge.json: payment P-9: amount: 1e25 is out of range" in run.stderr
    assert "nothing was imported" in run.stderr
