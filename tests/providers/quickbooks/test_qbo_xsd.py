"""Every JSON body the client sends uses only element names from Intuit's XSDs.

The schema is Intuit's own (QuickBooks-V3-Java-SDK `ipp-v3-java-data/src/main/xsd`, stored
under `tests/specs/quickbooks`). In QBO's JSON an XSD attribute is a key like an element,
and a simple-content type (a reference) carries its text as `value`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import xmlschema

from engine import (
    Allocation,
    ConnectionMappings,
    CreditNote,
    Entity,
    Line,
    Operation,
    Payment,
)
from providers.quickbooks import QuickBooksProvider
from tests.providers._support import Ledger, spec

from .conftest import Recorder, customer, invoice, item

ENTITIES = ("Invoice", "Customer", "Item", "Payment", "CreditMemo")


@pytest.fixture(scope="module")
def schema() -> Any:
    return xmlschema.XMLSchema(str(spec("quickbooks/IntuitRestServiceDef.xsd")))


def _unknown_keys(value: Any, xsd_type: Any, where: str) -> list[str]:
    """Keys of `value` that `xsd_type` has no element or attribute for, recursively."""
    if not isinstance(value, dict):
        if isinstance(value, list):
            return [bad for n, v in enumerate(value)
                    for bad in _unknown_keys(v, xsd_type, f"{where}[{n}]")]
        return []
    children: dict[str, Any] = {}
    if xsd_type.is_complex():
        for name in xsd_type.attributes:
            children[str(name).split("}")[-1]] = None
        content = xsd_type.content
        if hasattr(content, "iter_elements"):
            for element in content.iter_elements():
                children[element.local_name] = element.type
        if xsd_type.has_simple_content():
            children["value"] = None
    unknown = []
    for key, child in value.items():
        if key not in children:
            unknown.append(f"{where}.{key}")
        elif children[key] is not None:
            unknown.extend(_unknown_keys(child, children[key], f"{where}.{key}"))
    return unknown


async def test_every_body_sent_is_in_the_xsd(schema: Any, provider: QuickBooksProvider,
                                             ledger: Ledger, recorder: Recorder) -> None:
    ref = await ledger.push(provider, Entity.CUSTOMER, customer(
        email="a@b.example", phone="555-0100", company="HV",
        billing_address={"line1": "1 Main St", "city": "Reno", "region": "NV",
                         "postal_code": "89501", "country": "US"}))
    await ledger.push(provider, Entity.CUSTOMER, customer(name="HV Dental"),
                      operation=Operation.UPDATE, link=ref, key="k2")
    await ledger.push(provider, Entity.ITEM, item(taxable=True))
    inv = await ledger.push(provider, Entity.INVOICE, invoice())
    await ledger.push(provider, Entity.INVOICE, invoice(), operation=Operation.UPDATE,
                      link=inv, key="k3")
    payment = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal(100),
                      allocations=[Allocation(invoice_id="inv1", amount=Decimal(100))])
    paid = await ledger.push(provider, Entity.PAYMENT, payment)
    await provider.push(ledger.request(Entity.PAYMENT, payment, operation=Operation.VOID,
                                       link=paid, key="k4"))
    note = CreditNote(id="cn1", number="CN-1", customer_id="c1", date=date(2026, 2, 2),
                      lines=invoice().lines[1:],
                      allocations=[Allocation(invoice_id="inv1", amount=Decimal(10))])
    memo = await ledger.push(provider, Entity.CREDIT_NOTE, note)
    # An invoice with credit applied is not voided: the credit note goes first.
    await provider.push(ledger.request(Entity.CREDIT_NOTE, note, operation=Operation.DELETE,
                                       link=memo, key="k6"))
    await provider.push(ledger.request(Entity.INVOICE, invoice(), operation=Operation.VOID,
                                       link=await provider.fetch(Entity.INVOICE, inv.remote_id),
                                       key="k5"))
    await provider.push_batch([ledger.request(Entity.CUSTOMER, customer("c7", "Batch One"))])

    checked: set[str] = set()
    problems: list[str] = []
    for request, body in recorder.api_writes():
        items = body["BatchItemRequest"] if request.url.path.endswith("/batch") else [body]
        for payload in items:
            if request.url.path.endswith("/batch"):
                name = next(key for key in payload if key in ENTITIES)
                payload = payload[name]
            else:
                segment = request.url.path.rsplit("/", 1)[-1]
                name = next(e for e in ENTITIES if e.lower() == segment)
            checked.add(name)
            problems += _unknown_keys(payload, schema.elements[name].type, name)
    assert checked == set(ENTITIES)
    assert problems == []


def test_the_checker_catches_a_wrong_name(schema: Any) -> None:
    body = {"CustomerRef": {"value": "1", "nmae": "x"}, "Line": [{"Amout": 1}], "sparse": True}
    assert _unknown_keys(body, schema.elements["Invoice"].type, "Invoice") == [
        "Invoice.CustomerRef.nmae", "Invoice.Line[0].Amout"]


async def test_the_mapped_fields_are_in_the_xsd_too(schema: Any, provider: QuickBooksProvider,
                                                    ledger: Ledger, recorder: Recorder) -> None:
    mappings = ConnectionMappings(tax_codes={"CA": "2"}, classes={"res": "1"},
                                  locations={"north": "1"}, payment_methods={"check": "2"},
                                  deposit_account="35")
    await ledger.push(provider, Entity.CUSTOMER, customer())
    lines = [Line(description="Tile", unit_price=Decimal(100), tax_code="CA",
                  tax_amount=Decimal(8), class_="res", location="north")]
    invoice_ref = await provider.push(replace(ledger.request(
        Entity.INVOICE, invoice(lines=lines)), mappings=mappings))
    ledger.refs[(Entity.INVOICE, "inv1")] = invoice_ref
    payment = Payment(id="p1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal(108),
                      method="check", allocations=[Allocation(invoice_id="inv1",
                                                              amount=Decimal(108))])
    await provider.push(replace(ledger.request(Entity.PAYMENT, payment), mappings=mappings))
    problems: list[str] = []
    sent: set[str] = set()
    for request, body in recorder.api_writes():
        name = next(e for e in ENTITIES if e.lower() == request.url.path.rsplit("/", 1)[-1])
        problems += _unknown_keys(body, schema.elements[name].type, name)
        sent |= set(body)
    assert problems == []
    assert {"TxnTaxDetail", "DepartmentRef", "PaymentMethodRef", "DepositToAccountRef"} <= sent
