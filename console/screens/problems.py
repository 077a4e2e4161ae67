"""Every record that needs a person, across every connection, in one queue of groups.

Groups are the service's (`SyncService.problems`): platform → kind → error class → code →
message with names and numbers folded, each with its count and the age of its oldest. The
table reads like a tree: a platform, class or code is written once, on the first row of its
run. `enter` opens a group's records in the record view (marks, `r`, `R`, `/` work there as
anywhere); `R` retries the cursor's group, or every marked group, behind the confirm that
names the count and the scope; `/` narrows the queue by the same query as the record view.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on
from textual.widget import Widget
from textual.widgets import DataTable, Static

from engine import JobFilter, ProblemGroup

from ..format import ERROR, count, plain, span, status
from ..keymap import bind
from ..widgets.filter_bar import FilterBar
from ..widgets.table import Columns, Row, Table
from .base import ListScreen

COLUMNS: Columns = [
    ("mark", " ", 1),
    ("platform", "platform", 10),
    ("kind", "status", 13),
    ("class", "class", 12),
    ("code", "code", 10),
    ("count", "count", 8),
    ("oldest", "oldest", 6),
    ("message", "message", 90),
]

MARK = Text("●", style="bold yellow")


def group_name(group: ProblemGroup) -> str:
    """A group in words, for titles and confirmations."""
    reason = "/".join(part for part in (group.error_class, group.error_code) if part)
    return " · ".join(part for part in (group.platform, group.kind.replace("_", " "), reason,
                                        group.message.splitlines()[0] if group.message else "")
                      if part)


class ProblemsScreen(ListScreen):
    TITLE = "Problems"
    BINDINGS = [bind("retry_matching"), bind("retry"), bind("mark"), bind("search"),
                bind("clear_marks"), bind("back")]
    COLUMNS = COLUMNS
    NARROW = ("mark", "platform", "kind", "count", "message")
    TABLE_ID = "problems"

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, ProblemGroup] = {}
        """The groups shown, by row key."""
        self.marked: set[str] = set()
        self.where = JobFilter()
        """What the filter bar narrowed the queue to (everything by default)."""
        self.query_text = ""

    def reopen(self) -> None:
        """Open again as a new queue: no marks and no query from the last time."""
        self.marked.clear()
        self.query_text, self.where = "", JobFilter()
        if self.is_mounted:
            self.query_one(FilterBar).close()
            self.query_one(Table).focus()

    def above_table(self) -> list[Widget]:
        return [Static(id="totals"), FilterBar(self.syncdesk.service.clock, id="filter-bar")]

    async def read(self) -> None:
        groups = await self.syncdesk.service.problems(self.where)
        self.groups = {_key(group): group for group in groups}
        self.marked &= set(self.groups)

    def rows(self, now: datetime) -> list[Row]:
        total = sum(group.count for group in self.groups.values())
        totals = Text()
        totals.append(f"{count(total, 'record')} need a person, in "
                      f"{count(len(self.groups), 'group')}", "bold" if total else "")
        if self.query_text:
            totals.append("  query ", "dim")
            totals.append(self.query_text, "bold")
        if self.marked:
            totals.append(f"  marked: {len(self.marked)}", "bold yellow")
        totals.no_wrap, totals.overflow = True, "ellipsis"
        # One line, always: redrawn every second (the ages) without laying out the screen.
        self.query_one("#totals", Static).update(totals, layout=False)
        rows: list[Row] = []
        previous: tuple[str, ...] = ()
        for key, group in self.groups.items():
            path = (group.platform, group.kind, group.error_class or "", group.error_code or "")
            same = [a == b for a, b in zip(path, previous, strict=False)] + [False] * 4
            # A tree: each level is written once, where it starts (and below a change above).
            new = [not all(same[:i + 1]) for i in range(4)]
            previous = path
            rows.append((key, [
                MARK if key in self.marked else Text(" "),
                plain(group.platform if new[0] else "", "bold"),
                status(group.kind) if new[1] else Text(""),
                plain(group.error_class if new[2] else ""),
                plain(group.error_code if new[3] else ""),
                Text(f"{group.count:,}", justify="right"),
                Text(span((now - group.oldest).total_seconds())),
                plain(group.message.splitlines()[0] if group.message else "",
                      ERROR if group.kind == "failed" else ""),
            ]))
        return rows

    def current_group(self) -> ProblemGroup | None:
        return self.groups.get(self.query_one(Table).cursor_key or "")

    @on(DataTable.RowSelected, "#problems")
    def _open(self, event: DataTable.RowSelected) -> None:
        group = self.groups.get(str(event.row_key.value))
        if group is not None:
            self.syncdesk.open_records(None, group.where,
                                       name=f"Problems › {group_name(group)}")

    def action_mark(self) -> None:
        key = self.query_one(Table).cursor_key
        if key is None:
            return
        self.marked ^= {key}
        self.query_one(Table).action_cursor_down()
        self.tick(self.syncdesk.service.clock())

    def action_clear_marks(self) -> None:
        self.marked.clear()
        self.tick(self.syncdesk.service.clock())

    def action_retry_matching(self) -> None:
        """The marked groups, else the cursor's: one confirm for all of them (`r` and `R`
        alike: a group is always a query)."""
        groups = [self.groups[key] for key in self.groups if key in self.marked]
        if not groups and (group := self.current_group()) is not None:
            groups = [group]
        if not groups:
            return
        scope = (f"every connection to {group_name(groups[0])}" if len(groups) == 1 else
                 f"{len(groups)} problem groups: "
                 + "; ".join(group_name(g) for g in groups[:3])
                 + ("; …" if len(groups) > 3 else ""))
        self.syncdesk.retry_where([g.where for g in groups], scope,
                                  on_confirmed=self.action_clear_marks)

    action_retry = action_retry_matching

    def action_search(self) -> None:
        self.query_one(FilterBar).open(self.query_text)

    @on(FilterBar.Applied)
    def _queried(self, event: FilterBar.Applied) -> None:
        event.stop()
        self.query_one(FilterBar).close()
        self.query_one(Table).focus()
        self.query_text, self.where = event.query, event.where or JobFilter()
        self.reload()

    def action_back(self) -> None:
        if self.query_text:
            self.query_text, self.where = "", JobFilter()
            self.notify("Filter cleared; esc again goes back.")
            self.reload()
        else:
            self.dismiss()


def _key(group: ProblemGroup) -> str:
    return "\x1f".join((group.platform, group.kind, group.error_class or "",
                        group.error_code or "", group.message))
