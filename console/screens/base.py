"""What every console screen shares: live reloads, read-only checks, worker failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState

from ..keymap import WRITES, bind
from ..widgets.activity import Activity
from ..widgets.table import Row, Table

if TYPE_CHECKING:
    from ..app import SyncdeskApp


class SyncScreen(Screen[None]):
    """Reloads when the store changed (while it is the current screen, and on resume)."""

    BINDINGS = [bind("back")]

    @property
    def syncdesk(self) -> SyncdeskApp:
        return cast("SyncdeskApp", self.app)

    def on_mount(self) -> None:
        self.watch(self.app, "revision", self._store_changed, init=False)
        self.watch(self.app, "busy", self._busy_changed)

    def on_screen_resume(self) -> None:
        self.reload()

    def _store_changed(self) -> None:
        if self.is_current:
            self.reload()

    def _busy_changed(self, busy: str) -> None:
        for activity in self.query(Activity):
            activity.show(busy)

    def reload(self) -> None:
        """Read what this screen shows from the service again (in a worker)."""

    def action_back(self) -> None:
        self.dismiss()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in WRITES and self.syncdesk.read_only)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.syncdesk.report(event.worker.error)


class ListScreen(SyncScreen):
    """A screen that is one keyed table, re-read from the service on every change."""

    COLUMNS: ClassVar[Sequence[tuple[str, str, int | None]]]
    TABLE_ID: ClassVar[str]

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.above_table()
        yield Table(self.COLUMNS, id=self.TABLE_ID)
        yield Activity()
        yield Footer()

    def above_table(self) -> Sequence[Widget]:
        """Widgets between the header and the table (a hint line, say)."""
        return ()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(Table).focus()

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="load")
    async def _load(self) -> None:
        self.query_one(Table).sync(await self.rows())

    async def rows(self) -> list[Row]:
        """The table's rows, read from the service."""
        raise NotImplementedError
