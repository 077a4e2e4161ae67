"""A demo ledger: a home-services and renovation company, the same for the same seed.

Besides ordinary records (full, partial, split and multi-invoice payments, an overpayment,
credit notes, drafts, a void and a $0 invoice), it carries three records that are meant
to fail, because the platform sandboxes are pre-seeded to refuse them. Their values are
the constants below; tests and the demo look them up from here.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from ._classify import classify, normalise_name
from ._models import (
    Address,
    Allocation,
    Classification,
    CreditNote,
    Customer,
    Invoice,
    InvoiceStatus,
    Item,
    Line,
    Payment,
    Record,
)

ANCHOR = date(2026, 9, 1)
"""Every demo date lies within the half year before this day; no clock is read."""

UNMAPPED_ITEM_SKU = "LABOR"
"""An item ("Labor") with no income account for any platform, used on a few sent invoices."""
UNMAPPED_ITEM_NAME = "Labor"
CONFLICTING_CUSTOMER_NAME = "Riverside Property Group LLC"
"""The platforms already hold another customer by this name, not created by syncdesk."""
CONFLICTING_INVOICE_NUMBER = "INV-1042"
"""The platforms already hold an invoice with this number."""

INCOME_ACCOUNTS = {"quickbooks": "79", "xero": "200"}
"""Income account per platform for every other item; Wave and FreshBooks need none."""

MIN_SIZE = 10
"""Fewer customers cannot hold every kind of payment the demo shows."""

_CENT = Decimal("0.01")
_NUMBERS_FROM = 1001
_LABOR_INVOICES = 3
_STARTER_CUSTOMERS = 5
"""C-0002 to C-0006 get only sent invoices, so that every way of paying has one to pay."""

# (sku, name, unit price, largest quantity on one line); materials are taxable
_SERVICES = (
    ("DEMO-HR", "Demolition (hour)", "65.00", 16),
    ("CARP-HR", "Carpentry (hour)", "72.00", 40),
    ("ELEC-HR", "Electrical work (hour)", "95.00", 24),
    ("PLUMB-CALL", "Plumbing service call", "145.00", 2),
    ("PLUMB-HR", "Plumbing (hour)", "88.00", 16),
    ("DRYWALL-SQFT", "Drywall installation (sq ft)", "2.75", 600),
    ("PAINT-SQFT", "Interior painting (sq ft)", "1.85", 900),
    ("TILE-SQFT", "Tile installation (sq ft)", "9.50", 250),
    ("FLOOR-SQFT", "Hardwood floor installation (sq ft)", "6.25", 500),
    ("ROOF-SQ", "Roof replacement (square)", "425.00", 30),
    ("DESIGN", "Design consultation", "250.00", 2),
    ("PERMIT", "Permit handling", "175.00", 1),
    ("HAUL", "Debris haul-away", "325.00", 3),
    ("PM-HR", "Project management (hour)", "80.00", 20),
    ("INSPECT", "Home inspection", "350.00", 1),
    ("GUTTER-FT", "Gutter cleaning (linear ft)", "1.20", 220),
)
_MATERIALS = (
    ("DRYWALL-4X8", "Drywall sheet 4x8 ft", "14.98", 60),
    ("STUD-2X4", "Stud 2x4 8 ft", "4.12", 120),
    ("LUMBER-2X6", "Lumber 2x6 10 ft", "9.85", 80),
    ("PAINT-GAL", "Interior paint (gallon)", "38.50", 20),
    ("PRIMER-GAL", "Primer (gallon)", "24.99", 12),
    ("TILE-CER", "Ceramic tile (sq ft)", "3.25", 260),
    ("OAK-SQFT", "Oak flooring (sq ft)", "5.49", 520),
    ("SHINGLE-BDL", "Roof shingles (bundle)", "36.75", 90),
    ("INSUL-ROLL", "Insulation roll R-13", "42.30", 30),
    ("FAUCET-KIT", "Kitchen faucet", "189.00", 1),
    ("VANITY-36", "Bathroom vanity 36 in", "549.00", 2),
    ("CABINET-HW", "Cabinet hardware set", "64.50", 4),
    ("CONCRETE-80", "Concrete mix 80 lb", "6.48", 40),
    ("GROUT-25", "Grout 25 lb", "21.97", 6),
)
_WARRANTY = ("WARRANTY", "Warranty visit", "0.00", 1)
_LABOR_PRICE = Decimal("55.00")

_FIRST = (
    "Maria James Aisha Daniel Mei Carlos Priya Thomas Olivia Ahmed Grace Lucas Sofia Ethan "
    "Hannah Diego Chloe Samuel Fatima Noah Emma Kenji Leila Owen Rosa Victor Nina Isaac Zoe "
    "Marcus Ingrid Tariq Camila Henry Yuki Paul Amara Felix Lena Omar Ruth Mateo Clara Ravi "
    "Julia Andre Elena Simon Naomi Hugo"
).split()
_LAST = (
    "Lopez Okafor Chen Patel Johnson Nguyen Garcia Kim Schmidt Rossi Haddad Murphy Silva "
    "Kowalski Tanaka Novak Williams Hassan Jensen Moreno Brown Singh Dubois Costa Walsh "
    "Petrov Adeyemi Larsen Ortiz Fischer Reyes Ahmed Cohen Bianchi Sato Andersen Diaz "
    "Mbeki Lindqvist Park O'Brien Fernandez Yilmaz Kaur Romero Svensson Tran Keller "
    "Alvarez Hughes"
).split()
_PLACES = (
    "Oakwood", "Cedar Ridge", "Maple Grove", "Harbor View", "Summit", "Pinecrest",
    "Willow Creek", "Stonebridge", "Lakeside", "Northgate", "Silver Lake", "Elmhurst",
    "Brookside", "Highland", "Meadowbrook", "Westfield", "Bayview", "Fox Hollow",
    "Granite Peak", "Sunnyside", "Copper Canyon", "Bridgewater",
)  # no "Riverside": the conflicting customer must be the only one of its name
_BUSINESS_KINDS = (
    "Dental Clinic", "Cafe", "Hotel", "Property Management", "Holdings", "Realty Group",
    "Family Restaurant", "Veterinary Clinic", "Bakery", "Law Associates", "Animal Clinic",
)
_LEGAL = ("", " LLC", " Inc.", " Corp", " Ltd")
_TRADES = ("Plumbing", "Electrical", "HVAC", "Landscaping", "Cleaning")
_BUILDER_KINDS = ("Builders", "Construction", "Homes", "Remodeling", "Renovations",
                  "Contracting")
_CITIES = (
    ("Portland", "97201"), ("Beaverton", "97005"), ("Lake Oswego", "97034"),
    ("Tigard", "97223"), ("Gresham", "97030"), ("Hillsboro", "97123"), ("Salem", "97301"),
    ("Vancouver", "98660"),
)
_STREETS = ("Alder St", "Birch Ave", "Oak Ln", "Hawthorne Blvd", "Division St", "Elm Ct",
            "Fremont Way", "Juniper Dr", "Terwilliger Rd", "Sandy Blvd")
_ROOMS = ("kitchen", "main bath", "basement", "garage", "primary bedroom", "deck", "roof",
          "hallway", "laundry room", "exterior")
_METHODS = ("check", "card", "bank_transfer", "cash")


def generate_demo(seed: int = 7, size: int = 300) -> list[Record]:
    """About `size` customers with their items, invoices, payments and credit notes.

    Records come in dependency order: customers, items, invoices, payments, credit notes.
    Raises `ValueError` if `size` is below `MIN_SIZE`.
    """
    if size < MIN_SIZE:
        raise ValueError(f"demo size must be at least {MIN_SIZE}, got {size}")
    return _Demo(random.Random(seed), size).build()


@dataclass
class _Balance:
    """An invoice still open to payments and credit notes, and what is left to pay."""

    invoice: Invoice
    left: Decimal
    paid_on: date
    """The last day money came in for it (its issue date until then): payments follow it."""


class _Demo:
    def __init__(self, rng: random.Random, size: int) -> None:
        self.rng = rng
        self.size = size
        self.names: set[str] = {normalise_name(CONFLICTING_CUSTOMER_NAME)}
        """Names taken, normalised: "Ortiz & Sons Inc." and "Ortiz & Sons LLC" are one."""
        self.payments: list[Payment] = []

    def build(self) -> list[Record]:
        customers = self.customers()
        items = self.items()
        invoices, open_invoices, starters = self.invoices(customers, items)
        self.pay(open_invoices, starters)
        credit_notes = self.credit_notes(open_invoices, items)
        return [*customers, *items, *invoices, *self.payments, *credit_notes]

    # --- customers --------------------------------------------------------------------------

    def customers(self) -> list[Customer]:
        customers = []
        for index in range(self.size):
            if index == _STARTER_CUSTOMERS + 1:
                name = CONFLICTING_CUSTOMER_NAME
            else:
                name = self.unique(self.rng.choices(
                    (self.homeowner, self.business, self.builder), weights=(6, 2.5, 1.5))[0])
            customers.append(self.customer(f"C-{index + 1:04d}", name))
        return customers

    def unique(self, draw: Callable[[], str]) -> str:
        while (name := draw()) and normalise_name(name) in self.names:
            pass
        self.names.add(normalise_name(name))
        return name

    def homeowner(self) -> str:
        first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        if self.rng.random() < 0.7:
            return f"{first} {last}"
        return f"{first} {self.rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"

    def business(self) -> str:
        rng = self.rng
        shape, legal = rng.randrange(4), rng.choice(_LEGAL)
        if shape == 0:
            return f"{rng.choice(_PLACES)} {rng.choice(_BUSINESS_KINDS)}{legal}"
        if shape == 1:
            return f"{rng.choice(_LAST)} & Sons{legal}"
        if shape == 2:
            return f"{rng.choice(_LAST)} {rng.choice(_TRADES)} Services{legal}"
        partners = f"{rng.choice(_LAST)} & {rng.choice(_LAST)}"
        return f"{partners} {rng.choice(('Associates', 'Partners', 'Group'))}{legal}"

    def builder(self) -> str:
        rng = self.rng
        kind = rng.choice(_BUILDER_KINDS)
        if rng.random() < 0.5:
            return f"{rng.choice(_PLACES)} {kind}{rng.choice(_LEGAL)}"
        return f"{rng.choice(_LAST)} & {rng.choice(_LAST)} {kind}{rng.choice(_LEGAL)}"

    def customer(self, customer_id: str, name: str) -> Customer:
        rng = self.rng
        kind = classify(name)
        person = kind is Classification.HOMEOWNER
        slug = "".join(ch for ch in name.lower() if ch.isalnum() or ch == " ").split()
        email = (f"{'.'.join(slug)}@example.com" if person
                 else f"billing@{''.join(slug[:3])}.example.com")
        city, postal_code = rng.choice(_CITIES)
        return Customer(
            id=customer_id,
            display_name=name,
            company=None if person else name,
            email=email,
            phone=f"503-555-{rng.randrange(10_000):04d}",
            billing_address=Address(
                line1=f"{rng.randint(10, 9999)} {rng.choice(_STREETS)}",
                city=city, region="WA" if city == "Vancouver" else "OR",
                postal_code=postal_code, country="US",
            ),
            classification=kind,
        )

    # --- items ------------------------------------------------------------------------------

    def items(self) -> list[Item]:
        catalogue = [(*s, False) for s in (*_SERVICES, _WARRANTY)]
        catalogue += [(*m, True) for m in _MATERIALS]
        items = [
            Item(id=sku, sku=sku, name=name, unit_price=Decimal(price), taxable=taxable,
                 income_accounts=INCOME_ACCOUNTS)
            for sku, name, price, _, taxable in catalogue
        ]
        # Deliberately unmapped: no default and no per-platform income account.
        items.append(Item(id=UNMAPPED_ITEM_SKU, sku=UNMAPPED_ITEM_SKU, name=UNMAPPED_ITEM_NAME,
                          unit_price=_LABOR_PRICE))
        return items

    # --- invoices ---------------------------------------------------------------------------

    def invoices(self, customers: Sequence[Customer], items: Sequence[Item]
                 ) -> tuple[list[Invoice], list[_Balance], list[Invoice]]:
        """All invoices; those open to payment; the multi-invoice customer's invoices."""
        rng = self.rng
        drafts: list[tuple[date, str, list[Line], InvoiceStatus]] = []
        for index, customer in enumerate(customers):
            if customer.display_name == CONFLICTING_CUSTOMER_NAME:
                continue  # its failure should stand alone, not block invoices too
            starter = 1 <= index <= _STARTER_CUSTOMERS
            count = rng.randint(2, 3) if starter else rng.choices(range(5), (1, 3, 4, 2, 1))[0]
            for _ in range(count):
                sent = starter or rng.random() < 0.8
                status = InvoiceStatus.SENT if sent else InvoiceStatus.DRAFT
                drafts.append((self.day(1, 180), customer.id, self.lines(), status))
        drafts.sort(key=lambda draft: draft[0])  # numbers follow dates, as in any app

        numbers = (n for n in itertools.count(_NUMBERS_FROM)
                   if f"INV-{n}" != CONFLICTING_INVOICE_NUMBER)
        invoices = [self.invoice(f"INV-{next(numbers)}", *draft) for draft in drafts]
        starters = [i for i in invoices if i.customer_id == customers[1].id]

        special_customers = [c.id for c in customers[_STARTER_CUSTOMERS + 2:]
                             if c.display_name != CONFLICTING_CUSTOMER_NAME] or [customers[0].id]
        labor = self.items_by_sku(items)[UNMAPPED_ITEM_SKU]
        specials = [
            self.invoice(CONFLICTING_INVOICE_NUMBER, self.day(100, 140), customers[2].id,
                         self.lines(), InvoiceStatus.SENT),
            self.invoice(f"INV-{next(numbers)}", self.day(1, 60), rng.choice(special_customers),
                         [Line(item_id=_WARRANTY[0], description="Warranty visit: door alignment",
                               unit_price=Decimal(_WARRANTY[2]))], InvoiceStatus.SENT),
            self.invoice(f"INV-{next(numbers)}", self.day(1, 60), rng.choice(special_customers),
                         self.lines(), InvoiceStatus.VOID),
        ]
        for _ in range(_LABOR_INVOICES):
            hours = Decimal(rng.randint(2, 24))
            lines = [*self.lines(), Line(item_id=labor.id, description="General labor",
                                         quantity=hours, unit_price=labor.unit_price)]
            specials.append(self.invoice(f"INV-{next(numbers)}", self.day(1, 90),
                                         rng.choice(special_customers), lines,
                                         InvoiceStatus.SENT))
        open_invoices = [_Balance(i, i.total, i.issue_date) for i in invoices
                         if i.status is InvoiceStatus.SENT and i.total > 0]
        return invoices + specials, open_invoices, starters

    @staticmethod
    def items_by_sku(items: Sequence[Item]) -> dict[str, Item]:
        return {item.sku: item for item in items}

    def day(self, earliest: int, latest: int) -> date:
        """A day between `latest` and `earliest` days before the anchor."""
        return ANCHOR - timedelta(days=self.rng.randint(earliest, latest))

    def lines(self) -> list[Line]:
        rng = self.rng
        lines = []
        for sku, name, price, most in rng.sample(_SERVICES + _MATERIALS, rng.randint(1, 10)):
            description = f"{name}, {rng.choice(_ROOMS)}" if rng.random() < 0.4 else name
            lines.append(Line(item_id=sku, description=description,
                              quantity=Decimal(rng.randint(1, most)), unit_price=Decimal(price)))
        return lines

    @staticmethod
    def invoice(number: str, issued: date, customer_id: str, lines: list[Line],
                status: InvoiceStatus) -> Invoice:
        return Invoice(id=number, number=number, customer_id=customer_id, issue_date=issued,
                       due_date=issued + timedelta(days=30), status=status, lines=lines)

    # --- payments ---------------------------------------------------------------------------

    def pay(self, open_invoices: list[_Balance], starters: list[Invoice]) -> None:
        """Pay in every way a small business sees, then at random."""
        rng = self.rng
        balances = {balance.invoice.id: balance for balance in open_invoices}
        together = [balances[invoice.id] for invoice in starters]
        self.payment(together, extra=Decimal(0))  # one payment across several invoices
        rest = [b for b in open_invoices if b.left > 0]
        rng.shuffle(rest)
        split, partial, over, *others = rest
        self.split(split)
        self.payment([partial], amount=self.part_of(partial.left))
        self.payment([over], extra=Decimal(rng.randint(5, 100)))  # an overpayment
        for balance in others:
            roll = rng.random()
            if roll < 0.55:
                self.payment([balance])
            elif roll < 0.67:
                self.payment([balance], amount=self.part_of(balance.left))
            elif roll < 0.72:
                self.split(balance)

    def split(self, balance: _Balance) -> None:
        """A deposit and the rest: two payments for one invoice."""
        self.payment([balance], amount=self.part_of(balance.left))
        self.payment([balance])

    def part_of(self, amount: Decimal) -> Decimal:
        share = (amount * Decimal(self.rng.randint(25, 75)) / 100).quantize(_CENT)
        return min(max(share, _CENT), amount)

    def payment(self, balances: list[_Balance], amount: Decimal | None = None,
                extra: Decimal = Decimal(0)) -> None:
        """Pay `amount` on one invoice, or everything left on each, plus `extra` unapplied."""
        allocations = []
        for balance in balances:
            paid = balance.left if amount is None else amount
            if paid <= 0:
                continue
            allocations.append(Allocation(invoice_id=balance.invoice.id, amount=paid))
            balance.left -= paid
        if not allocations:
            return
        rng = self.rng
        latest = max(b.paid_on for b in balances)
        paid_on = min(latest + timedelta(days=rng.randint(3, 45)), ANCHOR)
        for balance in balances:
            balance.paid_on = paid_on
        method = rng.choice(_METHODS)
        number = len(self.payments) + 1
        self.payments.append(Payment(
            id=f"PAY-{number:04d}", customer_id=balances[0].invoice.customer_id, date=paid_on,
            amount=sum((a.amount for a in allocations), extra), method=method,
            reference=f"CHK {1000 + number}" if method == "check" else None,
            allocations=allocations,
        ))

    # --- credit notes -----------------------------------------------------------------------

    def credit_notes(self, open_invoices: list[_Balance], items: Sequence[Item]
                     ) -> list[CreditNote]:
        """A few returns and discounts; every other one applied to an invoice with room."""
        rng = self.rng
        catalogue = self.items_by_sku(items)
        notes = []
        for index in range(max(3, self.size // 60)):
            if rng.random() < 0.5:
                sku = rng.choice(_MATERIALS)[0]
                line = Line(item_id=sku, description=f"Returned: {catalogue[sku].name}",
                            unit_price=catalogue[sku].unit_price)
            else:
                line = Line(description="Goodwill discount for a schedule delay",
                            unit_price=Decimal(rng.choice((25, 50, 75, 100))))
            amount = line.amount("USD")
            roomy = [b for b in open_invoices if b.left >= amount] if index % 2 == 0 else []
            balance = rng.choice(roomy or open_invoices)
            allocations = []
            if roomy:
                allocations.append(Allocation(invoice_id=balance.invoice.id, amount=amount))
                balance.left -= amount
            number = f"CN-{index + 1:04d}"
            notes.append(CreditNote(
                id=number, number=number, customer_id=balance.invoice.customer_id,
                date=min(balance.paid_on + timedelta(days=rng.randint(1, 20)), ANCHOR),
                lines=[line], allocations=allocations,
            ))
        return notes
