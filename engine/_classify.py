"""Who a customer is: a homeowner, a business or a builder.

`classify()` reads the name, the company name, the billing address and how many service
locations the customer has, and applies `RULES` in order, first match wins:

| # | rule                                                                | gives     |
|---|---------------------------------------------------------------------|-----------|
| 1 | a `BUILDER_WORDS` word in the name or company                       | builder   |
| 2 | a `LEGAL_SUFFIXES` word or a `BUSINESS_WORDS` word or phrase in the | business  |
|   | name or company (trades and institutions: "Tanaka Electric",        |           |
|   | "Northgate Animal Hospital")                                        |           |
| 3 | a possessive trading name: "Bob's Plumbing", "Joe's Diner"          | business  |
| 4 | a company name other than the person's own name                     | business  |
| 5 | a commercial address: `COMMERCIAL_ADDRESS_WORDS` in its street lines | business  |
|   | (suite, floor, building, business park, …)                          |           |
| 6 | two or more service locations (a property manager, a chain)         | business  |
| 7 | otherwise: a residential address, or none                           | homeowner |

Words are matched case-insensitively on whole words after the name is split the way
`normalise_name` splits it (so "Inc" never matches inside "Lincoln", and "L.L.C." is the word
"llc"). Builder beats business, so "Acme Builders LLC" and "Homes & Gardens LLC" are builders.
Singular trade words that are also surnames ("Builder", "Mason", "Carpenter", "Hall",
"Mill") are left out on purpose: "Sam Builder" is a person, "Sam Builders" is a firm.

Every entry path classifies the same way: `Ledger.upsert` classifies each customer that
does not say its classification itself (file import, pull, the Python API and the HTTP API
all write through it).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from ._models import Address, Classification

BUILDER_WORDS: frozenset[str] = frozenset(
    "builders homebuilders building construction constructions contracting contractors homes "
    "remodeling remodelling renovation renovations roofing framing development developments "
    "carpentry masonry excavating excavation".split()
)
"""Construction and home-building words (plural or trade forms only)."""

LEGAL_SUFFIXES: frozenset[str] = frozenset(
    "llc pllc inc incorporated corp corporation ltd limited llp lp plc co company gmbh pty "
    "pc".split()
)
"""Legal forms of a company, as words after dots are dropped ("L.L.C." is "llc")."""

BUSINESS_WORDS: frozenset[str] = frozenset(
    {
        "group", "holdings", "properties", "property management", "realty", "restaurant",
        "cafe", "bakery", "hotel", "motel", "clinic", "dental", "services", "associates",
        "partners", "enterprises", "industries", "and sons", "and daughters",
        # Trades a contractor's commercial customers are named after.
        "plumbing", "electric", "electrical", "heating", "cooling", "hvac", "landscaping",
        "painting", "cleaning", "janitorial", "pest control", "flooring", "glazing",
        "welding", "towing", "automotive", "auto repair", "motors", "repairs",
        # Institutions and premises.
        "hospital", "animal hospital", "veterinary", "medical", "pharmacy", "school",
        "academy", "college", "university", "church", "ministries", "temple", "museum",
        "library", "inn", "salon", "spa", "studio", "gallery", "shop", "store", "market",
        "supply", "supplies", "foods", "farms", "ranch", "winery", "brewery", "diner",
        "grill", "pizzeria", "bistro", "tavern", "fitness", "daycare", "preschool",
        "apartments", "condominiums", "hoa", "homeowners association", "association",
        "management", "solutions", "systems", "technologies", "logistics", "trucking",
        "insurance", "law office", "law firm", "accounting", "center", "centre",
        "storage", "warehouse", "county", "city of", "district", "department",
    }
)
"""Words and phrases a commercial customer's name carries; "&" is read as "and"."""

COMMERCIAL_ADDRESS_WORDS: frozenset[str] = frozenset(
    {"suite", "ste", "floor", "fl", "bldg", "building", "plaza", "mall", "industrial",
     "business park", "office park", "corporate", "commerce", "loading dock"}
)
"""Words of a street address that only commercial premises have."""

_DROPPED = frozenset(".'’")  # joined, not split: "L.L.C." is "llc", "O'Brien" is "obrien"


def _words(name: str) -> list[str]:
    """Casefolded, accent-free words; punctuation splits words, '&' becomes 'and'."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    chars: list[str] = []
    for ch in decomposed:
        if unicodedata.combining(ch) or ch in _DROPPED:
            continue
        if ch == "&":
            chars.append(" and ")
        elif ch.isalnum():
            chars.append(ch)
        else:
            chars.append(" ")
    return "".join(chars).split()


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules read about one customer."""

    words: tuple[str, ...]
    """The name's words, then the company's."""
    name_words: tuple[str, ...]
    company_words: tuple[str, ...]
    name: str
    address_words: tuple[str, ...]
    locations: int

    def has_phrase(self, phrases: frozenset[str], words: tuple[str, ...]) -> bool:
        spaced = f" {' '.join(words)} "  # whole words: " and sons " in " patel and sons "
        return any(f" {phrase} " in spaced for phrase in phrases)


@dataclass(frozen=True, slots=True)
class Rule:
    says: str
    gives: Classification
    applies: Callable[[Facts], bool]


_POSSESSIVE = re.compile(r"^\s*\w+['’]s\s+\w", re.UNICODE)

RULES: tuple[Rule, ...] = (
    Rule("a builder word in the name or company", Classification.BUILDER,
         lambda f: bool(BUILDER_WORDS.intersection(f.words))),
    Rule("a legal suffix, business or trade word in the name or company",
         Classification.BUSINESS,
         lambda f: bool(LEGAL_SUFFIXES.intersection(f.words))
         or f.has_phrase(BUSINESS_WORDS, f.words)),
    Rule("a possessive trading name", Classification.BUSINESS,
         lambda f: bool(_POSSESSIVE.match(f.name))),
    Rule("a company name other than the person's own", Classification.BUSINESS,
         lambda f: bool(f.company_words) and f.company_words != f.name_words),
    Rule("a commercial address", Classification.BUSINESS,
         lambda f: f.has_phrase(COMMERCIAL_ADDRESS_WORDS, f.address_words)),
    Rule("two or more service locations", Classification.BUSINESS,
         lambda f: f.locations >= 2),
)
"""The table of the module docstring, in order; no rule matching means a homeowner."""


def classify(name: str, company: str | None = None, address: Address | None = None,
             locations: int = 0) -> Classification:
    """Classify a customer by `RULES`: its display name, company name, billing address and
    the number of distinct service locations its documents name."""
    name_words = tuple(_words(name))
    company_words = tuple(_words(company)) if company else ()
    street = " ".join((address.line1, address.line2)) if address else ""
    facts = Facts((*name_words, *company_words), name_words, company_words, name,
                  tuple(_words(street)), locations)
    return next((rule.gives for rule in RULES if rule.applies(facts)),
                Classification.HOMEOWNER)


def normalise_name(name: str) -> str:
    """A name reduced for matching: "Acme, Inc." and "ACME" both become "acme".

    Casefolds, drops accents and punctuation, reads "&" as "and", drops trailing legal
    suffixes ("Pty Ltd", "LLC") and collapses spaces. A name that is nothing but a legal
    suffix is kept as it is, so "Co" still matches "co".
    """
    words = _words(name)
    end = len(words)
    # "Smith & Co" loses "co" and then the dangling "and".
    while end > 0 and (words[end - 1] in LEGAL_SUFFIXES or words[end - 1] == "and"):
        end -= 1
    return " ".join(words[:end] or words)
