"""Sub-customers: a customer may name a parent; QuickBooks gets it as a job of that parent
(ParentRef), the platforms without sub-customers skip it visibly, and the ledger refuses a
parent that is missing, itself, or a loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine import Customer, InputError, Ledger, Store
from tests.test_engine import MARIA, TILE, invoice, statuses

MakeWorld = Callable[..., Any]

KITCHEN = Customer(id="C-1-K", display_name="Maria Lopez - kitchen", parent_id="C-1")


async def test_quickbooks_gets_a_job_of_its_parent_and_xero_skips_it_visibly(
        make_world: MakeWorld) -> None:
    world = await make_world(("quickbooks", "xero"))
    await world.ledger.upsert([MARIA, KITCHEN, TILE, invoice("INV-1", customer="C-1-K")])
    await world.sync()
    qbo = await statuses(world, "quickbooks")
    assert qbo[("customer", "C-1-K")] == "synced" and qbo[("invoice", "INV-1")] == "synced"
    links = {row["record_id"]: row["remote_id"] for row in await world.store.fetch_all(
        "SELECT record_id, remote_id FROM sync_links WHERE connection_id = ? AND entity = "
        "'customer'", (world.connections["quickbooks"],))}
    company = world.apps["quickbooks"].state.company
    job = next(c for c in company.rows("Customer") if c["Id"] == links["C-1-K"])
    assert job["ParentRef"]["value"] == links["C-1"] and job["Job"] is True
    xero = await world.job("xero", "customer", "C-1-K")
    assert xero["status"] == "skipped"
    assert "Xero has no sub-customers" in xero["error_message"]
    assert (await statuses(world, "xero"))[("invoice", "INV-1")] == "blocked"


async def test_the_ledger_refuses_a_missing_parent_itself_and_a_loop(store: Store) -> None:
    ledger = Ledger(store)
    with pytest.raises(InputError, match="no customer 'C-404'"):
        await ledger.upsert([Customer(id="C-2", display_name="B", parent_id="C-404")])
    with pytest.raises(ValueError, match="its own parent"):
        Customer(id="C-2", display_name="B", parent_id="C-2")
    await ledger.upsert([Customer(id="A", display_name="A"),
                         Customer(id="B", display_name="B", parent_id="A")])
    with pytest.raises(InputError, match=r"A -> B -> A is a loop"):
        await ledger.upsert([Customer(id="A", display_name="A", parent_id="B")])
