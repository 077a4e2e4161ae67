"""The drift audit on FreshBooks, through `list_states` on the sandbox: a clean run after a
sync finds nothing; what a person changes in FreshBooks afterwards (an invoice's lines edited
through the API, a payment moved to another invoice in the app, an invoice deleted) is found
with both values, and a re-run once it is put back finds nothing again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx

from console._wiring import platforms
from engine import (
    AuditReport,
    ConnectionSettings,
    DriftField,
    Invoice,
    live_connections,
    open_provider,
    run_audit,
)
from providers.freshbooks import PLATFORM
from tests._world import World
from tests.providers._support import connect
from tests.test_budget import ledger

from .conftest import ACCOUNT, API, BASE

MakeWorld = Callable[..., Awaitable[World]]

UNPAID = Invoice.model_validate({
    "id": "INV-5", "number": "INV-5", "customer_id": "C-1", "issue_date": "2026-09-02",
    "status": "sent", "lines": [{"item_id": "TILE", "quantity": "4", "unit_price": "12.50"},
                                {"item_id": "GROUT", "quantity": "1", "unit_price": "8"}]})
"""A second invoice of C-1 (the ledger's INV-n belong to C-(1 + n % 3)): one a payment of
C-1 can be moved to."""


async def _audit(world: World) -> tuple[AuditReport, int]:
    """The audit of the world's FreshBooks connection, and the requests it cost."""
    connection = world.connections["freshbooks"]
    before = (await world.sandbox("freshbooks", "GET", "/_sandbox/state"))["requests"]
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    provider = await open_provider(
        world.store, row, platforms()["freshbooks"], world.sealer,
        adjust=lambda r, s: replace(s, transport=world.transport("freshbooks")))
    try:
        report = await run_audit(world.store, connection, provider, "FreshBooks")
    finally:
        await provider.aclose()
    after = (await world.sandbox("freshbooks", "GET", "/_sandbox/state"))["requests"]
    return report, after - before


async def _persons_client(world: World) -> httpx.AsyncClient:
    """A bookkeeper's own app on the same FreshBooks account, with its own grant."""
    tokens, _ = await connect(PLATFORM, ConnectionSettings(
        platform="freshbooks", tenant_id=ACCOUNT, client_id="bookkeepers-app",
        client_secret="theirs", base_url=BASE, transport=world.transport("freshbooks")))
    return httpx.AsyncClient(transport=world.transport("freshbooks"), base_url=BASE,
                             headers={"Authorization": f"Bearer {tokens.current}"})


async def test_a_clean_run_finds_nothing_and_a_persons_changes_are_found(
        make_world: MakeWorld) -> None:
    world = await make_world(("freshbooks",))
    await world.ledger.upsert([*ledger(), UNPAID])
    await world.sync()
    connection = world.connections["freshbooks"]
    remote = {r["record_id"]: r["remote_id"] for r in await world.store.fetch_all(
        "SELECT record_id, remote_id FROM sync_links WHERE connection_id = ?", (connection,))}

    clean, requests = await _audit(world)
    # Five invoices, two payments (PAY-2 is two FreshBooks payments), one credit note.
    assert (clean.differences, clean.compared, clean.unlisted, clean.unsupported) == (
        [], 8, 0, [])
    assert requests == 3, f"{requests} requests: one list page per entity, no read by id"

    person = await _persons_client(world)
    try:
        invoice = (await person.get(f"{API}/invoices/invoices/{remote['INV-2']}",
                                    params={"include[]": "lines"})).json()
        lines = invoice["response"]["result"]["invoice"]["lines"]
        extra = {"name": "Sealant", "qty": "1", "unit_cost": {"amount": "15.00",
                                                              "code": "USD"}}
        edited = await person.put(f"{API}/invoices/invoices/{remote['INV-2']}", json={
            "invoice": {"lines": [*[_line(line) for line in lines], extra]}})
        assert edited.status_code == 200, edited.text
    finally:
        await person.aclose()
    # PAY-1 paid INV-3 20.00; in FreshBooks' app it is applied to INV-5 instead.
    await world.sandbox("freshbooks", "POST", "/_sandbox/move-payment",
                        json={"id": int(remote["PAY-1"]), "invoiceid": int(remote["INV-5"])})

    found, _ = await _audit(world)
    assert sorted((d.record_id, d.field.value, d.ledger, d.platform)
                  for d in found.differences) == [
        ("INV-2", "balance", "58.00", "73.00"),
        ("INV-2", "lines", "2", "3"),
        ("INV-2", "total", "58.00", "73.00"),
        ("INV-3", "balance", "28.00", "48.00"),
        ("INV-5", "balance", "58.00", "38.00")]
    assert (found.differing, found.compared) == (3, 8)

    # Put back as the ledger has it: the next run clears every row it stored.
    await world.sandbox("freshbooks", "POST", "/_sandbox/move-payment",
                        json={"id": int(remote["PAY-1"]), "invoiceid": int(remote["INV-3"])})
    person = await _persons_client(world)
    try:
        restored = await person.put(f"{API}/invoices/invoices/{remote['INV-2']}", json={
            "invoice": {"lines": [_line(line) for line in lines]}})
        assert restored.status_code == 200, restored.text
    finally:
        await person.aclose()
    again, _ = await _audit(world)
    assert again.clean and again.compared == 8
    assert await world.store.fetch_value("SELECT COUNT(*) FROM drift") == 0

    await world.sandbox("freshbooks", "POST", "/_sandbox/delete",
                        json={"entity": "invoice", "id": remote["INV-2"]})
    gone, _ = await _audit(world)
    assert ("INV-2", DriftField.MISSING) in {(d.record_id, d.field) for d in gone.differences}


def _line(line: dict[str, Any]) -> dict[str, Any]:
    """A line as FreshBooks takes it back in an update."""
    return {key: line[key] for key in ("name", "description", "qty", "unit_cost", "taxName1",
                                       "taxAmount1") if line.get(key) not in (None, "")}
