"""The records of a listing, one row per sync job, keyed by job id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text
from textual.message import Message

from engine import JobRow

from ..format import ago, money, plain, status
from .table import Row, Table

COLUMNS: list[tuple[str, str, int | None]] = [
    ("mark", " ", 1),
    ("label", "number / name", 14),
    ("customer", "customer", 16),
    ("amount", "amount", 13),
    ("status", "status", 11),
    ("remote", "remote id", 9),
    ("attempts", "#", 2),
    ("last", "last try", 8),
    ("error", "error", 80),
]
"""Fixed widths: a page of rows is added without measuring every cell."""

MARK = Text("●", style="bold yellow")
NO_MARK = Text(" ")


class JobTable(Table):
    """`g` asks for the first page of the listing, not only the top of the loaded window."""

    class Top(Message):
        """The user asked for the top of the listing."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, id=id)

    def action_scroll_top(self) -> None:
        self.post_message(self.Top())
        super().action_scroll_top()

    def show(self, jobs: Sequence[JobRow], marked: Callable[[int], bool],
             now: datetime) -> None:
        self.sync([job_row(job, marked(job.id), now) for job in jobs])

    def show_mark(self, job_id: int, marked: bool) -> None:
        self.update_cell(str(job_id), "mark", MARK if marked else NO_MARK)


def job_row(job: JobRow, marked: bool, now: datetime) -> Row:
    error = ""
    if job.error_message:
        prefix = f"{job.error_class}: " if job.error_class else ""
        error = f"{prefix}{job.error_message}".splitlines()[0]
    elif job.blocked_by:
        error = f"waits for {job.blocked_by}"
    return (str(job.id), [
        MARK if marked else NO_MARK,
        plain(job.label),
        plain(job.customer),
        Text(money(job.amount, job.currency), justify="right"),
        status(job.status),
        plain(job.remote_id),
        Text(str(job.attempts), justify="right"),
        Text(ago(job.last_attempt_at, now) if job.last_attempt_at else "—"),
        plain(error, "red" if job.status == "failed" else ""),
    ])
