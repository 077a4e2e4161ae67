"""A listing of sync jobs: filter, search, sort, mark, retry, and open one.

A million jobs never reach the widget: the table draws the rows on screen from a window of
about three screens, and asks (`JobTable.Wanted`) for the rows it scrolls to. They are read
on from the window by keyset when they are next to it (`j`, `k`, page keys), else by row
number (`:N`, the scroll bar: the screen alone, then a screen either side once it is drawn)
or from either end (`g`, `G`); the count comes after the rows, so the first screen never
waits for it.

Marks are job ids (`space`) or a query (`A`: every job matching the filter, counted by the
service, never by the loaded rows). A filter change clears the marks it hides, out loud.

`/` opens the filter bar: its query (the engine's grammar) narrows what `f`, `e` and the
drill-down chose, and `esc` clears it before a second `esc` leaves the screen. `:` and a
row number (typed into the table, shown on the position line) jump there on `enter`.

A row retried with `r` is followed: it stays where it was, shown as `retrying…`, until the
engine's next outcome for it arrives (read back by id on every store change), even when the
filter no longer matches it; a filter or sort change lets it go.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widgets import Header, Static

from engine import ConnectionSummary, Cursor, ErrorClass, JobFilter, JobRow, Slice, Sort

from ..format import copy_text, count, describe
from ..keymap import bind
from ..widgets.activity import Activity
from ..widgets.filter_bar import FilterBar
from ..widgets.footer import KeyFooter
from ..widgets.job_table import JobTable, Look, strip
from .base import SyncScreen
from .detail import DetailScreen

SCREENS = 3
"""The window holds the rows on screen and a screen's worth above and below."""
FOLLOW = 200
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


class RecordScreen(SyncScreen):
    BINDINGS = [
        bind("retry"), bind("retry_matching"), bind("mark"), bind("search"),
        bind("status_filter"), bind("class_filter"), bind("sort"), bind("copy"),
        bind("mark_all"), bind("clear_marks"), bind("goto_row"), bind("back"),
    ]

    where: reactive[JobFilter] = reactive(JobFilter, init=False)
    """Which jobs are listed; changing it re-reads from the first page."""
    sort: reactive[Sort] = reactive(Sort.RECENT, init=False)
    """The listing's order (newest change first by default)."""

    def __init__(self, connection: ConnectionSummary | None, where: JobFilter, *,
                 name: str | None = None) -> None:
        """`connection`: the one drilled into; None (with a `name`) for a problem group."""
        super().__init__()
        self.look = Look(self._is_marked, self._retrying, datetime.now(UTC))
        """Read by the table's rows; `now` is the service's clock from mounting on."""
        self._listing(connection, where, name)

    def _listing(self, connection: ConnectionSummary | None, where: JobFilter,
                 name: str | None) -> None:
        """What is listed, and nothing held over from a listing shown before."""
        self.connection = connection
        self.set_reactive(RecordScreen.where, where)
        self.set_reactive(RecordScreen.sort, Sort.RECENT)
        self.scope_name = name or (describe(connection) if connection else "every connection")
        self.title = (f"{self.scope_name} › {where.entity.label if where.entity else 'all'}s"
                      if connection else self.scope_name)
        self.query_text = ""
        """The filter bar's query, as typed ("" when none applies)."""
        self.before_query = where
        """The filter the query narrowed: what `esc` goes back to."""
        self.following: dict[int, tuple[int, datetime]] = {}
        """Retried job ids: the row each was shown at and when it was retried."""
        self.followed: dict[int, JobRow] = {}
        """The followed jobs as last read (by id, whatever the filter)."""
        self.marked: set[int] = set()
        self.marked_query: JobFilter | None = None
        """Set by `A`: every job matching this filter is marked."""
        self.marked_count = 0
        self.counted = False
        """Whether the table's total is the count of the current filter (not a guess)."""

    def show_listing(self, connection: ConnectionSummary | None, where: JobFilter, *,
                     name: str | None = None) -> None:
        """Show another listing on this (composed, dismissed) screen: opening one is then
        a read and a paint, not the composition of a screen (Footer, Input, table: ~0.4 s
        at 120x40). Pushed again, it reads on resume."""
        self._listing(connection, where, name)
        if not self.is_mounted:
            return  # composed with it when first pushed
        self.query_one(FilterBar).close()
        self.query_one(JobTable).clear()
        self.look.now = self.syncdesk.service.clock()
        self._fit(self.app.size.width)
        self._show_filters()
        self._show_position()
        self.query_one(JobTable).focus()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="filters")
        yield FilterBar(self.syncdesk.service.clock, id="filter-bar")
        yield JobTable(self.look, id="jobs")
        yield Static(id="strip")
        yield Static(id="window")
        yield Activity()
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.look.now = self.syncdesk.service.clock()
        self._show_filters()
        self._fit(self.app.size.width)
        self.query_one(JobTable).focus()

    def on_resize(self, event: events.Resize) -> None:
        if self._fit(event.size.width):
            self._show_strip()

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
        """Re-read the window held and the count (live refresh): the rows stay in place."""
        table = self.query_one(JobTable)
        self._read(table.first_shown, table.page, again=True)

    def _restart(self) -> None:
        """A new filter or sort: its first rows, then its count."""
        self.counted = False
        self._read(0, self.query_one(JobTable).page, home=True)

    @on(JobTable.Wanted)
    def _wanted(self, event: JobTable.Wanted) -> None:
        event.stop()
        self._read(event.start, event.count)

    @work(exclusive=True, group="page", exit_on_error=False)
    async def _read(self, start: int, count: int, *, home: bool = False,
                    again: bool = False) -> None:
        """Rows `start` .. `start + count` (those on screen) with a screen around them."""
        service, table = self.syncdesk.service, self.query_one(JobTable)
        where, sort = self.where, self.sort
        low, high = max(0, start - count), start + count * (SCREENS - 1)
        held, first = table.held, table.start
        # Where the listing ends, when this read reached its end (fewer rows than asked).
        ends: int | None = None
        jumped = False
        if home or (again and first == 0) or not table.cursors:
            got, first = await service.rows_after(where, sort, limit=high), 0
            ends = len(got.rows) if len(got.rows) < high else None
        elif again:
            limit = max(len(held), high - first)
            got = await service.rows_after(where, sort, table.cursors[0], inclusive=True,
                                           limit=limit)
            ends = first + len(got.rows) if len(got.rows) < limit else None
        elif table.start < start + count and start < table.end + count:
            more = await service.rows_after(where, sort, table.cursors[-1],
                                            limit=high - table.end)
            if len(more.rows) < high - table.end:
                ends = table.end + len(more.rows)
            got, first = _trim(_joined(_held(table), more), first, low, high)
        elif start < table.start < start + 2 * count:
            more = await service.rows_before(where, sort, table.cursors[0],
                                             limit=table.start - low)
            # Fewer rows above than the window's row number says: rows went; it starts at 0.
            first = first - len(more.rows) if len(more.rows) == table.start - low else 0
            got, first = _trim(_joined(more, _held(table)), first, low, high)
        elif start == 0:
            got, first = await service.rows_after(where, sort, limit=high), 0
            ends = len(got.rows) if len(got.rows) < high else None
        elif start + count >= table.total:
            got = await service.rows_before(where, sort, limit=table.total - low)
            first = table.total - len(got.rows)
            if len(got.rows) < table.total - low:
                first, ends = 0, len(got.rows)
        else:
            # Row N: the screen alone (a third of a window's rows, each from anywhere in
            # the store's file), and a screen either side once it is drawn (`_widen`).
            first, jumped = max(0, min(start, table.total - count)), True
            got = await service.rows_at(where, sort, first, limit=count, total=table.total)
            ends = first + len(got.rows) if len(got.rows) < count else None
        if self.following:
            ids = tuple(self.following)
            followed = await service.page(JobFilter(ids=ids), limit=len(ids))
            self.followed = {job.id: job for job in followed.rows}
        if not self.showing:
            return
        self.look.now = service.clock()
        rows, cursors = self._with_followed(got, first)
        extra = len(rows) - len(got.rows)
        table.show(first, rows, cursors, total=None if ends is None else ends + extra,
                   home=home)
        self.counted = self.counted or (home and ends is not None)
        self._show_position()
        if home or again:
            total = await service.total(where)
            if self.showing and where == self.where and sort == self.sort:
                table.count(total + extra)
                self.counted = True
                self._show_position()
        if jumped and table.held:
            await self._widen(where, sort, count)

    async def _widen(self, where: JobFilter, sort: Sort, count: int) -> None:
        """A screen of rows above and below the one a jump read, so the next moves find
        them held (the rows on screen are kept as they were drawn)."""
        drawn = asyncio.get_running_loop().create_future()
        self.call_after_refresh(drawn.set_result, None)
        await drawn  # after the jump's frame, not beside it (the frame needs the interpreter)
        service, table = self.syncdesk.service, self.query_one(JobTable)
        first = table.start
        above = (await service.rows_before(where, sort, table.cursors[0], limit=min(count, first))
                 if first else Slice([], []))
        below = await service.rows_after(where, sort, table.cursors[-1], limit=count)
        if not self.showing or where != self.where or sort != self.sort:
            return
        # Fewer rows above than the row number says: rows went; it starts at 0.
        first = first - len(above.rows) if len(above.rows) == min(count, first) else 0
        window = _joined(_joined(above, _held(table)), below)
        table.show(first, window.rows, window.cursors,
                   total=first + len(window.rows) if len(below.rows) < count else None)

    def tick(self, now: datetime) -> None:
        self.look.now = now
        self.query_one(JobTable).restyle()
        self._show_strip()

    def _show_position(self) -> None:
        table = self.query_one(JobTable)
        text = Text()
        if table.typed is not None:
            text.append(f"go to row :{table.typed}▏", "bold")
            text.append("  enter jumps, esc leaves", "dim")
        elif table.total:
            text.append(f"row {table.cursor_row + 1:,} of {table.total:,}")
            if not self.counted:
                text.append("+ (counting…)")
        else:
            text.append("no records match" if self.counted else "reading…")
        # One line, always: no layout, only that line is drawn again.
        self.query_one("#window", Static).update(text, layout=False)

    def _show_strip(self) -> None:
        if self.query_one(JobTable).narrow:
            job = self.current_job()
            self.query_one("#strip", Static).update(strip(job, self.look.now) if job else "")

    @on(JobTable.Highlighted)
    def _highlighted(self, event: JobTable.Highlighted) -> None:
        event.stop()
        self._show_strip()
        self._show_position()

    @on(JobTable.Selected)
    def _open(self, event: JobTable.Selected) -> None:
        event.stop()
        self.app.push_screen(DetailScreen(event.job.id))

    def current_job(self) -> JobRow | None:
        return self.query_one(JobTable).cursor_job

    # -- jumping to a row ---------------------------------------------------------------

    def action_goto_row(self) -> None:
        self.query_one(JobTable).start_typing()
        self._prepare_jump(self.where, self.sort)

    @work(group="jump", exit_on_error=False)
    async def _prepare_jump(self, where: JobFilter, sort: Sort) -> None:
        """While the row number is typed: the jump then seeks near the row instead of
        skipping up to half the listing's index."""
        await self.syncdesk.service.prepare_jump(where, sort)

    @on(JobTable.Typed)
    def _typed(self, event: JobTable.Typed) -> None:
        event.stop()
        self._show_position()

    # -- following retries --------------------------------------------------------------

    def _with_followed(self, got: Slice, first: int) -> tuple[list[JobRow], list[Cursor]]:
        """The window's rows, each followed row as last read and put back where it was
        shown if the filter no longer lists it."""
        rows = [self.followed.get(job.id, job) for job in got.rows]
        cursors = list(got.cursors)
        listed = {job.id for job in rows}
        for job_id, (position, _) in sorted(self.following.items(), key=lambda f: f[1][0]):
            at = position - first
            if job_id not in listed and job_id in self.followed and 0 <= at <= len(rows):
                rows.insert(at, self.followed[job_id])
                # Its neighbour's place: reading on from it reads on from where it was.
                cursors.insert(at, cursors[min(at, len(cursors) - 1)] if cursors
                               else Cursor(None, job_id))
        return rows, cursors

    def _retrying(self, job: JobRow) -> bool:
        """Retried and no outcome yet: not re-queued so far, or queued or being sent."""
        follow = self.following.get(job.id)
        return follow is not None and (job.updated_at < follow[1]
                                       or job.status in ("pending", "in_flight"))

    def _follow(self, jobs: list[JobRow]) -> None:
        at = self.syncdesk.service.clock()
        table = self.query_one(JobTable)
        places = {job.id: table.start + index for index, job in enumerate(table.held)}
        for job in jobs[:FOLLOW]:
            self.following[job.id] = (places.get(job.id, table.cursor_row), at)
            self.followed[job.id] = job
        table.restyle()

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
        self._restart()

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
        self._restart()

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
        self.query_one("#filters", Static).update(text, layout=False)

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
        self._prepare_search()

    @work(group="search", exit_on_error=False)
    async def _prepare_search(self) -> None:
        """While the query is typed: the first search would otherwise read the sample."""
        await self.syncdesk.service.prepare_search()

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
        self.query_one(JobTable).restyle()
        self._show_filters()

    def action_mark(self) -> None:
        job = self.current_job()
        if job is None:
            return
        if self.marked_query is not None:
            self.notify("Every matching record is marked; U clears the marks.")
            return
        self.marked ^= {job.id}
        self.query_one(JobTable).restyle()
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
            self._follow([job for job in self.query_one(JobTable).held
                          if job.id in self.marked])
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



def _held(table: JobTable) -> Slice:
    return Slice(table.held, table.cursors)


def _joined(before: Slice, after: Slice) -> Slice:
    return Slice(before.rows + after.rows, before.cursors + after.cursors)


def _trim(window: Slice, first: int, low: int, high: int) -> tuple[Slice, int]:
    """Rows `low` .. `high` of a window that starts at row `first` (what it holds of them)."""
    cut, end = max(0, low - first), max(0, high - first)
    return Slice(window.rows[cut:end], window.cursors[cut:end]), first + cut
