"""The record view and the problems queue are composed once and shown again with new data:
nothing of the listing shown before may be left on them."""

from __future__ import annotations

from console.app import SyncdeskApp
from console.screens.records import RecordScreen
from console.widgets.filter_bar import FilterBar
from console.widgets.job_table import JobTable
from console.widgets.table import Table
from engine import Sort, Store

from .test_flows import SIZE, open_failed_invoices, settle
from .test_problems import add_duplicates, open_problems


async def test_a_record_view_opened_again_shows_only_the_new_listing(app: SyncdeskApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        failed = await open_failed_invoices(pilot)
        await pilot.press("space", "s", "slash", *"INV", "enter")
        await settle(pilot)
        assert failed.marked and failed.sort is not Sort.RECENT and failed.query_text
        await pilot.press("escape", "escape")  # the query, then the screen
        await settle(pilot)
        assert not isinstance(app.screen, RecordScreen)
        await pilot.press("left", "enter")  # the pending invoices, beside the failed ones
        await settle(pilot)
        pending = app.screen
        assert pending is failed  # the same screen, not composed again
        assert isinstance(pending, RecordScreen)
        assert pending.where.statuses == ("pending", "in_flight")
        assert pending.sort is Sort.RECENT and not pending.marked and not pending.query_text
        assert not pending.query_one(FilterBar).display
        table = pending.query_one(JobTable)
        assert table.held and all(job.status in ("pending", "in_flight") for job in table.held)
        assert table.cursor_row == 0 and pending.counted
        assert f"row 1 of {table.total}" in str(pending.query_one("#window").render())


async def test_the_problems_queue_opened_again_has_no_marks_or_query(app: SyncdeskApp,
                                                                     store: Store) -> None:
    await add_duplicates(store)
    async with app.run_test(size=SIZE) as pilot:
        queue = await open_problems(pilot)
        await pilot.press("space")
        await settle(pilot)
        assert queue.marked
        await pilot.press("escape")
        await settle(pilot)
        again = await open_problems(pilot)
        assert again is queue and not again.marked and not again.query_text and again.fresh


async def test_a_group_opened_under_the_record_view_gets_a_screen_of_its_own(
        app: SyncdeskApp, store: Store) -> None:
    await add_duplicates(store)
    async with app.run_test(size=SIZE) as pilot:
        failed = await open_failed_invoices(pilot)
        total = failed.query_one(JobTable).total
        await open_problems(pilot)
        await pilot.press("enter")
        await settle(pilot)
        group = app.screen
        assert isinstance(group, RecordScreen) and group is not failed
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert app.screen is failed
        assert failed.query_one(JobTable).total == total


async def test_a_kept_table_draws_its_rows_anew_when_the_focus_or_theme_changed(
        app: SyncdeskApp, store: Store) -> None:
    """Shown again, a table keeps the rows it drew, unless what they are drawn with changed:
    its focus, or the theme while the screen was hidden."""
    await add_duplicates(store)
    async with app.run_test(size=SIZE) as pilot:
        queue = await open_problems(pilot)
        table = queue.query_one(Table)
        focused = list(table.render_line(1))  # the cursor's row, under the header
        await pilot.press("slash")  # the query line takes the focus
        await settle(pilot)
        assert not table.has_focus and list(table.render_line(1)) != focused
        await pilot.press("escape", "escape")  # the empty query line, then the queue
        await settle(pilot)
        again = await open_problems(pilot)
        assert again is queue and table.has_focus and list(table.render_line(1)) == focused
        await pilot.press("escape")
        await settle(pilot)
        app.theme = "textual-light"
        await settle(pilot)
        await open_problems(pilot)
        assert list(table.render_line(1)) != focused


async def test_a_kept_screen_shown_again_under_the_same_theme_keeps_its_styles(
        app: SyncdeskApp) -> None:
    """Textual applies every style again on a resume; a kept screen skips that unless the
    theme or the stylesheet changed while it was away."""
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_failed_invoices(pilot)
        restyled: list[object] = []
        original = screen.update_node_styles

        def counted(animate: bool = True) -> None:
            restyled.append(app.theme)
            original(animate)

        screen.update_node_styles = counted  # type: ignore[method-assign]
        for theme in (app.theme, app.theme, "dracula"):  # dark too: the same pseudo-classes
            await pilot.press("escape")
            await settle(pilot)
            app.theme = theme
            await settle(pilot)
            assert await open_failed_invoices(pilot) is screen
        assert restyled == ["dracula"]
