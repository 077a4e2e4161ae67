"""The demo end to end: every record synced or visibly explained, each once remotely; three
businesses, one fed by a simulated app over the HTTP API."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from console._demo_app import DemoApp
from console._http import build_api
from console._wiring import platforms
from engine import (
    CONFLICTING_CUSTOMER_NAME,
    CONFLICTING_INVOICE_NUMBER,
    UNMAPPED_ITEM_SKU,
    ApiKeys,
    Businesses,
    Customer,
    Item,
    Ledger,
    Store,
    generate_demo,
)
from tests._world import World

EXPLAINED = {"failed", "skipped", "blocked", "broken_link"}
ONE_TO_ONE = ("customer", "item", "invoice")
"""Entities every platform keeps one remote object for per local record."""


async def test_demo_business_reaches_every_platform_once(make_world: Callable[..., Any]) -> None:
    world: World = await make_world()
    baseline = {name: await world.remote_counts(name) for name in world.connections}
    await world.ledger.upsert(generate_demo(seed=7, size=30))
    await world.sync()

    rows = await world.store.fetch_all(
        "SELECT c.platform, j.entity, j.record_id, j.label, j.status, j.error_class, "
        "j.error_message FROM sync_jobs j JOIN connections c ON c.id = j.connection_id")
    assert len({row["platform"] for row in rows}) == len(platforms())
    for row in rows:
        assert row["status"] == "synced" or (
            row["status"] in EXPLAINED and row["error_message"]), dict(row)

    def outcome(platform: str, entity: str, label: str) -> tuple[str, str | None]:
        match = [r for r in rows if (r["platform"], r["entity"], r["label"]) ==
                 (platform, entity, label)]
        assert match, (platform, entity, label)
        return match[0]["status"], match[0]["error_class"]

    for platform in world.connections:
        assert outcome(platform, "invoice", CONFLICTING_INVOICE_NUMBER) == ("failed", "duplicate")
    for platform in ("quickbooks", "xero", "freshbooks"):
        assert outcome(platform, "customer", CONFLICTING_CUSTOMER_NAME) == ("failed",
                                                                           "duplicate")
    for platform in ("quickbooks", "xero"):
        label = next(r["label"] for r in rows if r["record_id"] == UNMAPPED_ITEM_SKU)
        assert outcome(platform, "item", label) == ("skipped", "unmapped")
    assert {r["status"] for r in rows if r["platform"] == "wave"
            and r["entity"] in ("payment", "credit_note")} == {"skipped"}

    for name, connection_id in world.connections.items():
        remote = await world.remote_counts(name)
        for entity in ONE_TO_ONE:
            linked = await world.store.fetch_value(
                "SELECT COUNT(*) FROM sync_links WHERE connection_id = ? AND entity = ?",
                (connection_id, entity))
            assert remote[entity] == baseline[name][entity] + linked, (name, entity)


@pytest.mark.e2e
def test_demo_headless_prints_the_status_as_json(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())",
         "demo", "--headless", "--size", "20", "--db", str(tmp_path / "demo.db")],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    demo, *others = status["businesses"]
    assert demo["ledger"]["customers"] == 20
    assert [c["platform"] for c in demo["connections"]] == list(platforms())
    assert [b["name"] for b in others] == ["Harbour Plumbing & Heating", "Northside Handyman"]
    for business in status["businesses"]:
        assert business["connections"], business["name"]
        assert all(business["ledger"].values()), business
        for connection in business["connections"]:
            states = {s for counts in connection["counts"].values() for s in counts}
            assert "synced" in states, connection
            assert not states & {"pending", "in_flight", "uncertain"}, connection
    assert len(status["connections"]) == sum(len(b["connections"]) for b in status["businesses"])
    assert status["ledger"]["customers"] == sum(b["ledger"]["customers"]
                                                for b in status["businesses"])
    assert status["unread_notifications"] > 0


async def test_the_demo_app_feeds_its_own_business_only(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "fed.db")
    try:
        fed, other = [await Businesses(store).add(name, actor="test")
                      for name in ("Fed", "Other")]
        fed_ledger = generate_demo(seed=11, size=10)
        await Ledger(store, business=fed.id).upsert(fed_ledger)
        await Ledger(store, business=other.id).upsert(generate_demo(seed=23, size=10))
        _, secret = await ApiKeys(store, business=fed.id).create("demo app")
        customers = [r.id for r in fed_ledger if isinstance(r, Customer)]
        item = next(r for r in fed_ledger if isinstance(r, Item))
        app = DemoApp("http://api/v1", secret, customers, item, interval=0,
                      transport=httpx.ASGITransport(app=build_api(store)))

        sent = await app.run(asyncio.Event(), count=3)

        assert sent == ["APP-1", "APP-2", "APP-3"]
        rows = await store.fetch_all(
            "SELECT id, business_id, customer_id, status FROM invoices WHERE id LIKE 'APP-%' "
            "ORDER BY id")
        assert [(r["id"], r["business_id"], r["customer_id"], r["status"]) for r in rows] == [
            (number, fed.id, customer, "sent") for number, customer in
            zip(sent, customers[:len(sent)], strict=True)]
    finally:
        await store.close()
