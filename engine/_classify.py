"""Who a customer is: a homeowner, a business or a builder, from the name alone.

The rules are word lists, matched case-insensitively on whole words after the name is
split the way `normalise_name` splits it (so "Inc" never matches inside "Lincoln", and
"L.L.C." is the word "llc"). They are applied in this order, first match wins:

1. `BUILDER_WORDS` anywhere in the name or company: a builder. Builder beats business, so
   "Acme Builders LLC" and "Homes & Gardens LLC" are builders.
2. `LEGAL_SUFFIXES` or `BUSINESS_WORDS` anywhere in the name or company: a business.
3. A company name other than the person's own name: a business.
4. Otherwise: a homeowner.

Singular trade words that are also surnames ("Builder", "Mason", "Carpenter") are left out
on purpose: "Sam Builder" is a person, "Sam Builders" is a firm.
"""

from __future__ import annotations

import unicodedata

from ._models import Classification

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
    }
)
"""Words a commercial customer's name carries; "&" is read as "and"."""

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


def classify(name: str, company: str | None = None) -> Classification:
    """Classify a customer by its display name and, if given, its company name."""
    name_words = _words(name)
    company_words = _words(company) if company else []
    words = [*name_words, *company_words]
    if BUILDER_WORDS.intersection(words):
        return Classification.BUILDER
    spaced = f" {' '.join(words)} "  # whole-word phrase search: " and sons " in " patel and sons "
    if LEGAL_SUFFIXES.intersection(words) or any(f" {p} " in spaced for p in BUSINESS_WORDS):
        return Classification.BUSINESS
    if company_words and company_words != name_words:
        return Classification.BUSINESS
    return Classification.HOMEOWNER


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
