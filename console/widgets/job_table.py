"""The records of a listing, one row per sync job, keyed by job id.

Below `NARROW_BELOW` columns the table keeps the label, the status and the error (what a
person triages by); the record screen shows the other fields of the cursor row in a strip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text
from textual.message import Message

from engine import JobRow

from ..format import ERROR, ago, money, plain, status
from .table import Columns, Row, Table

COLUMNS: Columns = [
    ("mark", " ", 1),
    ("label", "number / name", 14),
    ("customer", "customer", 16),
    ("amount", "amount", 13),
    ("status", "status", 13),
    ("remote", "remote id", 9),
    ("attempts", "#", 2),
    ("last", "last try", 8),
    ("error", "error", 80),
]
"""Fixed widths: a page of rows is added without measuring every cell."""

NARROW = ("mark", "label", "status", "error")

MARK = Text("●", style="bold yellow")
NO_MARK = Text(" ")


class JobTable(Table):
    """`g` asks for the first page of the listing, not only the top of the loaded window."""

    class Top(Message):
        """The user asked for the top of the listing."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, narrow=NARROW, id=id)

    def action_scroll_top(self) -> None:
        self.post_message(self.Top())
        super().action_scroll_top()

    def show(self, jobs: Sequence[JobRow], marked: Callable[[int], bool], now: datetime,
             retrying: Callable[[JobRow], bool] = lambda job: False) -> None:
        self.sync([job_row(job, marked(job.id), now, retrying(job)) for job in jobs])

    def tick(self, jobs: Sequence[JobRow], now: datetime) -> None:
        """Only the relative "last try" moves with the clock: update just those cells."""
        if "last" not in (key for key, _, _ in self.spec):
            return
        with self.app.batch_update():
            for job in jobs:
                text = last_try(job, now)
                if str(job.id) in self.rows and self.get_cell(str(job.id), "last").plain != text:
                    self.update_cell(str(job.id), "last", Text(text), update_width=False)

    def show_mark(self, job_id: int, marked: bool) -> None:
        self.update_cell(str(job_id), "mark", MARK if marked else NO_MARK)


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


def job_row(job: JobRow, marked: bool, now: datetime, retrying: bool = False) -> Row:
    return (str(job.id), [
        MARK if marked else NO_MARK,
        plain(job.label),
        plain(job.customer),
        Text(money(job.amount, job.currency), justify="right"),
        status("retrying" if retrying else job.status),
        plain(job.remote_id),
        Text(str(job.attempts), justify="right"),
        Text(last_try(job, now)),
        plain(error_line(job), ERROR if job.status == "failed" else ""),
    ])
