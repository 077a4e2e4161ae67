"""Customer classification and name normalisation: one row per rule, plus the tricky names."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from engine import Address, Customer, Invoice, Ledger, Line, Store, _classify, parse_file
from engine._classify import (
    BUILDER_WORDS,
    BUSINESS_WORDS,
    LEGAL_SUFFIXES,
    RULES,
    classify,
    normalise_name,
)
from engine._models import Classification

BUILDER = Classification.BUILDER
BUSINESS = Classification.BUSINESS
HOMEOWNER = Classification.HOMEOWNER


@pytest.mark.parametrize("word", sorted(BUILDER_WORDS))
def test_every_builder_word_makes_a_builder(word: str) -> None:
    assert classify(f"Northside {word.title()}") is BUILDER
    assert classify(f"NORTHSIDE {word.upper()} LLC") is BUILDER


@pytest.mark.parametrize("suffix", sorted(LEGAL_SUFFIXES))
def test_every_legal_suffix_makes_a_business(suffix: str) -> None:
    assert classify(f"Blue Heron {suffix.title()}") is BUSINESS
    assert classify(f"Blue Heron, {suffix.upper()}.") is BUSINESS


@pytest.mark.parametrize("phrase", sorted(BUSINESS_WORDS))
def test_every_business_word_makes_a_business(phrase: str) -> None:
    assert classify(f"Blue Heron {phrase.title()}") is BUSINESS


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Legal suffixes in their written forms.
        ("Acme L.L.C.", BUSINESS),
        ("Acme Inc.", BUSINESS),
        ("Acme Pty Ltd", BUSINESS),
        ("Müller GmbH", BUSINESS),
        ("Patel & Sons", BUSINESS),
        ("Patel and Sons", BUSINESS),
        ("Summit Property Management", BUSINESS),
        ("Café Luna", BUSINESS),
        # Builder beats business when both match.
        ("Acme Builders LLC", BUILDER),
        ("Homes & Gardens LLC", BUILDER),
        ("Riverside Construction Group", BUILDER),
        ("Oak Hill Homes Inc.", BUILDER),
        # People, including names that hide a keyword inside a longer word.
        ("Maria Lopez", HOMEOWNER),
        ("Lincoln Park", HOMEOWNER),
        ("Incognito Smith", HOMEOWNER),
        ("Corporal Jones", HOMEOWNER),
        ("Gregory Holmes", HOMEOWNER),
        ("Sherwood Homestead", HOMEOWNER),
        ("Jo Cole", HOMEOWNER),
        # Singular trade words are surnames: a person, not a firm.
        ("Sam Builder", HOMEOWNER),
        ("Bob the Builder", HOMEOWNER),
        ("Ann Mason", HOMEOWNER),
        ("", HOMEOWNER),
        ("   ", HOMEOWNER),
    ],
)
def test_tricky_names(name: str, expected: Classification) -> None:
    assert classify(name) is expected


@pytest.mark.parametrize(
    ("name", "company", "expected"),
    [
        ("Maria Lopez", None, HOMEOWNER),
        ("Maria Lopez", "", HOMEOWNER),
        ("Maria Lopez", "Maria Lopez", HOMEOWNER),  # apps often copy the name over
        ("Maria Lopez", "Lopez Design", BUSINESS),  # any other company name: a business
        ("Maria Lopez", "Lopez Builders", BUILDER),
        ("Lopez Builders", "Lopez Design", BUILDER),
    ],
)
def test_company_name(name: str, company: str | None, expected: Classification) -> None:
    assert classify(name, company) is expected


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Acme, Inc.", "acme"),
        ("ACME", "acme"),
        ("Acme Pty Ltd", "acme"),
        ("Acme L.L.C.", "acme"),
        ("  Maria   Lopez ", "maria lopez"),
        ("José O'Brien", "jose obrien"),
        ("Smith & Sons", "smith and sons"),
        ("Smith and Sons Co.", "smith and sons"),
        ("Smith & Co", "smith"),
        ("Inc Magazine LLC", "inc magazine"),  # only trailing suffixes go
        ("Riverside Property Group LLC", "riverside property group"),
        ("LLC", "llc"),  # nothing but a suffix: kept
        ("Smith-Jones Renovations", "smith jones renovations"),
        ("", ""),
    ],
)
def test_normalise_name(name: str, normalised: str) -> None:
    assert normalise_name(name) == normalised


def test_normalise_name_matches_written_variants() -> None:
    variants = ["Riverside Property Group LLC", "riverside property group, l.l.c.",
                "RIVERSIDE  PROPERTY GROUP"]
    assert len({normalise_name(v) for v in variants}) == 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Trades and institutions: the names the name-only rules called homeowners.
        ("Bob's Plumbing", BUSINESS),
        ("Tanaka Electric", BUSINESS),
        ("Northgate Animal Hospital", BUSINESS),
        ("Joe's Diner", BUSINESS),
        ("Mary's Cakes", BUSINESS),  # a possessive trading name, no trade word needed
        ("St. Mark's Church", BUSINESS),
        ("City of Beaverton", BUSINESS),
        ("Bob's Builders", BUILDER),
        # A possessive alone, or a surname that only looks like a trade, is a person.
        ("Bob's", HOMEOWNER),
        ("Ann Hall", HOMEOWNER),
        ("John Mill", HOMEOWNER),
    ],
)
def test_trade_institution_and_possessive_names(name: str, expected: Classification) -> None:
    assert classify(name) is expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (Address(line1="1200 NW Naito Pkwy", line2="Suite 400"), BUSINESS),
        (Address(line1="55 Industrial Way"), BUSINESS),
        (Address(line1="9 Oak Business Park"), BUSINESS),
        (Address(line1="18 Hawthorne St", line2="Floor 3"), BUSINESS),
        (Address(line1="4417 SE Taylor St"), HOMEOWNER),
        (Address(line1="4417 SE Taylor St", line2="Apt 2"), HOMEOWNER),
        (None, HOMEOWNER),
    ],
)
def test_a_commercial_address_makes_a_business(address: Address | None,
                                               expected: Classification) -> None:
    assert classify("Maria Lopez", address=address) is expected


def test_two_service_locations_make_a_business() -> None:
    assert classify("Maria Lopez", locations=1) is HOMEOWNER
    assert classify("Maria Lopez", locations=2) is BUSINESS
    assert classify("Lopez Builders", locations=3) is BUILDER  # rule order: builder first


def test_the_rule_table_is_documented_in_order() -> None:
    assert [rule.gives for rule in RULES] == [BUILDER, *[BUSINESS] * 5]
    for rule in RULES:
        assert rule.says.split()[-1] in (_classify.__doc__ or "")


async def test_every_entry_path_classifies(tmp_path: Path) -> None:
    """The Python API classifies a customer that does not say who it is; one that does is
    left as it said. (File import and pull write through the same `Ledger.upsert`.)"""
    store = await Store.open(tmp_path / "c.db")
    try:
        ledger = Ledger(store)
        await ledger.upsert([
            Customer(id="C-1", display_name="Bob's Plumbing"),
            Customer(id="C-2", display_name="Maria Lopez",
                     billing_address=Address(line1="1 Main St", line2="Suite 9")),
            Customer(id="C-3", display_name="Tanaka Electric",
                     classification=Classification.HOMEOWNER),
            Customer(id="C-4", display_name="Ana Ruiz"),
            Invoice(id="V-1", number="V-1", customer_id="C-4", issue_date=date(2026, 1, 5),
                    lines=[Line(description="a", unit_price=Decimal(1), location="North"),
                           Line(description="b", unit_price=Decimal(1), location="South")]),
        ])
        assert await kinds(store) == {"C-1": "business", "C-2": "business",
                                      "C-3": "homeowner", "C-4": "homeowner"}
        # Written again once its documents name two locations: a business.
        await ledger.upsert([Customer(id="C-4", display_name="Ana Ruiz")])
        assert (await kinds(store))["C-4"] == "business"
    finally:
        await store.close()


async def kinds(store: Store) -> dict[str, str]:
    rows = await store.fetch_all("SELECT id, classification FROM customers")
    return {row["id"]: row["classification"] for row in rows}


def test_a_file_import_reads_the_address_too(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.json"
    ledger.write_text(json.dumps({"customers": [
        {"id": "C-1", "display_name": "Maria Lopez",
         "billing_address": {"line1": "1200 NW Naito Pkwy", "line2": "Suite 400"}},
        {"id": "C-2", "display_name": "Ana Ruiz", "billing_address": {"line1": "14 Alder St"}},
    ]}), encoding="utf-8")
    parsed = parse_file(ledger)
    assert [c.classification for c in parsed.records if isinstance(c, Customer)] == [
        BUSINESS, HOMEOWNER]
