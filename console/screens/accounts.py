"""Account mapping: items without an income account on a platform; `enter` maps one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual import on
from textual.widget import Widget
from textual.widgets import DataTable, Static

from engine import Item

from ..format import plain
from ..keymap import bind
from ..widgets.table import Row
from .base import ListScreen
from .modals import PromptScreen

COLUMNS: list[tuple[str, str, int | None]] = [
    ("id", "item", 14),
    ("sku", "sku", 16),
    ("name", "name", 40),
]


class AccountsScreen(ListScreen):
    """Mapping an item re-queues the records it held back (the service does that)."""

    BINDINGS = [bind("back")]
    COLUMNS = COLUMNS
    TABLE_ID = "items"

    def __init__(self, platform: str) -> None:
        super().__init__()
        self.platform = platform
        self.title = f"Income accounts · {platform}"
        self.items: list[Item] = []
        """The items shown, as last read."""

    def above_table(self) -> Sequence[Widget]:
        return [Static(Text(f"Items with no income account on {self.platform}. "
                            "enter: give one an account code."), classes="hint")]

    async def read(self) -> None:
        self.items = await self.syncdesk.service.items_missing_account(self.platform)

    def rows(self, now: datetime) -> list[Row]:
        return [(item.id, [plain(item.id), plain(item.sku), plain(item.name)])
                for item in self.items]

    @on(DataTable.RowSelected, "#items")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self._map(event.row_key.value)

    def _map(self, item_id: str) -> None:
        if self.syncdesk.read_only:
            self.syncdesk.refuse("mapping an income account")
            return

        def mapped(account: str | None) -> None:
            if account is not None:
                self.syncdesk.map_account(item_id, self.platform, account)

        self.app.push_screen(
            PromptScreen(f"Income account code for {item_id} on {self.platform}", "e.g. 4000"),
            mapped)
