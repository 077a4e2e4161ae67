"""The drift view through the app as a person drives it: `d` and the palette open it, both
values of each difference shown as text (never markup), `enter` opens the record."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, cast

from textual.pilot import Pilot

from console.app import SyncdeskApp
from console.commands import OperatorCommands
from console.screens.detail import DetailScreen
from console.screens.drift import DriftScreen
from console.widgets.table import Table
from engine import Entity, Provider, RemoteRef, RemoteState, Store, SyncService, run_audit
from engine._sync_state import link_synced
from engine._time import to_iso
from tests.console.conftest import BRACKETS, NOW, clock

MARKUP_ID = "[bold]C-9[/bold]"


class Platform:
    """The platform's side of invoice V-5: another total, and a customer id in brackets."""

    def __init__(self, customer: str = MARKUP_ID) -> None:
        self.customer = customer

    async def list_states(self, entity: Entity) -> AsyncIterator[RemoteState]:
        if entity is Entity.INVOICE:
            yield RemoteState("Q-V5", Decimal("60.00"), None, BRACKETS, self.customer, 1)

    async def fetch(self, entity: Entity, remote_id: str) -> RemoteRef | None:
        return None


async def audited(store: Store, customer: str = MARKUP_ID) -> None:
    qbo = int(await store.fetch_value("SELECT id FROM connections WHERE platform = "
                                      "'quickbooks'"))
    await store.run_write(lambda db: link_synced(db, qbo, Entity.INVOICE, "V-5",
                                                 RemoteRef("Q-V5"), to_iso(NOW)))
    await run_audit(store, qbo, cast(Provider, Platform(customer)), "QuickBooks Online",
                    clock)


async def settle(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def cells(screen: DriftScreen) -> list[list[str]]:
    table = screen.query_one(Table)
    return [[table.get_cell(key, column).plain
             for column in ("connection", "record", "field", "ledger", "platform", "found")]
            for key in (str(k.value) for k in table.rows)]


async def test_d_opens_the_differences_with_both_values_as_text(
        store: Store, app: SyncdeskApp) -> None:
    await audited(store)
    linked = await store.fetch_value("SELECT remote_id FROM sync_links WHERE entity = "
                                     "'customer' AND record_id = 'C-3'")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DriftScreen)
        assert cells(screen) == [
            ["quickbooks", "invoice INV-1005", "customer", f"C-3 ({linked})", MARKUP_ID,
             "0s ago"],
            ["quickbooks", "invoice INV-1005", "total", "62.50", "60.00", "0s ago"]]
        assert screen.summary(NOW).plain == (
            "quickbooks · Acme Builders: audited 0s ago, 1 record compared, 1 differ")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape", "d")  # back, and `d` again is the same one view
        await settle(pilot)
        assert isinstance(app.screen, DriftScreen)
        await pilot.press("d")
        await settle(pilot)
        assert len([s for s in app.screen_stack if isinstance(s, DriftScreen)]) == 1


async def test_the_palette_and_a_read_only_console_open_it_before_any_audit(
        service: SyncService) -> None:
    app = SyncdeskApp(service, read_only=True, poll_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        provider = OperatorCommands(app.screen)
        await provider.startup()
        [command] = [c for c in provider._allowed() if c.name == "Drift"]
        command.run()
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DriftScreen)
        assert cells(screen) == []
        assert screen.summary(NOW).plain.startswith("No audit has run yet")


async def test_the_view_follows_an_audit_run_while_it_is_open(
        store: Store, app: SyncdeskApp) -> None:
    """A run in another process shows without a key pressed, also one that raises no
    notification (the drift notice is still unread): each run is an event of its own."""
    await audited(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DriftScreen) and len(cells(screen)) == 2
        unread = await app.service.unread_count()
        await audited(store, customer="Q3")  # the customer put right on the platform
        await until(pilot, lambda: [row[2] for row in cells(screen)] == ["total"])
        assert await app.service.unread_count() == unread


async def until(pilot: Pilot[Any], done: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for a state the app's poll (0.05 s here) brings; `within` only bounds a
    failure, on a machine busy enough to need it."""
    deadline = time.monotonic() + within
    while not done() and time.monotonic() < deadline:
        await pilot.pause(0.01)
    assert done()


async def test_enter_on_the_drift_notification_opens_the_drift_view(
        store: Store, app: SyncdeskApp) -> None:
    await audited(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        feed = app.screen.query_one("#feed", Table)
        drift_row = next(index for index, key in enumerate(feed.rows)
                         if str(feed.get_row(key)[3]) == "drift")
        feed.move_cursor(row=drift_row)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DriftScreen)


async def test_at_80x24_each_connection_keeps_its_one_line_of_last_run(
        store: Store, app: SyncdeskApp) -> None:
    await audited(store)
    xero = int(await store.fetch_value("SELECT id FROM connections WHERE platform = 'xero'"))
    async with store.write() as db:
        await db.execute("UPDATE connections SET tenant_name = 'Acme Building Supplies and "
                         "Hire (Wellington) Ltd' WHERE id = ?", (xero,))
    await run_audit(store, xero, cast(Provider, Platform()), "Xero", clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        audits = app.screen.query_one("#audits")
        lines = [strip.text.strip() for strip in audits.render_lines(audits.region.reset_offset)]
        assert [line.split(" ")[0] for line in lines if line] == ["quickbooks", "xero"]
