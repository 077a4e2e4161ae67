"""The mapping screen: every kind with its value, a picker filled from the platform's own list
(QuickBooks' in-process sandbox), corrections as well as first mappings, read-only refusals."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from console._wiring import connect_sandbox, platforms, sandbox_app
from console.app import SyncdeskApp
from console.screens.accounts import MappingScreen
from console.screens.modals import PickerScreen
from engine import (
    Customer,
    Invoice,
    InvoiceStatus,
    Item,
    Ledger,
    Line,
    MappingKind,
    Provider,
    Sealer,
    Store,
    SyncService,
    live_connections,
    open_provider,
)

from .test_flows import SIZE, messages, settle


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Store, Sealer, Any]]:
    store = await Store.open(tmp_path / "m.db")
    sealer = Sealer(Fernet.generate_key())
    app = sandbox_app("quickbooks", limits_enabled=False)
    await Ledger(store).upsert([
        Customer(id="C-1", display_name="Ana"),
        Item(id="I-1", sku="TILE", name="Floor tile"), Item(id="I-2", sku="GROUT", name="Grout"),
        Invoice(id="V-1", number="INV-1", customer_id="C-1", issue_date=date(2026, 3, 1),
                status=InvoiceStatus.SENT, lines=[Line(item_id="I-2", unit_price=Decimal(5))]),
    ])
    await connect_sandbox(store, platforms()["quickbooks"], "http://quickbooks.sandbox", sealer,
                          transport=httpx.ASGITransport(app=app))
    async with store.write() as db:
        await db.execute(
            "UPDATE sync_jobs SET status = 'skipped', error_class = 'unmapped', "
            "error_code = 'unmapped:income_account:I-2', "
            "error_message = 'item ''Grout'' has no income account' WHERE record_id = 'V-1'")
    yield store, sealer, app
    await store.close()


def console(world: tuple[Store, Sealer, Any], *, read_only: bool = False) -> SyncdeskApp:
    store, sealer, sandbox = world

    @contextlib.asynccontextmanager
    async def provider(connection_id: int) -> AsyncIterator[Provider]:
        row = next(c for c in await live_connections(store) if c.id == connection_id)
        opened = await open_provider(
            store, row, platforms()[row.platform], sealer,
            adjust=lambda r, s: replace(s, transport=httpx.ASGITransport(app=sandbox)))
        try:
            yield opened
        finally:
            await opened.aclose()

    service = SyncService(store, actor="test", providers=provider, read_only=read_only)
    return SyncdeskApp(service, poll_interval=0.05, read_only=read_only)


async def open_mappings(pilot: Pilot[None]) -> MappingScreen:
    await settle(pilot)
    await pilot.press("o")
    await settle(pilot)
    await pilot.press("m")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MappingScreen)
    return screen


def row_of(screen: MappingScreen, kind: MappingKind, key: str = "") -> int:
    return list(screen.entries).index(f"{kind.value}\x1f{key}")


async def pick(pilot: Pilot[None], screen: MappingScreen, kind: MappingKind, key: str = ""
               ) -> PickerScreen:
    await pilot.press("g", *["down"] * row_of(screen, kind, key), "enter")
    await settle(pilot)
    picker = pilot.app.screen
    assert isinstance(picker, PickerScreen)
    return picker


async def test_every_kind_is_listed_and_a_pick_re_queues_what_it_held_back(world: Any) -> None:
    app = console(world)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_mappings(pilot)
        kinds = {entry.kind for entry in screen.entries.values()}
        assert {MappingKind.DEFAULT_INCOME_ACCOUNT, MappingKind.DEPOSIT_ACCOUNT,
                MappingKind.NO_TAX_CODE, MappingKind.INCOME_ACCOUNT} <= kinds
        grout = screen.entries["income_account\x1fI-2"]
        assert (grout.value, grout.waiting, grout.key_name) == (None, 1, "Grout")

        picker = await pick(pilot, screen, MappingKind.INCOME_ACCOUNT, "I-2")
        assert {c.value for c in picker.choices} >= {"79", "4"}
        # Typing filters the platform's list; it is never taken as a value itself.
        await pilot.press(*"4000")
        await settle(pilot)
        assert picker.shown == []
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is picker
        await pilot.press(*["backspace"] * 4, *"product income")
        await settle(pilot)
        assert [c.value for c in picker.shown] == ["79"]
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert "income account of item I-2 → 79; 1 record re-queued" in messages(app)
        assert screen.entries["income_account\x1fI-2"].value == "79"
        status = await app.service.store.fetch_value(
            "SELECT status FROM sync_jobs WHERE record_id = 'V-1'")
        assert status == "pending"


async def test_an_existing_mapping_can_be_corrected(world: Any) -> None:
    app = console(world)
    store = world[0]
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_mappings(pilot)
        picker = await pick(pilot, screen, MappingKind.DEPOSIT_ACCOUNT)
        await pilot.press(*"undeposited", "enter")
        await settle(pilot)
        assert screen.entries["deposit_account\x1f"].value == "4"

        picker = await pick(pilot, screen, MappingKind.DEPOSIT_ACCOUNT)
        options = picker.query_one(OptionList)
        assert picker.shown[options.highlighted or 0].value == "4"  # the current value
        assert isinstance(app.focused, Input)
        await pilot.press("down", "enter")
        await settle(pilot)
        corrected = screen.entries["deposit_account\x1f"].value
        assert corrected not in (None, "4")
        await pilot.press("g")  # the screen is still usable after the picker closes
        audit = await store.fetch_all("SELECT command FROM audit WHERE command = 'map_set'")
        assert len(audit) == 2

        # esc leaves the picker without changing anything.
        await pick(pilot, screen, MappingKind.DEPOSIT_ACCOUNT)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and screen.entries["deposit_account\x1f"].value == corrected

        # A mapped slot's list ends with removing it; an unmapped one's does not.
        picker = await pick(pilot, screen, MappingKind.DEPOSIT_ACCOUNT)
        await pilot.press(*"remove this")
        await settle(pilot)
        assert [c.value for c in picker.shown] == [""]
        await pilot.press("enter")
        await settle(pilot)
        assert screen.entries["deposit_account\x1f"].value is None
        assert f"deposit account: {corrected} removed, unmapped" in messages(app)
        picker = await pick(pilot, screen, MappingKind.DEPOSIT_ACCOUNT)
        assert "" not in {c.value for c in picker.choices}


async def test_read_only_refuses_in_words(world: Any) -> None:
    app = console(world, read_only=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_mappings(pilot)
        await pilot.press("g", *["down"] * row_of(screen, MappingKind.DEPOSIT_ACCOUNT), "enter")
        await settle(pilot)
        assert app.screen is screen
        assert any(m.startswith("read-only: mapping the deposit account refused")
                   for m in messages(app))
