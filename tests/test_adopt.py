"""Adopting an object already on the platform: a duplicate failure's hint says how, the
object is shown (number, customer, date, total) before anything changes, and the next push
updates it instead of creating a second."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine import ConfigError, Customer, SyncService
from tests.test_mappings import service_of

MakeWorld = Callable[..., Any]
THEIRS = "Riverside Property Group LLC"  # already in the QuickBooks sandbox's company


async def test_a_duplicate_is_adopted_after_it_is_shown_and_then_updated_not_created(
        make_world: MakeWorld) -> None:
    world = await make_world(("quickbooks",))
    await world.ledger.upsert([Customer(id="C-9", display_name=THEIRS,
                                        email="ap@riverside.example")])
    await world.sync()
    failed = await world.job("quickbooks", "customer", "C-9")
    assert failed["status"] == "failed" and failed["error_class"] == "duplicate"
    detail = await SyncService(world.store, actor="test").job(failed["id"])
    assert detail is not None and "syncdesk adopt" in detail.hint
    company = world.apps["quickbooks"].state.company
    [existing] = [c for c in company.rows("Customer") if c["DisplayName"] == THEIRS]

    service = service_of(world)
    shown = await service.adoptable(failed["id"], existing["Id"])
    assert shown.shown is not None and THEIRS in shown.shown
    with pytest.raises(ConfigError, match="has no customer '999999'"):
        await service.adoptable(failed["id"], "999999")

    await service.adopt(failed["id"], existing["Id"])
    await world.sync()
    adopted = await world.job("quickbooks", "customer", "C-9")
    assert adopted["status"] == "synced"
    link = await world.store.fetch_one(
        "SELECT remote_id FROM sync_links WHERE entity = 'customer' AND record_id = 'C-9'")
    assert link is not None and link["remote_id"] == existing["Id"]
    same_name = [c for c in company.rows("Customer") if c["DisplayName"] == THEIRS]
    assert len(same_name) == 1
    assert same_name[0]["PrimaryEmailAddr"]["Address"] == "ap@riverside.example"
    audit = await world.store.fetch_value("SELECT command FROM audit WHERE command = 'adopt'")
    assert audit == "adopt"
