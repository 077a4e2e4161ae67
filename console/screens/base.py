"""What every console screen shares: live reloads, the 1 s tick, read-only checks, failures.

Every screen worker is `exit_on_error=False`, so a failure lands in the one handler
(`SyncdeskApp.report`) as a toast, never as an exit. A worker may resume after its screen
was dismissed (or the app is closing): `showing` says whether widgets may still be touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, cast

from textual import events, on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header
from textual.worker import Worker, WorkerState

from ..keymap import WRITES
from ..widgets.activity import Activity
from ..widgets.footer import KeyFooter
from ..widgets.table import Columns, Row, Table

if TYPE_CHECKING:
    from ..app import SyncdeskApp


class SyncScreen(Screen[None]):
    """Reloads when the store changed (while it is the current screen, and on resume).

    Each screen lists its own keys first and `back` last: the footer shows them in that
    order, and a narrow footer cuts from the right.
    """

    @property
    def syncdesk(self) -> SyncdeskApp:
        return cast("SyncdeskApp", self.app)

    @property
    def showing(self) -> bool:
        """Still in the app with its widgets: false once dismissed or while the app closes."""
        return self.is_attached and not self._closing and not self.app._exit

    def on_mount(self) -> None:
        self.watch(self.app, "revision", self._store_changed, init=False)
        self.watch(self.app, "busy", self._busy_changed)
        self.watch(self.app, "now", self._ticked, init=False)

    def on_screen_resume(self) -> None:
        self.reload()

    _styled_as: tuple[object, ...] | None = None
    """What the styles were last applied under: the theme, the stylesheet's version and the
    app's pseudo-classes (dark, focus, colour mode)."""

    @on(events.ScreenResume)
    def _keep_styles(self, event: events.ScreenResume) -> None:
        # Textual applies every style of the screen again on each resume, for a theme or
        # stylesheet changed while it was away; a kept screen shown again under the same
        # ones would get the same styles (~10-25 ms of a record view's opening). Its widgets
        # restyle themselves when their own classes or focus change.
        look = (self.app.theme, self.app._css_update_count, self.app.pseudo_classes)
        if look == self._styled_as:
            event.refresh_styles = False
        self._styled_as = look

    def _store_changed(self) -> None:
        if self.is_current:
            self.reload()

    def _ticked(self, now: datetime | None) -> None:
        if now is not None and self.is_current and self.showing:
            self.tick(now)

    def _busy_changed(self, busy: str) -> None:
        for activity in self.query(Activity):
            activity.show(busy)

    def reload(self) -> None:
        """Read what this screen shows from the service again (in a worker)."""

    def tick(self, now: datetime) -> None:
        """Re-render relative times from what was last read (no store read)."""

    def action_back(self) -> None:
        self.dismiss()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in WRITES and self.syncdesk.read_only)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.syncdesk.report(event.worker.error)


class ListScreen(SyncScreen):
    """A screen that is one keyed table, re-read from the service on every change."""

    COLUMNS: ClassVar[Columns]
    NARROW: ClassVar[tuple[str, ...]] = ()
    """The keys of the columns kept on a narrow terminal (none: never narrowed)."""
    TABLE_ID: ClassVar[str]

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.above_table()
        yield Table(self.COLUMNS, narrow=self.NARROW, id=self.TABLE_ID)
        yield Activity()
        yield KeyFooter()

    def above_table(self) -> Sequence[Widget]:
        """Widgets between the header and the table (a hint line, say)."""
        return ()

    fresh = False
    """The table shows a read made since the screen was last shown (a kept screen shows
    its last rows until then)."""

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(Table).fit(self.app.size.width)
        self.query_one(Table).focus()

    def on_screen_resume(self) -> None:
        self.fresh = False
        if self.query_one(Table).fit(self.app.size.width):
            self.tick(self.syncdesk.service.clock())
        super().on_screen_resume()

    def on_resize(self, event: events.Resize) -> None:
        if self.query_one(Table).fit(event.size.width):
            self.tick(self.syncdesk.service.clock())

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="load", exit_on_error=False)
    async def _load(self) -> None:
        await self.read()
        if self.showing:
            self.tick(self.syncdesk.service.clock())
            self.fresh = True

    def tick(self, now: datetime) -> None:
        self.query_one(Table).sync(self.rows(now))

    async def read(self) -> None:
        """Read what the table shows from the service (kept on the screen)."""
        raise NotImplementedError

    def rows(self, now: datetime) -> list[Row]:
        """The table's rows from what `read` kept, relative times against `now`."""
        raise NotImplementedError
