"""Snapshots of the main screens at 120x40, at 80x24 and in 256 colours, on a fixed clock.

Update with `pytest tests/console --snapshot-update` after checking the report by eye.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

from rich.color import ColorSystem
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.pilot import Pilot

from console.app import SyncdeskApp

SnapCompare = Callable[..., bool]


def after(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Settle, press `keys` one at a time (settling after each), then settle again."""

    async def run(pilot: Pilot[Any]) -> None:
        pilot.app.animation_level = "none"
        for key in ("", *keys):
            if key:
                await pilot.press(key)
            for _ in range(3):
                await pilot.pause()
                await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run


def test_dashboard(snap_compare: SnapCompare, sync_app: SyncdeskApp) -> None:
    assert snap_compare(sync_app, terminal_size=(120, 40), run_before=after())


def test_dashboard_80x24(snap_compare: SnapCompare, sync_app: SyncdeskApp) -> None:
    assert snap_compare(sync_app, terminal_size=(80, 24), run_before=after())


def test_record_view(snap_compare: SnapCompare, sync_app: SyncdeskApp) -> None:
    """Failed invoices of the first connection, one marked."""
    assert snap_compare(sync_app, terminal_size=(120, 40),
                        run_before=after("right", "right", "right", "down", "down", "enter",
                                         "space"))


def test_failure_detail(snap_compare: SnapCompare, sync_app: SyncdeskApp) -> None:
    """INV-1002: the platform message verbatim (brackets and all) and three attempts."""
    assert snap_compare(sync_app, terminal_size=(120, 40),
                        run_before=after("right", "right", "right", "down", "down", "enter",
                                         "j", "enter"))


def test_notification_feed(snap_compare: SnapCompare, sync_app: SyncdeskApp) -> None:
    assert snap_compare(sync_app, terminal_size=(120, 40), run_before=after("n"))


def test_record_view_80x24(snap_compare: SnapCompare, sync_app: SyncdeskApp) -> None:
    """Narrow: label, status and error in the table, the rest of the row in the strip."""
    assert snap_compare(sync_app, terminal_size=(80, 24),
                        run_before=after("right", "right", "right", "down", "down", "enter"))


def test_help_80x24(snap_compare: SnapCompare, sync_app: SyncdeskApp) -> None:
    """The record view's own actions first, each explained; then everywhere; then moving."""
    assert snap_compare(sync_app, terminal_size=(80, 24),
                        run_before=after("right", "right", "right", "down", "down", "enter",
                                         "question_mark"))


class EightBit(SyncdeskApp):
    """Screenshots as a 256-colour terminal shows them (over SSH, COLORTERM is not sent)."""

    def export_screenshot(self, *, title: str | None = None, simplify: bool = False) -> str:
        width, height = self.size
        console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                          color_system="truecolor", record=True, legacy_windows=False,
                          safe_box=False)
        console.print(self.screen._compositor.render_update(
            full=True, screen_stack=self._background_screens, simplify=simplify))
        console._record_buffer[:] = [Segment(text, eight_bit(style), control)
                                     for text, style, control in console._record_buffer]
        return console.export_svg(title=title or self.title)


def eight_bit(style: Style | None) -> Style | None:
    if style is None:
        return None
    down = [None if c is None else c.downgrade(ColorSystem.EIGHT_BIT)
            for c in (style.color, style.bgcolor)]
    return style + Style(color=down[0], bgcolor=down[1])


def test_record_view_all_statuses_in_256_colours(snap_compare: SnapCompare,
                                                 sync_app: SyncdeskApp) -> None:
    """Every status of QuickBooks' invoices, each its own colour and glyph, in 256 colours."""
    app = EightBit(sync_app.service, poll_interval=0.05)
    assert snap_compare(app, terminal_size=(120, 40),
                        run_before=after("down", "down", "enter", "s"))


def test_record_view_60x15(snap_compare: SnapCompare, sync_app: SyncdeskApp) -> None:
    """The smallest terminal the console promises to be readable in."""
    assert snap_compare(sync_app, terminal_size=(60, 15),
                        run_before=after("right", "right", "right", "down", "down", "enter"))


def test_problems(snap_compare: SnapCompare, sync_app: SyncdeskApp) -> None:
    """Every record that needs a person, grouped as a tree, one group marked."""
    assert snap_compare(sync_app, terminal_size=(120, 40),
                        run_before=after("exclamation_mark", "space"))


def test_problems_80x24(snap_compare: SnapCompare, sync_app: SyncdeskApp) -> None:
    assert snap_compare(sync_app, terminal_size=(80, 24), run_before=after("exclamation_mark"))
