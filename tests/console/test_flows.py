"""Pilot tests: every console flow, driven by keys, waiting on state (never on time)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Button
from textual.worker import WorkerCancelled

from console.app import SyncdeskApp
from console.commands import OperatorCommands
from console.screens.connections import ConnectionsScreen
from console.screens.dashboard import DashboardScreen
from console.screens.detail import DetailScreen
from console.screens.modals import ConfirmScreen, HelpScreen, PromptScreen
from console.screens.notifications import NotificationsScreen
from console.screens.records import SCREENS, RecordScreen
from console.widgets.connection_panel import ConnectionPanel
from console.widgets.job_table import JobTable
from console.widgets.table import Table
from engine import JobFilter, Store, SyncService

from .conftest import BRACKETS, ago

SIZE = (120, 40)


async def settle(pilot: Pilot[None]) -> None:
    """Let messages, then workers, then the resulting refreshes run out. A worker replaced
    by a newer one of its exclusive group (a window read, a refilter) while this waits is
    cancelled, which `wait_for_complete` raises: the newer one is waited for next round."""
    for _ in range(3):
        await pilot.pause()
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot: Pilot[None], done: Callable[[], bool], within: float = 2.0) -> None:
    """Wait for a state the poll timer brings (0.05 s here; 1 s leaves room on busy CI)."""
    deadline = time.monotonic() + within
    while not done() and time.monotonic() < deadline:
        await pilot.pause(0.01)
    assert done()


def cell(app: SyncdeskApp, position: int, entity: str, column: str) -> str:
    panel = list(app.screen.query(ConnectionPanel))[position - 1]
    return panel.table.get_cell(entity, column).plain


def messages(app: SyncdeskApp) -> list[str]:
    return [n.message for n in app._notifications]


async def open_failed_invoices(pilot: Pilot[None]) -> RecordScreen:
    await settle(pilot)
    await pilot.press("right", "right", "right", "down", "down", "enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RecordScreen)
    return screen


async def job_status(service: SyncService, record_id: str) -> str:
    page = await service.page(JobFilter(connection_id=1, text=record_id))
    return page.rows[0].status


# -- dashboard --------------------------------------------------------------------------


async def test_dashboard_panel_per_connection(app: SyncdeskApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panels = list(app.screen.query(ConnectionPanel))
        assert [p.border_title for p in panels] == ["1 · quickbooks · Acme Builders",
                                                     "2 · xero · Acme Ltd (NZ)"]
        qbo = str(panels[0].query_one(".health").render())
        assert "connected" in qbo and "412/min 9,800/day" in qbo and "token 87d left" in qbo
        assert "last sync 3m ago" in qbo and "behind 30m" in qbo
        xero = str(panels[1].query_one(".health").render())
        assert "paused" in xero and "rate-limited, parked in 4m" in xero
        assert cell(app, 1, "invoice", "failed") == "2"
        assert cell(app, 1, "payment", "blocked") == "1"
        assert cell(app, 1, "invoice", "skipped") == "1"
        assert "1 unread" in app.sub_title


async def test_dashboard_follows_another_process_in_place(app: SyncdeskApp,
                                                          store: Store) -> None:
    other = await Store.open(store.path)  # another process's connection to the same file
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            panel = app.screen.query_one(ConnectionPanel)
            table = panel.table
            async with other.write() as db:
                await db.execute("UPDATE sync_jobs SET status = 'failed', updated_at = ? "
                                 "WHERE connection_id = 1 AND record_id = 'V-1'",
                                 (ago(minutes=1),))
            await until(pilot, lambda: cell(app, 1, "invoice", "failed") == "3")
            assert cell(app, 1, "invoice", "pending") == "1"
            # updated in place: the same widgets, not a remount
            assert app.screen.query_one(ConnectionPanel) is panel and panel.table is table
    finally:
        await other.close()


async def test_pause_live_updates(app: SyncdeskApp, store: Store) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        assert "PAUSED" in app.sub_title
        revision = app.revision
        async with store.write() as db:
            await db.execute("UPDATE sync_jobs SET status = 'failed' WHERE record_id = 'V-1'")
        app.poll()  # what the timer does: nothing while paused
        await settle(pilot)
        assert app.revision == revision and cell(app, 1, "invoice", "failed") == "2"
        await pilot.press("p")
        await until(pilot, lambda: cell(app, 1, "invoice", "failed") == "3")


async def test_number_keys_jump_between_platforms(app: SyncdeskApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        panels = list(app.screen.query(ConnectionPanel))
        assert app.focused is panels[1].table
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RecordScreen)
        await pilot.press("1")
        assert isinstance(app.screen, DashboardScreen) and app.focused is panels[0].table


# -- record view ------------------------------------------------------------------------


async def test_record_view_filter_search_sort(app: SyncdeskApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_failed_invoices(pilot)
        table = screen.query_one(JobTable)
        assert screen.where.statuses == ("failed",) and len(table.rows) == 2
        assert BRACKETS in table.get_row_at(0)[-1].plain  # text, not markup
        await pilot.press("f")  # failed -> pending
        await settle(pilot)
        assert screen.where.statuses == ("pending", "in_flight") and len(table.rows) == 2
        await pilot.press("f", "f", "f", "f", "f", "f")  # ... back to any status
        await settle(pilot)
        assert screen.where.statuses == () and len(table.rows) == 5
        await pilot.press("slash", *"1004", "enter")
        await settle(pilot)
        assert screen.where.text == "1004" and len(table.rows) == 1
        await pilot.press("slash", "escape")
        await settle(pilot)
        assert screen.where.text is None and len(table.rows) == 5
        assert isinstance(app.screen, RecordScreen)  # esc in the search did not go back
        await pilot.press("e")
        await settle(pilot)
        assert screen.where.error_class == "transient" and len(table.rows) == 0
        await pilot.press("s")
        await settle(pilot)
        assert screen.sort.value == "label"
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_record_view_holds_a_window_and_G_is_the_true_end(
        app: SyncdeskApp, store: Store) -> None:
    bulk = 1217
    async with store.write() as db:
        await db.executemany(
            "INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, "
            "status, record_version, label, created_at, updated_at) VALUES "
            "(1, 'customer', ?, 0, 'create', 'failed', 1, ?, ?, ?)",
            [(f"X-{n:05}", f"Bulk {n:05}", ago(hours=1), ago(seconds=n))
             for n in range(bulk)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # customers, every status
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RecordScreen)
        table = screen.query_one(JobTable)

        def held() -> set[str]:
            assert len(table.held) <= SCREENS * table.page
            return {job.label for job in table.held}

        def position() -> str:
            return str(screen.query_one("#window").render())

        assert table.total == bulk + 3 and "row 1 of 1,220" in position()
        assert "Bulk 00000" in held() and "Bulk 01216" not in held()
        await pilot.press("G")  # once: the end of the listing, not of a loaded page
        await settle(pilot)
        assert table.cursor_row == bulk + 2 and "row 1,220 of 1,220" in position()
        assert table.cursor_job is not None and table.cursor_job.label == "Bulk 01216"
        assert "Bulk 00000" not in held()
        await pilot.press("g")
        await settle(pilot)
        assert table.cursor_row == 0 and table.cursor_job is not None
        assert table.cursor_job.label == "Bulk 00000"
        await pilot.press("colon", *"600", "enter")
        await settle(pilot)
        assert table.cursor_row == 599 and table.cursor_job is not None
        assert table.cursor_job.label == "Bulk 00599" and "row 600 of 1,220" in position()
        assert "Bulk 00000" not in held()
        jumped = table.start
        steps = 2 * table.page  # past the window's end: read on from its last row
        await pilot.press(*["j"] * steps)
        await settle(pilot)
        assert table.cursor_job is not None and table.cursor_job.label == f"Bulk {599 + steps:05}"
        assert table.start > jumped and held()  # the rows left behind were dropped
        await pilot.press("colon", "6", "4")  # typed into the table, shown as it is typed
        assert "go to row :64" in position()
        await pilot.press("backspace", "escape")  # esc leaves the row number, not the screen
        await settle(pilot)
        assert isinstance(app.screen, RecordScreen) and table.cursor_row == 599 + steps
        assert table.typed is None and "go to row" not in position()
        await pilot.press("colon", "1", "x", "enter")  # x ends it: enter opens the row
        await settle(pilot)
        assert "Not a row number: 1x" in messages(app) and table.cursor_row == 599 + steps
        assert isinstance(app.screen, DetailScreen)


async def test_marks_retry_and_filter_change_clears_hidden_marks(
        app: SyncdeskApp, service: SyncService) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_failed_invoices(pilot)
        assert screen.query_one(JobTable).held[0].label == "INV-1003"
        await pilot.press("space")
        assert len(screen.marked) == 1
        await pilot.press("slash", *"INV-1002", "enter")
        await settle(pilot)
        assert not screen.marked
        assert "1 marked record hidden by the filter: its mark cleared." in messages(app)
        await pilot.press("slash", "escape")
        await settle(pilot)
        await pilot.press("U", "g", "space", "space")
        assert len(screen.marked) == 2
        await pilot.press("f")  # failed -> pending hides both marked (failed) rows
        await settle(pilot)
        assert not screen.marked
        assert "2 marked records hidden by the filter: their marks cleared." in messages(app)
        await pilot.press("f", "f", "f", "f", "f", "f", "f")  # back to failed
        await settle(pilot)
        await pilot.press("space", "space", "r")
        await settle(pilot)
        assert "2 of 2 records re-queued" in messages(app)
        assert await job_status(service, "INV-1002") == "pending"
        assert not screen.marked


async def test_mark_all_by_query_then_filter_change_says_so(app: SyncdeskApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_failed_invoices(pilot)
        await pilot.press("A")
        await settle(pilot)
        assert screen.marked_query == screen.where and screen.marked_count == 2
        await pilot.press("e")
        await settle(pilot)
        assert screen.marked_query is None
        assert "Cleared the mark on all 2 records of the previous filter." in messages(app)


async def test_retry_cursor_row(app: SyncdeskApp, service: SyncService) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await open_failed_invoices(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert "1 of 1 record re-queued" in messages(app)
        page = await service.page(JobFilter(connection_id=1, statuses=("failed",)))
        assert len(page.rows) == 1


async def test_retry_matching_confirms_count_and_scope_cancel_first(
        app: SyncdeskApp, service: SyncService) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await open_failed_invoices(pilot)
        await pilot.press("R")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert confirm.question == "Retry 2 records?"
        assert confirm.scope == "quickbooks · Acme Builders: invoices, status failed"
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RecordScreen)
        assert await service.count(JobFilter(statuses=("failed",))) == 2
        await pilot.press("R")
        await settle(pilot)
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert await service.count(JobFilter(statuses=("failed",))) == 0
        assert "2 records re-queued (quickbooks · Acme Builders: invoices, status failed)" \
            in messages(app)


async def test_bulk_retry_of_100k_runs_in_a_worker_with_progress(
        app: SyncdeskApp, service: SyncService, store: Store) -> None:
    async with store.write() as db:
        await db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
            "INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, "
            "status, record_version, label, error_class, created_at, updated_at) "
            "SELECT 2, 'customer', 'B-' || i, 0, 'create', 'failed', 1, 'Bulk ' || i, "
            "'transient', '2025-03-14T10:00:00.000000Z', '2025-03-14T10:00:00.000000Z' FROM n")
    seen: list[tuple[str, bool]] = []
    retry_matching = service.retry_matching

    async def spy(where: JobFilter, *, dry_run: bool = False) -> int:
        if not dry_run:
            activity = app.screen.query_one("Activity")
            seen.append((app.busy, activity.display))
        return await retry_matching(where, dry_run=dry_run)

    service.retry_matching = spy  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "enter", "R")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Retry 100,000 records?"
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert seen == [("Retrying 100,000 records…", True)]
        assert "100,000 records re-queued (xero · Acme Ltd (NZ): customers)" in messages(app)
        assert not app.screen.query_one("Activity").display


# -- failure detail ---------------------------------------------------------------------


async def test_failure_detail_verbatim_history_and_copy(app: SyncdeskApp,
                                                        service: SyncService) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_failed_invoices(pilot)
        await pilot.press("j", "enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, DetailScreen) and detail.detail is not None
        assert detail.detail.job.label == "INV-1002"
        facts = str(detail.query_one("#facts").render())
        for expected in (BRACKETS, "6000   HTTP 400", "validation", "Fix the record",
                         "2025-03-14 11:55:00  (5m ago)", "(in 10m)", "— not linked"):
            assert expected in facts
        attempts = detail.query_one("#attempts", Table)
        assert attempts.row_count == 3
        await pilot.press("c")
        assert app.clipboard == ("invoice INV-1002 (V-2) on quickbooks: failed "
                                 f"[validation/6000] {BRACKETS}")
        await pilot.press("y")
        await settle(pilot)
        assert "INV-1002: resync queued (1 job)" in messages(app)
        await pilot.press("l")
        await settle(pilot)
        assert "INV-1002: link forgotten, re-link queued" in messages(app)
        await pilot.press("escape")
        assert app.screen is screen


# -- notifications ----------------------------------------------------------------------


async def test_feed_opens_the_record_and_marks_it_read(app: SyncdeskApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "1 unread" in app.sub_title
        await pilot.press("n")
        await settle(pilot)
        feed = app.screen
        assert isinstance(feed, NotificationsScreen)
        assert feed.query_one("#feed", Table).get_row_at(0)[-1].plain == BRACKETS
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, DetailScreen) and detail.detail is not None
        assert (detail.detail.job.platform, detail.detail.job.record_id) == ("quickbooks", "V-2")
        assert "0 unread" in app.sub_title


async def test_new_notification_raises_a_toast_without_markup(service: SyncService,
                                                              store: Store) -> None:
    app = SyncdeskApp(service, poll_interval=0.05)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        assert not app._notifications  # what was unread at start is in the count, not toasts
        async with store.write() as db:
            await db.execute(
                "INSERT INTO notifications (connection_id, entity, record_id, kind, title, "
                "message, created_at) VALUES (2, 'invoice', 'V-5', 'failed', 'INV-1005 "
                "[failed]', '[/Line/0] bad [red]', ?)", (ago(minutes=0),))
        # One line: the title, then the platform's text, both verbatim.
        await until(pilot, lambda: "xero: INV-1005 [failed]: [/Line/0] bad [red]"
                    in messages(app))
        await until(pilot, lambda: "2 unread" in app.sub_title)


# -- keys -------------------------------------------------------------------------------


async def test_help_lists_every_binding_of_the_screen(app: SyncdeskApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await open_failed_invoices(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        described = dict((does, key) for key, does in help_screen.keys)
        for does in ("Retry", "Retry all", "Mark", "Mark all", "Unmark", "Filter", "Copy",
                     "Down", "Top", "Bottom", "Notifications", "Back", "Quit"):
            assert does in described
        assert described["Retry all"] == "R"
        # The screen's own actions first, each explained; moving around last.
        sections = [line.section for line in help_screen.lines]
        assert sections[0] == "This screen"
        assert sections.index("Moving around") > sections.index("Everywhere") > 0
        assert [line.description for line in help_screen.lines[:3]] == [
            "Retry", "Retry all", "Mark"]
        assert all(line.explain for line in help_screen.lines)
        for close in ("escape", "q", "question_mark"):
            await pilot.press(close)
            assert isinstance(app.screen, RecordScreen)
            if close != "question_mark":
                await pilot.press("question_mark")
                assert isinstance(app.screen, HelpScreen)


async def test_keymap_from_config_rebinds_by_id(service: SyncService) -> None:
    app = SyncdeskApp(service, keymap={"notifications": "N"}, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("N")
        assert isinstance(app.screen, NotificationsScreen)


async def test_read_only_hides_and_refuses_every_write(service: SyncService) -> None:
    app = SyncdeskApp(service, read_only=True, poll_interval=0.05)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_failed_invoices(pilot)
        assert app.sub_title.startswith("READ-ONLY")
        shown = {b.binding.id for b in screen.active_bindings.values()}
        assert not shown & {"retry", "retry_matching", "mark", "mark_all"}
        await pilot.press("space", "r", "R")
        await settle(pilot)
        assert not screen.marked and isinstance(app.screen, RecordScreen)
        # Each refused key is answered, never silence.
        assert [m for m in messages(app) if m.startswith("read-only:")] == [
            "read-only: mark refused (console opened with --read-only)",
            "read-only: retry refused (console opened with --read-only)",
            "read-only: retry all refused (console opened with --read-only)"]
        assert await service.count(JobFilter(statuses=("failed",))) == 2
        provider = OperatorCommands(app.screen)
        await provider.startup()
        names = [command.name for command in provider._allowed()]
        assert names == ["Connections", "Problems", "Notifications", "Businesses",
                         "Webhook deliveries", "Drift"]


async def test_palette_offers_operator_commands(app: SyncdeskApp, service: SyncService) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_failed_invoices(pilot)
        provider = OperatorCommands(screen)
        await provider.startup()
        commands = {command.name: command for command in provider._allowed()}
        assert {"Resync INV-1003", "Re-link INV-1003",
                "Retry all failed on quickbooks · Acme Builders", "Pause quickbooks · Acme "
                "Builders", "Resume xero · Acme Ltd (NZ)", "Purge xero · Acme Ltd (NZ)",
                "Connect wave"} <= set(commands)
        commands["Retry all failed on quickbooks · Acme Builders"].run()
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Retry 2 records?"
        await pilot.press("escape")
        commands["Connect wave"].run()
        await settle(pilot)
        assert "Connect with `syncdesk connect wave`." in messages(app)


# -- connections ------------------------------------------------------------------------


async def test_connections_pause_disconnect_purge(service: SyncService) -> None:
    asked: list[str] = []

    async def connect(platform: str) -> str:
        asked.append(platform)
        return f"{platform} connected"

    app = SyncdeskApp(service, connect=connect, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, ConnectionsScreen)
        await pilot.press("t")
        await settle(pilot)
        assert [c.state for c in await service.connections()] == ["paused", "paused"]
        await pilot.press("X")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert "deletes 5 links and 11 sync jobs" in confirm.scope
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert "quickbooks · Acme Builders purged: 11 jobs deleted" in messages(app)
        await pilot.press("j", "D")
        await settle(pilot)
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert [c.state for c in await service.connections()] == ["disconnected"] * 2
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"wave", "enter")
        await settle(pilot)
        assert asked == ["wave"] and "wave connected" in messages(app)

