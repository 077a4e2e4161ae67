"""The notification feed: newest first; `enter` marks one read and opens its record.

A read-only console opens the record and marks nothing: the feed is shared by every operator.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.widgets import DataTable

from engine import NotificationRow

from ..format import ago, count, plain
from ..keymap import bind
from ..widgets.table import Row
from .base import ListScreen
from .detail import DetailScreen

COLUMNS: list[tuple[str, str, int | None]] = [
    ("unread", " ", 1),
    ("when", "when", 8),
    ("platform", "platform", 10),
    ("kind", "kind", 12),
    ("title", "title", 28),
    ("message", "message", 100),
]


class NotificationsScreen(ListScreen):
    TITLE = "Notifications"
    BINDINGS = [bind("read_all"), bind("back")]
    COLUMNS = COLUMNS
    NARROW = ("unread", "when", "title", "message")
    TABLE_ID = "feed"

    def __init__(self) -> None:
        super().__init__()
        self.notes: dict[str, NotificationRow] = {}
        """The notifications shown, by row key."""

    async def read(self) -> None:
        self.notes = {str(n.id): n for n in await self.syncdesk.service.notifications()}

    def rows(self, now: datetime) -> list[Row]:
        return [(str(note.id), [
            Text("●", style="bold yellow") if note.read_at is None else Text(" "),
            Text(ago(note.created_at, now)),
            plain(note.platform),
            plain(note.kind),
            plain(note.title, "bold" if note.read_at is None else ""),
            plain(note.message),
        ]) for note in self.notes.values()]

    @on(DataTable.RowSelected, "#feed")
    def _open(self, event: DataTable.RowSelected) -> None:
        note = self.notes.get(str(event.row_key.value))
        if note is not None:
            self._read(note)

    @work(group="read", exit_on_error=False)
    async def _read(self, note: NotificationRow) -> None:
        # A read-only console opens the record but leaves the feed as others see it.
        if not self.syncdesk.read_only:
            await self.syncdesk.service.mark_read(note.id)
            self.syncdesk.poll(force=True)
        if note.job_id is not None:
            self.app.push_screen(DetailScreen(note.job_id))
        elif note.kind == "drift":
            self.syncdesk.action_drift()
        else:
            self.notify(f"{note.platform}: a connection-level notice; see Connections (o).",
                        markup=False)

    @work(group="read", exit_on_error=False)
    async def action_read_all(self) -> None:
        read = await self.syncdesk.service.mark_read(None)
        self.notify(f"{count(read, 'notification')} marked read.")
        self.syncdesk.poll(force=True)
