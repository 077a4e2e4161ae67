"""The notification feed: newest first; `enter` marks one read and opens its record."""

from __future__ import annotations

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
    BINDINGS = [bind("read_all")]
    COLUMNS = COLUMNS
    TABLE_ID = "feed"

    def __init__(self) -> None:
        super().__init__()
        self.notes: dict[str, NotificationRow] = {}
        """The notifications shown, by row key."""

    async def rows(self) -> list[Row]:
        service = self.syncdesk.service
        notes = await service.notifications()
        now = service.clock()
        self.notes = {str(note.id): note for note in notes}
        return [(str(note.id), [
            Text("●", style="bold yellow") if note.read_at is None else Text(" "),
            Text(ago(note.created_at, now)),
            plain(note.platform),
            plain(note.kind),
            plain(note.title, "bold" if note.read_at is None else ""),
            plain(note.message),
        ]) for note in notes]

    @on(DataTable.RowSelected, "#feed")
    def _open(self, event: DataTable.RowSelected) -> None:
        note = self.notes.get(str(event.row_key.value))
        if note is not None:
            self._read(note)

    @work(group="read")
    async def _read(self, note: NotificationRow) -> None:
        await self.syncdesk.service.mark_read(note.id)
        self.syncdesk.poll(force=True)
        if note.job_id is not None:
            self.app.push_screen(DetailScreen(note.job_id))
        else:
            self.notify(f"{note.platform}: a connection-level notice; see Connections (o).",
                        markup=False)

    @work(group="read")
    async def action_read_all(self) -> None:
        read = await self.syncdesk.service.mark_read(None)
        self.notify(f"{count(read, 'notification')} marked read.")
        self.syncdesk.poll(force=True)
