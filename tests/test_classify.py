"""Customer classification and name normalisation: one row per rule, plus the tricky names."""

from __future__ import annotations

import pytest

from engine._classify import (
    BUILDER_WORDS,
    BUSINESS_WORDS,
    LEGAL_SUFFIXES,
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
