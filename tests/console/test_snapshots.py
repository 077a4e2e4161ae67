"""Snapshots of the main screens at 120x40 (and the dashboard at 80x24), on a fixed clock.

Update with `pytest tests/console --snapshot-update` after checking the report by eye.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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
