"""The business switcher and fleet overview through the app as a person drives it: the
palette opens it, businesses come most trouble first, `enter` scopes every screen."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from console.app import SyncdeskApp
from console.commands import OperatorCommands
from console.screens.businesses import BusinessesScreen
from console.screens.dashboard import DashboardScreen
from console.widgets.table import Table
from engine import Businesses, JobFilter, Store


async def settle(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def names(screen: BusinessesScreen) -> list[str]:
    table = screen.query_one(Table)
    return [table.get_cell(str(k.value), "name").plain for k in table.rows]


async def test_the_fleet_sorts_by_trouble_and_enter_scopes_every_screen(
        store: Store, app: SyncdeskApp) -> None:
    await Businesses(store).add("Quiet Co", actor="test")
    xero = await Businesses(store).add("Harbour Plumbing", actor="test")
    # Xero's connection (nothing failed, records waiting) is Harbour Plumbing's now.
    await store.run_write(lambda db: db.execute(
        "UPDATE connections SET business_id = ? WHERE platform = 'xero'", (xero.id,)))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        provider = OperatorCommands(app.screen)
        await provider.startup()
        [command] = [c for c in provider._allowed() if c.name == "Businesses"]
        command.run()
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BusinessesScreen)
        assert names(screen) == ["All businesses", "default", "Harbour Plumbing", "Quiet Co"]
        failed = {b.name: b.failed for b in screen.fleet}
        assert failed["default"] > 0 and failed["Harbour Plumbing"] == 0
        assert failed["Quiet Co"] == 0
        everything = await app.service.count(JobFilter())
        await pilot.press("down", "down", "enter")  # Harbour Plumbing
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert app.service.business == xero.id and "Harbour Plumbing" in str(app.sub_title)
        assert [c.platform for c in await app.service.connections()] == ["xero"]
        assert 0 < await app.service.count(JobFilter()) < everything
        command.run()
        await settle(pilot)
        await pilot.press("enter")  # the first row: every business again
        await settle(pilot)
        assert app.service.business is None and await app.service.count(
            JobFilter()) == everything


async def test_console_business_opens_the_console_scoped(store: Store) -> None:
    from console._commands import _console_app

    harbour = await Businesses(store).add("Harbour Plumbing", actor="test")
    app = _console_app(store, read_only=True, business=harbour)
    assert app.service.business == harbour.id and app.business_name == "Harbour Plumbing"
    assert await app.service.connections() == []
    assert _console_app(store, read_only=True).service.business is None
