"""A listing of sync jobs: filter, search, sort, mark, retry, and open one.

A million jobs never reach the widget: the table holds a window of at most `WINDOW` keyset
pages of `PAGE` rows. When the cursor comes within `EDGE` rows of the window's end the next
page is read (and the first one dropped), and the same going up. `starts[i]` remembers where
page i begins, so going back up re-reads a page by its cursor, never with OFFSET.

Marks are job ids (`space`) or a query (`A`: every job matching the filter, counted by the
service, never by the loaded rows). A filter change clears the marks it hides, out loud.

`/` opens the filter bar: its query (the engine's grammar) narrows what `f`, `e` and the
drill-down chose, and `esc` clears it before a second `esc` leaves the screen.

A row retried with `r` is followed: it stays where it was, shown as `retrying…`, until the
engine's next outcome for it arrives (read back by id on every store change), even when the
filter no longer matches it; a filter or sort change lets it go.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from engine import ConnectionSummary, Cursor, ErrorClass, JobFilter, JobRow, Sort

from ..format import copy_text, count, describe
from ..keymap import bind
from ..widgets.activity import Activity
from ..widgets.filter_bar import FilterBar
from ..widgets.job_table import JobTable, strip
from .base import SyncScreen
from .detail import DetailScreen

PAGE = 200
WINDOW = 3
EDGE = 40
FOLLOW = PAGE
"""At most this many retried rows are followed (a bulk retry is followed by its counts)."""

STATUSES: tuple[tuple[str, ...], ...] = (
    (), ("failed",), ("pending", "in_flight"), ("blocked",), ("skipped",), ("broken_link",),
    ("uncertain",), ("synced",),
)
"""What `f` cycles through."""
CLASSES: tuple[str | None, ...] = (None, *(c.value for c in ErrorClass))
"""What `e` cycles through."""


def _next(options: tuple[object, ...], current: object) -> int:
    return (options.index(current) + 1) % len(options) if current in options else 0


@dataclass
class Window:
    """Which pages of the listing the table holds: pages `first` .. `first + len(pages)`."""

    starts: list[Cursor | None] = field(default_factory=lambda: [None])
    """Where each page begins (page 0 at the start); learnt as pages are read."""
    first: int = 0
    pages: list[list[JobRow]] = field(default_factory=list)
    more: bool = False
    """Whether a page follows the last one held."""

    @property
    def jobs(self) -> list[JobRow]:
        return [job for page in self.pages for job in page]


class RecordScreen(SyncScreen):
    BINDINGS = [
        bind("retry"), bind("retry_matching"), bind("mark"), bind("search"),
        bind("status_filter"), bind("class_filter"), bind("sort"), bind("copy"),
        bind("mark_all"), bind("clear_marks"), bind("back"),
    ]

    where: reactive[JobFilter] = reactive(JobFilter, init=False)
    """Which jobs are listed; changing it re-reads from the first page."""
    sort: reactive[Sort] = reactive(Sort.RECENT, init=False)
    """The listing's order (newest change first by default)."""

    def __init__(self, connection: ConnectionSummary | None, where: JobFilter, *,
                 name: str | None = None) -> None:
        """`connection`: the one drilled into; None (with a `name`) for a problem group."""
        super().__init__()
        self.connection = connection
        self.set_reactive(RecordScreen.where, where)
        self.scope_name = name or (describe(connection) if connection else "every connection")
        self.title = (f"{self.scope_name} › {where.entity.label if where.entity else 'all'}s"
                      if connection else self.scope_name)
        self.query_text = ""
        """The filter bar's query, as typed ("" when none applies)."""
        self.before_query = where
        """The filter the query narrowed: what `esc` goes back to."""
        self.following: dict[int, tuple[int, datetime]] = {}
        """Retried job ids: where each was shown and when it was retried."""
        self.followed: dict[int, JobRow] = {}
        """The followed jobs as last read (by id, whatever the filter)."""
        self.shown: list[JobRow] = []
        self.window = Window()
        self.marked: set[int] = set()
        self.marked_query: JobFilter | None = None
        """Set by `A`: every job matching this filter is marked."""
        self.marked_count = 0
        self._filler: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="filters")
        yield FilterBar(self.syncdesk.service.clock, id="filter-bar")
        yield JobTable(id="jobs")
        yield Static(id="strip")
        yield Static(id="window")
        yield Activity()
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._show_filters()
        self._fit(self.app.size.width)
        self.query_one(JobTable).focus()

    def on_resize(self, event: events.Resize) -> None:
        if self._fit(event.size.width):
            self._show_jobs(self.syncdesk.service.clock())

    def _fit(self, width: int) -> bool:
        """Narrow columns (and the strip) below `NARROW_BELOW`; True if that changed."""
        table = self.query_one(JobTable)
        changed = table.fit(width)
        self.query_one("#strip").display = table.narrow
        return changed

    @property
    def scope(self) -> str:
        return f"{self.scope_name}: {self.where.describe()}"

    # -- loading ------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the pages held (live refresh): rows update in place, keyed by job id."""
        self._fill(self.window.first, max(1, len(self.window.pages)))

    def _fill(self, first: int, count: int, *, reset: bool = False) -> None:
        if reset:
            self.window = Window()
        self._filler = self._read(first, count)

    @work(exclusive=True, group="page", exit_on_error=False)
    async def _read(self, first: int, count: int) -> None:
        service, window = self.syncdesk.service, self.window
        pages: list[list[JobRow]] = []
        more = False
        for index in range(first, first + count):
            if index >= len(window.starts):
                break
            page = await service.page(self.where, after=window.starts[index], limit=PAGE,
                                      sort=self.sort)
            pages.append(page.rows)
            del window.starts[index + 1:]
            more = page.next is not None
            if page.next is None:
                break
            window.starts.append(page.next)
        if self.following:
            ids = tuple(self.following)
            followed = await service.page(JobFilter(ids=ids), limit=len(ids))
            self.followed = {job.id: job for job in followed.rows}
        window.first, window.pages, window.more = first, pages, more
        if self.showing:
            self._show_jobs(service.clock())

    def tick(self, now: datetime) -> None:
        self.query_one(JobTable).tick(self.shown, now)
        self._show_strip(now)

    def _show_jobs(self, now: datetime) -> None:
        table = self.query_one(JobTable)
        self.shown = self._with_followed(self.window.jobs)
        table.show(self.shown, self._is_marked, now, self._retrying)
        self._show_strip(now)
        held = len(table.rows)
        start = self.window.first * PAGE
        more = "+" if self.window.more else ""
        self.query_one("#window", Static).update(
            f"rows {start + 1:,}–{start + held:,}{more}" if held else "no records match")

    def _near_edge(self) -> None:
        """Read the next (or previous) page if the cursor is near the window's edge.

        The cursor is read now, not from the event: a rebuild's own highlight of row 0 is
        stale by the time it arrives and must not page back up.
        """
        if self._filler is not None and self._filler.is_running:
            return
        table = self.query_one(JobTable)
        window, held, row = self.window, len(table.rows), table.cursor_row
        if window.more and row >= held - EDGE:
            full = len(window.pages) >= WINDOW
            self._fill(window.first + full, min(len(window.pages) + 1, WINDOW))
        elif window.first > 0 and row < EDGE:
            self._fill(window.first - 1, len(window.pages))

    def _show_strip(self, now: datetime) -> None:
        if self.query_one(JobTable).narrow:
            job = self.current_job()
            self.query_one("#strip", Static).update(strip(job, now) if job else "")

    @on(DataTable.RowHighlighted, "#jobs")
    def _highlighted(self) -> None:
        self._show_strip(self.syncdesk.service.clock())
        self._near_edge()

    @on(JobTable.Top)
    def _top(self) -> None:
        if self.window.first > 0:
            self._fill(0, 1, reset=True)

    @on(DataTable.RowSelected, "#jobs")
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(DetailScreen(int(event.row_key.value)))

    def current_job(self) -> JobRow | None:
        key = self.query_one(JobTable).cursor_key
        return next((job for job in self.shown if str(job.id) == key), None)

    # -- following retries --------------------------------------------------------------

    def _with_followed(self, jobs: list[JobRow]) -> list[JobRow]:
        """The window's rows, each followed row as last read and put back where it was
        shown if the filter no longer lists it."""
        fresh = [self.followed.get(job.id, job) for job in jobs]
        listed = {job.id for job in fresh}
        for job_id, (position, _) in sorted(self.following.items(), key=lambda f: f[1][0]):
            if job_id not in listed and job_id in self.followed:
                fresh.insert(min(position, len(fresh)), self.followed[job_id])
        return fresh

    def _retrying(self, job: JobRow) -> bool:
        """Retried and no outcome yet: not re-queued so far, or queued or being sent."""
        follow = self.following.get(job.id)
        return follow is not None and (job.updated_at < follow[1]
                                       or job.status in ("pending", "in_flight"))

    def _follow(self, jobs: list[JobRow]) -> None:
        at = self.syncdesk.service.clock()
        places = {job.id: index for index, job in enumerate(self.shown)}
        for job in jobs[:FOLLOW]:
            self.following[job.id] = (places.get(job.id, 0), at)
            self.followed[job.id] = job
        self._show_jobs(at)

    def _let_go(self) -> None:
        self.following.clear()
        self.followed.clear()

    # -- filtering ----------------------------------------------------------------------

    def watch_where(self, old: JobFilter, new: JobFilter) -> None:
        self._show_filters()
        self._refilter(old, new)

    def watch_sort(self) -> None:
        self._let_go()
        self._show_filters()
        self._fill(0, 1, reset=True)

    @work(exclusive=True, group="filter", exit_on_error=False)
    async def _refilter(self, old: JobFilter, new: JobFilter) -> None:
        self._let_go()
        if self.marked_query is not None:
            self.notify(f"Cleared the mark on all {count(self.marked_count, 'record')} of "
                        f"the previous filter.", markup=False)
            self.marked_query = None
        if self.marked:
            page = await self.syncdesk.service.page(replace(new, ids=tuple(self.marked)),
                                                    limit=len(self.marked))
            if not self.showing:
                return
            visible = {job.id for job in page.rows}
            hidden = len(self.marked - visible)
            if hidden:
                self.marked &= visible
                self.notify(f"{count(hidden, 'marked record')} hidden by the filter: "
                            f"{'its mark' if hidden == 1 else 'their marks'} cleared.",
                            markup=False)
        self._show_filters()
        self._fill(0, 1, reset=True)

    def _show_filters(self) -> None:
        where = self.where
        text = Text()
        for name, value in (("status", "/".join(where.statuses) or "any"),
                            ("class", where.error_class or "any"),
                            ("sort", self.sort.value)):
            text.append(f"{name} ", "dim")
            text.append(f"{value}  ", "bold")
        if self.query_text:
            text.append("query ", "dim")
            text.append(f"{self.query_text}  ", "bold")
        elif where.text:
            text.append("search ", "dim")
            text.append(f"{where.text!r}  ", "bold")
        if self.marked_query is not None:
            text.append(f"marked: all {self.marked_count:,} matching", "bold yellow")
        elif self.marked:
            text.append(f"marked: {len(self.marked):,}", "bold yellow")
        self.query_one("#filters", Static).update(text)

    def action_status_filter(self) -> None:
        statuses = STATUSES[_next(STATUSES, self.where.statuses)]
        self.where = replace(self.where, statuses=statuses)

    def action_class_filter(self) -> None:
        error_class = CLASSES[_next(CLASSES, self.where.error_class)]
        self.where = replace(self.where, error_class=error_class)

    def action_sort(self) -> None:
        options = tuple(Sort)
        self.sort = options[_next(options, self.sort)]

    def action_search(self) -> None:
        self.query_one(FilterBar).open(self.query_text)

    @on(FilterBar.Applied)
    def _queried(self, event: FilterBar.Applied) -> None:
        event.stop()
        self.query_one(FilterBar).close()
        self.query_one(JobTable).focus()
        if not self.query_text:
            self.before_query = self.where
        self.query_text = event.query
        base = replace(self.before_query, text=None)
        self.where = event.where.within(base) if event.where else self.before_query

    def action_back(self) -> None:
        if self.query_text:
            self.query_text = ""
            self.where = self.before_query
            self.notify("Filter cleared; esc again goes back.")
        else:
            self.dismiss()

    # -- marks and retries --------------------------------------------------------------

    def _is_marked(self, job_id: int) -> bool:
        return self.marked_query is not None or job_id in self.marked

    def _show_marks(self) -> None:
        table = self.query_one(JobTable)
        with self.app.batch_update():
            for job in self.window.jobs:
                table.show_mark(job.id, self._is_marked(job.id))
        self._show_filters()

    def action_mark(self) -> None:
        job = self.current_job()
        if job is None:
            return
        if self.marked_query is not None:
            self.notify("Every matching record is marked; U clears the marks.")
            return
        self.marked ^= {job.id}
        self.query_one(JobTable).show_mark(job.id, job.id in self.marked)
        self.query_one(JobTable).action_cursor_down()
        self._show_filters()

    @work(group="marks", exit_on_error=False)
    async def action_mark_all(self) -> None:
        where = self.where
        self.marked_count = await self.syncdesk.service.count(where)
        if not self.showing:
            return
        self.marked_query, self.marked = where, set()
        self._show_marks()
        self.notify(f"Marked all {count(self.marked_count, 'record')} matching "
                    f"{where.describe()}.", markup=False)

    def action_clear_marks(self) -> None:
        self.marked_query, self.marked = None, set()
        self._show_marks()

    def action_retry(self) -> None:
        if self.marked_query is not None:
            self.syncdesk.retry_where([self.marked_query], self.scope,
                                      on_confirmed=self.action_clear_marks)
        elif self.marked:
            self._follow([job for job in self.shown if job.id in self.marked])
            self.syncdesk.retry(sorted(self.marked))
            self.action_clear_marks()
        elif (job := self.current_job()) is not None:
            self._follow([job])
            self.syncdesk.retry([job.id])

    def action_retry_matching(self) -> None:
        self.syncdesk.retry_where([self.where], self.scope)

    def action_copy(self) -> None:
        job = self.current_job()
        if job is not None:
            self.app.copy_to_clipboard(copy_text(job))
            self.notify(f"Copied {job.label}.", markup=False)

