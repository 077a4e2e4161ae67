"""The demo business end to end: every record synced or visibly explained, each once remotely."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console._wiring import platforms
from engine import (
    CONFLICTING_CUSTOMER_NAME,
    CONFLICTING_INVOICE_NUMBER,
    UNMAPPED_ITEM_SKU,
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
    assert status["ledger"]["customers"] == 20
    assert [c["platform"] for c in status["connections"]] == list(platforms())
    for connection in status["connections"]:
        waiting = {s for counts in connection["counts"].values() for s in counts} & {
            "pending", "in_flight", "uncertain"}
        assert not waiting, connection
    assert status["unread_notifications"] > 0
