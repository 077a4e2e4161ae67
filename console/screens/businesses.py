"""The fleet: every business in the store, the most trouble first (failed records, then
connections that need a reconnect, then how far behind), and the switch between them:
`enter` scopes every screen to the business on the cursor, or to all of them."""

from __future__ import annotations

from datetime import datetime

from textual import on
from textual.widgets import DataTable

from engine import BusinessTrouble

from ..format import plain
from ..keymap import bind
from ..widgets.table import Row
from .base import ListScreen

ALL = "all"
"""The row key of every business at once."""

COLUMNS: list[tuple[str, str, int | None]] = [
    ("scope", "", 2),
    ("name", "business", 30),
    ("failed", "failed", 8),
    ("reconnect", "reconnect", 10),
    ("waiting", "waiting", 10),
]


class BusinessesScreen(ListScreen):
    TITLE = "Businesses"
    BINDINGS = [bind("back")]
    COLUMNS = COLUMNS
    NARROW = ("scope", "name", "failed", "reconnect", "waiting")
    TABLE_ID = "businesses"

    def __init__(self) -> None:
        super().__init__()
        self.fleet: list[BusinessTrouble] = []

    async def read(self) -> None:
        self.fleet = await self.syncdesk.service.fleet()

    def rows(self, now: datetime) -> list[Row]:
        chosen = self.syncdesk.service.business
        every: Row = (ALL, [plain("●" if chosen is None else ""), plain("All businesses"),
                            plain(sum(b.failed for b in self.fleet)),
                            plain(sum(b.needs_reconnect for b in self.fleet)),
                            plain(sum(b.waiting for b in self.fleet))])
        return [every, *((str(b.id), [
            plain("●" if chosen == b.id else ""),
            plain(b.name),
            plain(b.failed, "bold red" if b.failed else ""),
            plain(b.needs_reconnect, "bold yellow" if b.needs_reconnect else ""),
            plain(b.waiting),
        ]) for b in self.fleet)]

    @on(DataTable.RowSelected, "#businesses")
    def _choose(self, event: DataTable.RowSelected) -> None:
        key = str(event.row_key.value)
        chosen = next((b for b in self.fleet if str(b.id) == key), None)
        self.syncdesk.choose_business(chosen.id if chosen else None,
                                      chosen.name if chosen else None)
