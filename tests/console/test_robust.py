"""The console stays up and tells the truth: external text as text, the engine's heartbeat,
relative times that move with the clock, failures shown instead of exits, read-only feeds."""

from __future__ import annotations

import ast
import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.color import ColorSystem
from rich.style import Style
from textual.command import CommandPalette
from textual.coordinate import Coordinate
from textual.widgets import Header, OptionList

from console.app import SyncdeskApp
from console.format import STATUS_GLYPH, STATUS_STYLE
from console.screens.dashboard import DashboardScreen
from console.screens.detail import DetailScreen
from console.screens.notifications import NotificationsScreen
from console.widgets.connection_panel import ConnectionPanel
from console.widgets.job_table import JobTable
from console.widgets.table import Table
from engine import JOB_STATUSES, NotificationRow, Store, SyncService

from .conftest import BRACKETS, NOW, ago
from .test_flows import SIZE, messages, open_failed_invoices, settle, until

CONSOLE = Path(__file__).resolve().parents[2] / "console"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def test_a_tenant_named_like_markup_renders_verbatim(store: Store,
                                                           service: SyncService) -> None:
    async with store.write() as db:
        await db.execute("UPDATE connections SET tenant_name = 'Builders [/Line/0] Inc' "
                         "WHERE id = 1")
        await db.execute("UPDATE connections SET tenant_name = 'Smith & Sons [NZ] Ltd' "
                         "WHERE id = 2")
    app = SyncdeskApp(service, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panels = list(app.screen.query(ConnectionPanel))
        titles = [panel._border_title.plain for panel in panels if panel._border_title]
        assert titles == ["1 · quickbooks · Builders [/Line/0] Inc",
                          "2 · xero · Smith & Sons [NZ] Ltd"]
        screen = await open_failed_invoices(pilot)
        assert "Builders [/Line/0] Inc" in str(screen.query_one(Header).format_title())


async def test_header_flags_first_and_the_engine_heartbeat(store: Store) -> None:
    clock = Clock()
    service = SyncService(store, actor="test", clock=clock, read_only=True)
    app = SyncdeskApp(service, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.sub_title == "READ-ONLY · engine not running · 1 unread"
        await pilot.press("p")
        assert app.sub_title.startswith("READ-ONLY · PAUSED · ")
        await pilot.press("p")
        async with store.write() as db:
            await db.execute("INSERT INTO engine_lease (id, owner, pid, heartbeat_at) "
                             "VALUES (1, 'host:1', 1, ?)", (NOW.isoformat(),))
        await until(pilot, lambda: "engine running" in app.sub_title)
        # No beat for three minutes: the 1 s tick alone must say so, no store change needed.
        clock.now = NOW + timedelta(minutes=3)
        await until(pilot, lambda: "engine stopped 3m ago" in app.sub_title)
        # A clean stop says so at once, with its time.
        async with store.write() as db:
            await db.execute("UPDATE engine_lease SET pid = 0, heartbeat_at = ?",
                             ((NOW + timedelta(minutes=2)).isoformat(),))
        await until(pilot, lambda: "engine stopped 1m ago" in app.sub_title)


async def test_relative_times_follow_the_clock_without_store_changes(store: Store) -> None:
    clock = Clock()
    app = SyncdeskApp(SyncService(store, actor="test", clock=clock), poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        health = app.screen.query(ConnectionPanel).first().query_one(".health")
        assert "last sync 3m ago" in str(health.render())
        xero = list(app.screen.query(ConnectionPanel))[1].query_one(".health")
        assert "parked in 4m" in str(xero.render())
        clock.now = NOW + timedelta(minutes=7)
        await until(pilot, lambda: "last sync 10m ago" in str(health.render()))
        assert "parked" not in str(xero.render())
        screen = await open_failed_invoices(pilot)
        table = screen.query_one(JobTable)
        assert table.get_cell_at(Coordinate(0, 7)).plain == "12m ago"
        clock.now = NOW + timedelta(minutes=20)
        await until(pilot, lambda: table.get_cell_at(Coordinate(0, 7)).plain == "25m ago")


async def test_a_failed_reload_is_shown_and_the_console_stays(service: SyncService) -> None:
    app = SyncdeskApp(service, poll_interval=0.05)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)

        async def broken() -> None:
            raise RuntimeError("disk [on fire]")

        service.connections = broken  # type: ignore[method-assign]
        app.poll(force=True)
        await until(pilot, lambda: "Failed: RuntimeError: disk [on fire]" in messages(app))
        assert app.is_running and isinstance(app.screen, DashboardScreen)


async def test_a_reload_resuming_after_its_screen_is_gone_touches_nothing(
        app: SyncdeskApp, service: SyncService) -> None:
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        feed = app.screen
        assert isinstance(feed, NotificationsScreen)
        gate, reading = asyncio.Event(), asyncio.Event()
        read = service.notifications

        async def held(**options: Any) -> list[NotificationRow]:
            reading.set()
            await gate.wait()
            return await read(**options)

        service.notifications = held  # type: ignore[method-assign]
        feed.reload()
        await reading.wait()  # the read is in flight …
        await pilot.press("escape")  # … when its screen goes
        await settle(pilot)
        gate.set()
        await settle(pilot)
        assert not [m for m in messages(app) if m.startswith("Failed")]
        assert isinstance(app.screen, DashboardScreen)


def test_every_console_worker_fails_into_the_one_handler() -> None:
    """`exit_on_error` defaults to True: one forgotten flag and a failed read exits the app."""
    missing = []
    for path in CONSOLE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(
                    node.func, "attr", None)) in ("work", "run_worker"):
                flags = {k.arg: k.value for k in node.keywords}
                flag = flags.get("exit_on_error")
                if not (isinstance(flag, ast.Constant) and flag.value is False):
                    missing.append(f"{path.name}:{node.lineno}")
    assert not missing


async def test_a_read_only_feed_opens_the_record_and_leaves_it_unread(
        store: Store) -> None:
    service = SyncService(store, actor="test", read_only=True)
    app = SyncdeskApp(service, poll_interval=0.05)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape", "m")
        await settle(pilot)
        assert "read-only: all read refused (console opened with --read-only)" in messages(app)
        assert await service.unread_count() == 1


def test_every_status_keeps_its_own_colour_in_256_colours_and_its_own_glyph() -> None:
    assert set(STATUS_STYLE) == set(STATUS_GLYPH) == set(JOB_STATUSES)
    colours = [Style.parse(style).color for style in STATUS_STYLE.values()]
    eight_bit = {c.downgrade(ColorSystem.EIGHT_BIT).number for c in colours if c is not None}
    assert len(eight_bit) == len(STATUS_STYLE)
    assert len(set(STATUS_GLYPH.values())) == len(STATUS_GLYPH)  # NO_COLOR still tells them apart


async def test_a_parked_connection_says_why(app: SyncdeskApp, store: Store) -> None:
    async with store.write() as db:
        for minutes in (2, 5, 9, 12):  # the one 12 minutes ago is outside the window
            await db.execute(
                "INSERT INTO sync_attempts (job_id, started_at, duration_ms, operation, "
                "outcome, error_class, http_status) SELECT id, ?, 80, 'create', "
                "'rate_limited', 'rate_limited', 429 FROM sync_jobs WHERE connection_id = 2 "
                "LIMIT 1", (ago(minutes=minutes),))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        xero = list(app.screen.query(ConnectionPanel))[1].query_one(".health")
        assert "rate-limited, parked in 4m: 429 ×3 in 10m" in str(xero.render())


async def test_the_palette_shows_a_markup_like_tenant_verbatim(store: Store,
                                                               service: SyncService) -> None:
    async with store.write() as db:
        await db.execute("UPDATE connections SET tenant_name = 'Builders [/Line/0] Inc' "
                         "WHERE id = 1")
    app = SyncdeskApp(service, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"Builders")
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        results = palette.query_one(OptionList)

        def prompts() -> list[str]:
            return [str(results.get_option_at_index(i).prompt)
                    for i in range(results.option_count)]

        await until(pilot, lambda: any("Pause quickbooks · Builders [/Line/0] Inc" in p
                                       for p in prompts()))


async def test_a_narrow_terminal_keeps_what_a_person_triages_by(app: SyncdeskApp) -> None:
    async with app.run_test(size=(60, 15)) as pilot:
        screen = await open_failed_invoices(pilot)
        table = screen.query_one(JobTable)
        strip = screen.query_one("#strip")
        assert [key for key, _, _ in table.spec] == ["mark", "label", "status", "error"]
        assert table.get_row_at(0)[-1].plain.startswith("validation: Line 1: [/Line/0]")
        assert strip.display and "customer Smith & Co" in str(strip.render())
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert not table.narrow and not strip.display
        assert table.get_row_at(0)[2].plain == "Smith & Co"
        await pilot.resize_terminal(80, 24)
        await pilot.press("n")
        await settle(pilot)
        feed = app.screen.query_one("#feed", Table)
        assert [key for key, _, _ in feed.spec] == ["unread", "when", "title", "message"]
        assert feed.get_row_at(0)[-1].plain == BRACKETS
