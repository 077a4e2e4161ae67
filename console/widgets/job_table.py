"""The records of a listing, however many the store holds: a line-API table that draws only
the rows on screen, from a window of them the screen reads by keyset.

The table knows the listing's length (`total`) and holds `held`: the jobs from row `start`
on, a few screens of them. The cursor keys, `g`, `G`, `:N`, the mouse wheel and the scroll
bar move over all `total` rows; when a row on screen is not held the table posts `Wanted`
(the latest replaces any still queued), the screen reads those rows (on from the window by
its cursors when they are next to it, else by row number) and hands them back with `show`.
Until they arrive their lines are drawn as `…`, except after a jump (`:N`, `g`, `G`): that
move waits for its rows, so its one frame is the answer. Drawing a screen costs its ~40
rows, never the listing's length, and nothing is measured per cell: every column has a
fixed width and the error takes what is left.

Below `NARROW_BELOW` columns the table keeps the label, the status and the error (what a
person triages by); the record screen shows the other fields of the cursor row in a strip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine import Cursor, JobRow

from ..format import ERROR, ago, money, plain, status
from ..keymap import bind
from .table import NARROW_BELOW, Columns

COLUMNS: Columns = [
    ("mark", " ", 1),
    ("label", "number / name", 14),
    ("customer", "customer", 16),
    ("amount", "amount", 13),
    ("status", "status", 13),
    ("remote", "remote id", 9),
    ("attempts", "#", 2),
    ("last", "last try", 8),
    ("error", "error", None),
]
"""Fixed widths; the error (None) takes the rest of the line."""

NARROW = ("mark", "label", "status", "error")
RIGHT = frozenset({"amount", "attempts"})
"""Columns whose text is flush right."""
MIN_ERROR = 12

MARK = Text("●", style="bold yellow")
NO_MARK = Text(" ")
PLACEHOLDER = "…"


@dataclass
class Look:
    """What a row's cells depend on besides the job: marks, followed retries, the clock."""

    marked: Callable[[int], bool]
    retrying: Callable[[JobRow], bool]
    now: datetime


class JobTable(ScrollView, can_focus=True):
    """Every row of a listing, drawn from the window the screen last read."""

    BINDINGS = [
        bind("cursor_down"),
        bind("cursor_up"),
        bind("top", "scroll_top"),
        bind("bottom", "scroll_bottom"),
        Binding("down", "cursor_down", show=False),
        Binding("up", "cursor_up", show=False),
        Binding("pagedown", "page_down", show=False),
        Binding("pageup", "page_up", show=False),
        Binding("home", "scroll_top", show=False),
        Binding("end", "scroll_bottom", show=False),
        Binding("enter", "select", show=False),
    ]

    COMPONENT_CLASSES = {"job-table--header", "job-table--cursor", "job-table--pending"}

    class Wanted(Message):
        """Rows `start` .. `start + count` are on screen and not held: read and `show` them."""

        def __init__(self, table: JobTable, start: int, count: int) -> None:
            super().__init__()
            self.table = table
            self.start = start
            self.count = count

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, JobTable.Wanted) and message.table is self.table

    class Highlighted(Message):
        """The cursor moved to row `row`; `job` is None until that row is read."""

        def __init__(self, row: int, job: JobRow | None) -> None:
            super().__init__()
            self.row = row
            self.job = job

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, JobTable.Highlighted)

    class Typed(Message):
        """The row number typed after `:` so far (None: done or given up)."""

        def __init__(self, text: str | None) -> None:
            super().__init__()
            self.text = text

    class Selected(Message):
        """`enter` on a row: open `job`."""

        def __init__(self, job: JobRow) -> None:
            super().__init__()
            self.job = job

    def __init__(self, look: Look, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.look = look
        self.spec: Columns = COLUMNS
        """The columns shown."""
        self.total = 0
        """How many rows the listing has (as last counted)."""
        self.start = 0
        """The row number of `held[0]`."""
        self.held: list[JobRow] = []
        self.cursors: list[Cursor] = []
        """Each held row's place in the listing's order: where to read on from."""
        self.cursor_row = 0
        """The cursor's row number in the whole listing."""
        self.typed: str | None = None
        """The row number being typed after `:` (None: not typing one)."""
        self._jump: int | None = None
        """The row `jump` moves to once its screen's rows are held."""
        self._drawn: dict[tuple[int, bool, int], Strip] = {}
        """Rows drawn since the rows, the columns or their look last changed."""
        self._paint: Paint | None = None
        """The widths and styles lines are drawn with, until a style or the columns change."""

    # -- what is held ---------------------------------------------------------------------

    def show(self, start: int, jobs: Sequence[JobRow], cursors: Sequence[Cursor], *,
             total: int | None = None, home: bool = False) -> None:
        """Hold `jobs` as rows `start` on (a new window, or the old one re-read); `total`
        when the read reached the listing's end; `home` puts the cursor on the first row (a
        new filter or sort)."""
        was = dict(enumerate(self.held, self.start))
        self.start, self.held, self.cursors = start, list(jobs), list(cursors)
        # A row drawn is kept where the same job (the same object: not read again) is on it.
        self._drawn = {key: line for key, line in self._drawn.items()
                       if was.get(key[0]) is self.job_at(key[0]) is not None}
        self.total = max(self.total if total is None else total, self.end)
        self._resize()
        if home:
            self._jump = None
            self.cursor_row = 0
            self.scroll_to(y=0, animate=False, immediate=True)
        if self._jump is not None:
            self.move_cursor(self._jump)  # these rows, or it asks again for its own
            return
        self.cursor_row = max(0, min(self.cursor_row, self.total - 1))
        self.refresh()
        self._want()
        self._highlighted()

    def clear(self) -> None:
        """Hold nothing, at the top: for another listing (its rows are read next)."""
        self.start, self.held, self.cursors, self.total = 0, [], [], 0
        self.cursor_row = 0
        self._jump = None
        self.typed = None
        self._drawn.clear()
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def count(self, total: int) -> None:
        """The listing was counted again (rows held beyond it are kept: they are on screen)."""
        self.total = max(total, self.end)
        self._resize()
        self.refresh()
        self._want()

    @property
    def end(self) -> int:
        """The row number after the last one held."""
        return self.start + len(self.held)

    def job_at(self, row: int) -> JobRow | None:
        index = row - self.start
        return self.held[index] if 0 <= index < len(self.held) else None

    @property
    def cursor_job(self) -> JobRow | None:
        return self.job_at(self.cursor_row)

    @property
    def cursor_key(self) -> str | None:
        job = self.cursor_job
        return None if job is None else str(job.id)

    @property
    def rows(self) -> dict[str, JobRow]:
        """The held rows by key (job id)."""
        return {str(job.id): job for job in self.held}

    @property
    def row_count(self) -> int:
        return self.total

    def get_row_at(self, row: int) -> list[Text]:
        """The cells of row `row` (held), in the order of the columns shown."""
        job = self.job_at(row)
        if job is None:
            raise IndexError(row)
        return self._cells(job)

    def get_cell_at(self, coordinate: Coordinate) -> Text:
        return self.get_row_at(coordinate.row)[coordinate.column]

    def get_cell(self, key: str, column: str) -> Text:
        """The cell of the held row `key` in `column`."""
        job = self.rows[key]
        keys = [name for name, _, _ in self.spec]
        return self._cells(job)[keys.index(column)]

    # -- what is on screen ----------------------------------------------------------------

    @property
    def page(self) -> int:
        """Rows on screen (the header takes a line); before the first layout, as many as
        the terminal has lines, so the first read is not one row."""
        height = self.scrollable_content_region.height or self.app.size.height
        return max(1, height - 1)

    @property
    def first_shown(self) -> int:
        return round(self.scroll_y)

    def _resize(self) -> None:
        """The scroll range for `total` rows, set without laying out the screen: the
        reactive `virtual_size` lays out every widget (~15 ms at 120x40, each time a window
        or a count arrives) when only the scroll bar and the scroll offset's clamp depend on
        it (a scroll bar that appears or goes still lays out, as it must)."""
        size = Size(0, self.total + 1)
        if size != self.virtual_size:
            self.set_reactive(JobTable.virtual_size, size)
            self._scroll_update(size)
            self.refresh()

    def _want(self) -> None:
        """Ask for the rows on screen that are not held (none when all are)."""
        first = self.first_shown
        last = min(self.total, first + self.page)
        if first < last and (first < self.start or last > self.end):
            self.post_message(self.Wanted(self, first, last - first))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._want()

    def on_resize(self) -> None:
        self._want()

    def _highlighted(self) -> None:
        self.post_message(self.Highlighted(self.cursor_row, self.cursor_job))

    # -- moving ---------------------------------------------------------------------------

    def move_cursor(self, row: int) -> None:
        """Put the cursor on row `row` of the listing (clamped) and scroll it into view."""
        self._jump = None
        if not self.total:
            return
        row = max(0, min(row, self.total - 1))
        self.cursor_row = row
        top = self._top(row)
        if top != self.first_shown:
            self.scroll_to(y=top, animate=False, immediate=True)
        self.refresh()
        self._want()
        self._highlighted()

    def jump(self, row: int) -> None:
        """`move_cursor` to a row whose screen may not be held: its rows are asked for
        first and the move is made when `show` holds them, so one frame draws the answer.
        A frame of `…` before it cost a third of the 50 ms a key has, and held the
        interpreter the read needed. Any other move, or a new listing, drops the jump."""
        row = max(0, min(row, self.total - 1))
        top = self._top(row)
        last = min(self.total, top + self.page)
        if top == self.first_shown or (self.start <= top and last <= self.end):
            self.move_cursor(row)
            return
        self._jump = row
        self.post_message(self.Wanted(self, top, last - top))

    def _top(self, row: int) -> int:
        """The first row on screen once `row` is in view (the least scroll that shows it)."""
        first, page = self.first_shown, self.page
        if row < first:
            return row
        if row >= first + page:
            return row - page + 1
        return first

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + self.page)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - self.page)

    def action_scroll_top(self) -> None:
        self.jump(0)

    def action_scroll_bottom(self) -> None:
        self.jump(self.total - 1)

    def action_select(self) -> None:
        if (job := self.cursor_job) is not None:
            self.post_message(self.Selected(job))

    # -- :N -------------------------------------------------------------------------------

    def start_typing(self) -> None:
        """Take the keys that follow as a row number, until `enter` (jump) or `esc`.

        Typed here rather than in an input: moving the focus to one and back restyles the
        screen and rebuilds its footer, which alone cost more than the 50 ms a jump has."""
        self._typed("")

    def _typed(self, text: str | None) -> None:
        self.typed = text
        self.post_message(self.Typed(text))

    async def _on_key(self, event: events.Key) -> None:
        if self.typed is None:
            await super()._on_key(event)
            return
        event.stop()
        event.prevent_default()
        typed = self.typed
        if event.character is not None and event.character.isdigit():
            self._typed(typed + event.character)
        elif event.key == "backspace":
            self._typed(typed[:-1])
        elif event.key == "enter":
            self._typed(None)
            if typed:
                self.jump(int(typed) - 1)
        elif event.key == "escape":
            self._typed(None)
        elif event.is_printable:
            self._typed(None)
            self.notify(f"Not a row number: {typed}{event.character}", markup=False)

    def on_focus(self) -> None:
        self.restyle()

    def on_blur(self) -> None:
        self.restyle()

    def on_click(self, event: events.Click) -> None:
        if event.y > 0:
            self.move_cursor(self.first_shown + event.y - 1)

    # -- columns --------------------------------------------------------------------------

    @property
    def narrow(self) -> bool:
        return self.spec is not COLUMNS

    def fit(self, width: int) -> bool:
        """Narrow the columns (or widen them back) for a terminal `width` columns wide; True
        if that changed them."""
        narrow = width < NARROW_BELOW
        if narrow == self.narrow:
            return False
        self.spec = [c for c in COLUMNS if c[0] in NARROW] if narrow else COLUMNS
        self.restyle()
        return True

    def restyle(self) -> None:
        """Draw every row again: their look (marks, the clock, followed retries) changed."""
        self._drawn.clear()
        self._paint = None
        self.refresh()

    def notify_style_update(self) -> None:
        self._drawn.clear()  # drawn with the styles that just changed (a theme, the focus)
        self._paint = None
        super().notify_style_update()

    def _cells(self, job: JobRow) -> list[Text]:
        cells = job_row(job, self.look.marked(job.id), self.look.now, self.look.retrying(job))
        shown = {key for key, _, _ in self.spec}
        return [cell for (key, _, _), cell in zip(COLUMNS, cells, strict=True) if key in shown]

    # -- drawing --------------------------------------------------------------------------

    def _paint_at(self, width: int) -> Paint:
        """The column widths and styles a frame draws with, worked out once rather than per
        line: `rich_style` walks every ancestor's styles (~0.1 ms a line, most of a screen
        of rows), and Textual drops its component styles on every refresh."""
        if self._paint is None or self._paint.width != width:
            fixed = sum(w or 0 for _, _, w in self.spec) + len(self.spec) + 1
            widths = [w if w is not None else max(MIN_ERROR, width - fixed)
                      for _, _, w in self.spec]
            self._paint = Paint(width, widths, self.rich_style, *(
                self.get_component_rich_style(f"job-table--{name}")
                for name in ("header", "cursor", "pending")))
        return self._paint

    def render_line(self, y: int) -> Strip:
        paint = self._paint_at(self.scrollable_content_region.width)
        if y == 0:
            return self._strip([Text(label) for _, label, _ in self.spec], paint, paint.header)
        row = self.first_shown + y - 1
        if row >= self.total:
            return Strip.blank(paint.width, paint.base)
        job = self.job_at(row)
        if job is None:
            return self._strip([Text(PLACEHOLDER)], paint, paint.pending)
        cursor = row == self.cursor_row
        key = (row, cursor, paint.width)
        if (drawn := self._drawn.get(key)) is None:
            drawn = self._drawn[key] = self._strip(
                self._cells(job), paint, paint.cursor if cursor else paint.base)
        return drawn

    def _strip(self, cells: Sequence[Text], paint: Paint, style: Style) -> Strip:
        """One line of cells, each cut to its column. Built as segments, not through a
        rich `Text` rendered by the console: a screen of rows is then ~2 ms, not ~9 ms, and
        every key draws one. A cell has one style (as `job_row` builds them). Neighbours of
        one style are one segment: most cells are in the line's own style, and Textual's
        every step after this (crop, its colour filter, the compositor's cuts) goes segment
        by segment, so a line of ~6 segments costs a jump's frame far less than one of 28."""
        segments: list[Segment] = []
        run, run_style = " ", style
        for (key, _, _), cell, size in zip(self.spec, cells, paint.widths, strict=False):
            text = cell.plain
            width = cell_len(text)
            if width > size:
                text = set_cell_size(text, size - 1) + "…" if size else ""
                width = cell_len(text)
            pad = " " * (size - width)
            look = style + Style.parse(cell.style) if isinstance(cell.style, str) else (
                style + cell.style)
            for piece, piece_style in (((pad, style), (text, look), (" ", style))
                                       if key in RIGHT else
                                       ((text, look), (pad, style), (" ", style))):
                if piece_style == run_style:
                    run += piece
                elif piece:
                    segments.append(Segment(run, run_style))
                    run, run_style = piece, piece_style
        segments.append(Segment(run, run_style))
        return Strip(segments).crop_extend(0, paint.width, style)


@dataclass(frozen=True)
class Paint:
    """What every line of a frame is drawn with (`JobTable._paint_at`)."""

    width: int
    widths: list[int]
    """Each shown column's, the error taking what the fixed ones leave."""
    base: Style
    header: Style
    cursor: Style
    pending: Style


def last_try(job: JobRow, now: datetime) -> str:
    return ago(job.last_attempt_at, now) if job.last_attempt_at else "—"


def error_line(job: JobRow) -> str:
    """The first line of the error (with its class), or what a blocked record waits for."""
    if job.error_message:
        prefix = f"{job.error_class}: " if job.error_class else ""
        return f"{prefix}{job.error_message}".splitlines()[0]
    if job.blocked_by:
        return f"waits for {job.blocked_by}"
    return ""


def strip(job: JobRow, now: datetime) -> Text:
    """The cursor row's fields a narrow table leaves out, on one line."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for name, value in (("customer", job.customer), ("amount", money(job.amount, job.currency)),
                        ("remote", job.remote_id or "—"), ("attempts", str(job.attempts)),
                        ("last try", last_try(job, now))):
        if value:
            text.append(f"{name} ", "dim")
            text.append(f"{value}  ")
    return text


def job_row(job: JobRow, marked: bool, now: datetime, retrying: bool = False) -> list[Text]:
    """A job's cells, in the order of `COLUMNS`."""
    return [
        MARK if marked else NO_MARK,
        plain(job.label),
        plain(job.customer),
        Text(money(job.amount, job.currency)),
        status("retrying" if retrying else job.status),
        plain(job.remote_id),
        Text(str(job.attempts)),
        Text(last_try(job, now)),
        plain(error_line(job), ERROR if job.status == "failed" else ""),
    ]
