"""The demo ledger through the real engine into the sandbox: Wave takes what it can hold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from engine._demo import CONFLICTING_INVOICE_NUMBER, generate_demo
from engine._models import Customer, Invoice, InvoiceStatus


@pytest.mark.e2e
async def test_demo_ledger_syncs(make_world: Callable[..., Any]) -> None:
    world = await make_world(("wave",))
    records = generate_demo(size=40)
    await world.ledger.upsert(records)
    await world.sync()
    rows = await world.store.fetch_all(
        "SELECT entity, record_id, status, error_message FROM sync_jobs")
    failed = {(row["entity"], row["record_id"]): row["error_message"] for row in rows
              if row["status"] not in ("synced", "skipped")}
    assert failed == {("invoice", CONFLICTING_INVOICE_NUMBER):
                      f"Invoice number {CONFLICTING_INVOICE_NUMBER} is already in use."}
    skipped = Counter((row["entity"], row["error_message"].split(":")[0]) for row in rows
                      if row["status"] == "skipped")
    # Payments and credit notes are shown as skipped, each with Wave's reason.
    assert {entity for entity, _ in skipped} <= {"payment", "credit_note", "invoice"}
    assert ("payment", "Wave's public API cannot apply a payment to an invoice") in skipped
    assert ("credit_note", "Wave's public API has no credit notes — record the credit in "
            "Wave") in skipped
    counts = await world.remote_counts("wave")
    kinds = Counter(type(r).__name__ for r in records)
    invoices = [r for r in records if isinstance(r, Invoice)]
    sent = sum(1 for i in invoices if i.status is InvoiceStatus.SENT)  # drafts stay local
    # Wave keeps no unique customer names: Riverside exists twice, the sandbox's and ours.
    # INV-1042 exists once, the sandbox's; the sandbox's own product is the extra item.
    assert counts == {"customer": kinds[Customer.__name__] + 1, "item": kinds["Item"] + 1,
                      "invoice": sent, "payment": 0}
