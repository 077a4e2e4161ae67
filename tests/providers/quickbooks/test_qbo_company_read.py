"""The company's country (CompanyInfo), which every document's tax lines need: one read per
connection, however many documents need it at once, and read beside the first batch."""

from __future__ import annotations

import asyncio
from typing import Any

from engine import Entity
from providers.quickbooks import QuickBooksProvider
from tests.providers._support import Ledger

from .conftest import Recorder, customer, invoice, item


def _company_reads(recorder: Recorder, since: int) -> int:
    """Since request `since` (connect read the company too, for the tenant's name)."""
    return sum(1 for r in recorder.requests[since:] if "/companyinfo/" in r.url.path)


async def test_documents_at_once_read_the_company_once(
        provider: QuickBooksProvider, ledger: Ledger, recorder: Recorder, app: Any) -> None:
    app.state.sandbox.latency = 0.01  # answers take a while: the five are out at once
    since = len(recorder.requests)
    await ledger.push(provider, Entity.CUSTOMER, customer())
    await ledger.push(provider, Entity.ITEM, item())
    assert _company_reads(recorder, since) == 0
    await asyncio.gather(*(provider.push(ledger.request(
        Entity.INVOICE, invoice(f"inv{n}", f"SD-{n}"))) for n in range(5)))
    assert _company_reads(recorder, since) == 1


async def test_the_first_batch_reads_the_company_beside_it(
        provider: QuickBooksProvider, ledger: Ledger, recorder: Recorder) -> None:
    since = len(recorder.requests)
    await provider.push_batch([ledger.request(Entity.CUSTOMER, customer(f"c{n}", f"Name {n}"))
                               for n in range(3)])
    assert _company_reads(recorder, since) == 1
    await provider.push_batch([ledger.request(Entity.ITEM, item(f"i{n}", f"Item {n}"))
                               for n in range(3)])
    await ledger.push(provider, Entity.CUSTOMER, customer())
    await ledger.push(provider, Entity.ITEM, item())
    await provider.push(ledger.request(Entity.INVOICE, invoice()))
    assert _company_reads(recorder, since) == 1  # known by the time a document needs it
