"""Connections: state, connect, pause/resume, disconnect, purge, and account mapping."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from engine import ConnectionSummary

from .._names import PLATFORM_NAMES
from ..format import ago, plain
from ..keymap import bind
from ..widgets.connection_panel import PARKED_WINDOW, health, parked
from ..widgets.table import Row, Table
from .accounts import MappingScreen
from .base import ListScreen
from .modals import PromptScreen

COLUMNS: list[tuple[str, str, int | None]] = [
    ("id", "#", 3),
    ("platform", "platform", 10),
    ("tenant", "tenant", 24),
    ("state", "state", 16),
    ("jobs", "jobs", 9),
    ("last", "last sync", 10),
    ("health", "health", 100),
]


class ConnectionsScreen(ListScreen):
    TITLE = "Connections"
    BINDINGS = [bind("connect"), bind("toggle_connection"), bind("map_accounts"),
                bind("disconnect"), bind("purge"), bind("back")]
    COLUMNS = COLUMNS
    NARROW = ("id", "tenant", "state", "health")
    TABLE_ID = "connections"

    def __init__(self) -> None:
        super().__init__()
        self.connections: dict[str, ConnectionSummary] = {}
        """The connections shown, by row key."""
        self.limited: dict[int, int] = {}
        """429s per parked connection in the last `PARKED_WINDOW`."""

    async def read(self) -> None:
        service = self.syncdesk.service
        connections = await service.connections()
        now = service.clock()
        self.limited = (await service.rate_limits(now - PARKED_WINDOW)
                        if parked(connections, now) else {})
        self.connections = {str(c.id): c for c in connections}

    def rows(self, now: datetime) -> list[Row]:
        return [(str(c.id), [
            Text(str(c.id)), plain(c.platform), plain(c.tenant_name),
            plain(c.state.replace("_", " ")), Text(f"{sum(n.total for n in c.counts):,}"),
            Text(ago(c.last_success_at, now)),
            Text(" ").join(health(c, now, self.limited.get(c.id, 0)).split("\n")),
        ]) for c in self.connections.values()]

    @property
    def current(self) -> ConnectionSummary | None:
        return self.connections.get(self.query_one(Table).cursor_key or "")

    def action_connect(self) -> None:
        self.app.push_screen(PromptScreen("Connect which platform?", " / ".join(PLATFORM_NAMES)),
                             self._connect)

    def _connect(self, platform: str | None) -> None:
        if platform is None:
            return
        if platform.lower() not in PLATFORM_NAMES:
            self.notify(f"Unknown platform {platform!r}: one of {', '.join(PLATFORM_NAMES)}.",
                        severity="error", markup=False)
            return
        self.syncdesk.connect(platform.lower())

    def action_toggle_connection(self) -> None:
        if (connection := self.current) is not None:
            self.syncdesk.toggle_connection(connection)

    def action_disconnect(self) -> None:
        if (connection := self.current) is not None:
            self.syncdesk.disconnect(connection)

    def action_purge(self) -> None:
        if (connection := self.current) is not None:
            self.syncdesk.purge(connection)

    def action_map_accounts(self) -> None:
        if (connection := self.current) is not None:
            self.app.push_screen(MappingScreen(connection.id, connection.platform))
