"""The demo ledger through the real engine into the sandbox: only the planted failures fail."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from engine._demo import CONFLICTING_CUSTOMER_NAME, CONFLICTING_INVOICE_NUMBER, generate_demo
from engine._models import Customer, Invoice, InvoiceStatus, Payment


@pytest.mark.e2e
async def test_demo_ledger_syncs(make_world: Callable[..., Any]) -> None:
    world = await make_world(("freshbooks",))
    records = generate_demo(size=40)
    await world.ledger.upsert(records)
    await world.sync()
    rows = await world.store.fetch_all(
        "SELECT entity, record_id, status, error_code, error_message FROM sync_jobs")
    outcomes = Counter(row["status"] for row in rows)
    failed = {(row["entity"], row["record_id"]): row["error_message"] for row in rows
              if row["status"] not in ("synced", "skipped")}
    riverside = next(r.id for r in records
                     if isinstance(r, Customer) and r.display_name == CONFLICTING_CUSTOMER_NAME)
    assert failed == {
        ("customer", riverside): "A client with this organization already exists.",
        ("invoice", CONFLICTING_INVOICE_NUMBER): "Invoice number already exists.",
    }, outcomes
    assert set(outcomes) <= {"synced", "skipped", "failed"}
    counts = await world.remote_counts("freshbooks")
    kinds = Counter(type(r).__name__ for r in records)
    invoices = [r for r in records if isinstance(r, Invoice)]
    sent = sum(1 for i in invoices if i.status is InvoiceStatus.SENT)  # drafts stay local
    parts = sum(len(r.allocations) for r in records if isinstance(r, Payment))
    # Riverside and INV-1042 exist once: the sandbox's own, not ours.
    assert counts == {"customer": kinds["Customer"], "item": kinds["Item"],
                      "invoice": sent, "payment": parts,
                      "credit_note": kinds["CreditNote"]}
