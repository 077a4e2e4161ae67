"""The overview: one panel per connection, updated in place as the store changes."""

from __future__ import annotations

import asyncio
from datetime import datetime

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Header, Static
from textual.worker import Worker

from engine import Capabilities, ConnectionSummary, DayBudget, JobFilter

from .._wiring import platforms
from ..widgets.activity import Activity
from ..widgets.connection_panel import PARKED_WINDOW, ConnectionPanel, parked
from ..widgets.footer import KeyFooter
from .base import SyncScreen


class DashboardScreen(SyncScreen):
    """`enter` on a count opens those records; `1`–`4` jump to a panel."""

    TITLE = "Overview"

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(id="panels")
        yield Static("No connections yet: press o for Connections, then a to connect.",
                     id="empty")
        yield Activity()
        yield KeyFooter()

    capabilities: dict[str, Capabilities] | None = None
    """Each platform's capabilities (its daily quota), once its code is loaded."""
    _platforms: Worker[None] | None = None

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="load", exit_on_error=False)
    async def _load(self) -> None:
        service = self.syncdesk.service
        connections = await service.connections()
        now = service.clock()
        limited = (await service.rate_limits(now - PARKED_WINDOW)
                   if parked(connections, now) else {})
        days = ({} if self.capabilities is None else
                await service.day_budgets(self.capabilities))
        if self.showing:
            self._show(connections, now, limited, days)
            if self._platforms is None:
                self._platforms = self._load_platforms()

    @work(group="platforms", exit_on_error=False)
    async def _load_platforms(self) -> None:
        """The platforms' code is a third of the start (~0.3 s): the panels paint first,
        their day budgets follow once it is loaded, off the loop (which stays live) and
        after the paint (the import holds the interpreter the paint needs)."""
        painted = asyncio.get_running_loop().create_future()
        self.call_after_refresh(painted.set_result, None)
        await painted
        self.capabilities = await asyncio.to_thread(_capabilities)
        self.syncdesk.keep_heap()  # the last of the start's work
        if self.showing:
            self.reload()

    def tick(self, now: datetime) -> None:
        for panel in self.query(ConnectionPanel):
            panel.show(panel.summary, now)

    def _show(self, connections: list[ConnectionSummary], now: datetime,
              limited: dict[int, int], days: dict[int, DayBudget]) -> None:
        box = self.query_one("#panels", VerticalScroll)
        panels = {panel.summary.id: panel for panel in self.query(ConnectionPanel)}
        wanted = {summary.id for summary in connections}
        first_load = not panels
        with self.app.batch_update():
            for connection_id, gone in panels.items():
                if connection_id not in wanted:
                    gone.remove()
            for position, summary in enumerate(connections, 1):
                if (panel := panels.get(summary.id)) is None:
                    box.mount(ConnectionPanel(summary, position, now, limited.get(summary.id, 0),
                                              days.get(summary.id)))
                else:
                    panel.position = position
                    panel.rate_limited = limited.get(summary.id, 0)
                    panel.day_budget = days.get(summary.id)
                    panel.show(summary, now)
            self.query_one("#empty").display = not connections
        if first_load and connections:
            self.call_after_refresh(self.focus_panel, 1)
        if first_load:
            self.call_after_refresh(self.syncdesk.prepare_screens)

    def focus_panel(self, position: int) -> None:
        """Focus the counts of the `position`th connection (1-based), if there is one."""
        panels = list(self.query(ConnectionPanel))
        if 1 <= position <= len(panels):
            panel = panels[position - 1]
            panel.table.focus()
            panel.scroll_visible(animate=False)

    @on(ConnectionPanel.OpenRecords)
    def _open(self, event: ConnectionPanel.OpenRecords) -> None:
        event.stop()
        where = JobFilter(connection_id=event.summary.id, entity=event.entity,
                          statuses=event.statuses)
        self.syncdesk.open_records(event.summary, where)


def _capabilities() -> dict[str, Capabilities]:
    return {name: platform.capabilities for name, platform in platforms().items()}
