"""A connection's mappings: every kind with its current value; `enter` picks a new one from
the platform's own list (correcting a mapping as well as filling a missing one)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.widget import Widget
from textual.widgets import DataTable, Static

from engine import Choice, MappingEntry, MappingKind

from ..format import plain
from ..keymap import bind
from ..widgets.table import Row
from .base import ListScreen
from .modals import PickerScreen

COLUMNS: list[tuple[str, str, int | None]] = [
    ("kind", "mapping", 22),
    ("key", "local", 16),
    ("name", "name", 24),
    ("value", "on the platform", 30),
    ("waiting", "held back", 10),
]


def describe(entry: MappingEntry) -> str:
    """How messages name a mapping slot: "income account of item I-1", "deposit account"."""
    if not entry.kind.keyed:
        return entry.kind.label
    return f"{entry.kind.label} of {entry.kind.key_label} {entry.key}"


class MappingScreen(ListScreen):
    """Setting a mapping re-queues the records it held back (the service does that)."""

    BINDINGS = [bind("back")]
    COLUMNS = COLUMNS
    NARROW = ("kind", "key", "value")
    TABLE_ID = "mappings"

    def __init__(self, connection_id: int, platform: str) -> None:
        super().__init__()
        self.connection_id = connection_id
        self.platform = platform
        self.title = f"Mappings · {platform} (connection {connection_id})"
        self.entries: dict[str, MappingEntry] = {}
        """The slots shown, by row key, as last read."""

    def above_table(self) -> Sequence[Widget]:
        return [Static(Text(f"How {self.platform} names the business's accounts, taxes, "
                            "payment methods, classes and locations. enter: pick from "
                            f"{self.platform}'s own list."), classes="hint")]

    async def read(self) -> None:
        entries = await self.syncdesk.service.mappings(self.connection_id)
        self.entries = {f"{e.kind.value}\x1f{e.key}": e for e in entries}

    def rows(self, now: datetime) -> list[Row]:
        return [(row_key, [
            plain(e.kind.label), plain(e.key), plain(e.key_name),
            plain(f"{e.value} ({e.label})" if e.value and e.label not in ("", e.value)
                  else e.value or "— not mapped"),
            Text(f"{e.waiting:,}" if e.waiting else ""),
        ]) for row_key, e in self.entries.items()]

    @on(DataTable.RowSelected, "#mappings")
    def _selected(self, event: DataTable.RowSelected) -> None:
        entry = self.entries.get(event.row_key.value or "")
        if entry is None:
            return
        if self.syncdesk.read_only:
            self.syncdesk.refuse(f"mapping the {describe(entry)}")
            return
        self._pick(entry)

    @work(group="command", exit_on_error=False)
    async def _pick(self, entry: MappingEntry) -> None:
        self.syncdesk.busy = f"Reading {self.platform}'s list…"
        try:
            choices = await self.syncdesk.service.mapping_choices(self.connection_id,
                                                                  entry.kind)
        finally:
            self.syncdesk.busy = ""
        if not self.showing:
            return
        if not choices:
            self.notify(f"{self.platform} lists nothing to pick for the {describe(entry)}: "
                        "it cannot be mapped on this connection.", severity="warning",
                        markup=False)
            return

        def picked(value: str | None) -> None:
            if value == "":
                self.syncdesk.run_command(
                    lambda: self.syncdesk.service.unset_mapping(
                        self.connection_id, entry.kind, entry.key or None),
                    lambda change: f"{describe(entry)}: {change.previous} removed, unmapped")
            elif value is not None and value != entry.value:
                self.syncdesk.map_value(self.connection_id, entry.kind, entry.key or None,
                                        value, choices, describe(entry))

        self.app.push_screen(PickerScreen(self._question(entry, choices), choices,
                                          entry.value), picked)

    def _question(self, entry: MappingEntry, choices: list[Choice]) -> str:
        what = describe(entry) + (f" ({entry.key_name})" if entry.key_name else "")
        if entry.kind in (MappingKind.INCOME_ACCOUNT, MappingKind.DEFAULT_INCOME_ACCOUNT,
                          MappingKind.DEPOSIT_ACCOUNT):
            return f"{what} on {self.platform}: one of its {len(choices)} accounts"
        return f"{what} on {self.platform}: {len(choices)} to pick from"
