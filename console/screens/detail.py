"""One record on one platform: why it failed, every attempt, and what to do about it."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Header, Label, Static

from engine import JobDetail, JobRow, RetryPolicy

from ..format import ERROR, WARNING, ago, copy_text, money, plain, stamp, status, until
from ..keymap import bind
from ..widgets.activity import Activity
from ..widgets.footer import KeyFooter
from ..widgets.table import Table
from .base import SyncScreen

MAX_ATTEMPTS = RetryPolicy().max_attempts
"""The engine's default: a round of counted attempts (429 waits do not count) before a job
fails; the service does not know the running engine's setting."""

ATTEMPT_COLUMNS: list[tuple[str, str, int | None]] = [
    ("started", "started", 19),
    ("took", "took", 7),
    ("operation", "op", 6),
    ("outcome", "outcome", 14),
    ("class", "class", 12),
    ("code", "code", 10),
    ("http", "http", 4),
    ("message", "message", 80),
]


class DetailScreen(SyncScreen):
    """`r` retry, `y` resync, `l` re-link, `c` copy the error; the attempt history below."""

    BINDINGS = [bind("retry"), bind("resync"), bind("relink"), bind("copy"), bind("back")]

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.detail: JobDetail | None = None
        """The record as last read; None until the first read."""

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail"):
            yield Static(id="facts")
            yield Label("Attempts, newest first", classes="section")
            yield Table(ATTEMPT_COLUMNS, id="attempts")
        yield Activity()
        yield KeyFooter()

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="load", exit_on_error=False)
    async def _load(self) -> None:
        service = self.syncdesk.service
        detail = await service.job(self.job_id)
        if not self.showing:
            return
        if detail is None:
            self.notify(f"Sync job {self.job_id} no longer exists (purged?).", severity="warning")
            self.dismiss()
            return
        self.detail = detail
        job = detail.job
        self.title = f"{job.entity.label} {job.label} · {job.platform}"
        self.tick(service.clock())
        self.query_one("#attempts", Table).sync([
            (str(index), [
                Text(stamp(a.started_at)), Text(f"{a.duration_ms}ms", justify="right"),
                Text(a.operation), status(a.outcome), plain(a.error_class), plain(a.error_code),
                plain(a.http_status), plain(a.message),
            ]) for index, a in enumerate(detail.attempts)])

    def tick(self, now: datetime) -> None:
        if self.detail is not None:
            self.query_one("#facts", Static).update(facts(self.detail, now))

    def current_job(self) -> JobRow | None:
        return self.detail.job if self.detail else None

    def action_retry(self) -> None:
        if self.detail:
            self.syncdesk.retry([self.job_id])

    def action_resync(self) -> None:
        if self.detail:
            self.syncdesk.resync(self.job_id, self.detail.job.label)

    def action_relink(self) -> None:
        if self.detail:
            self.syncdesk.relink(self.job_id, self.detail.job.label)

    def action_copy(self) -> None:
        if self.detail:
            self.app.copy_to_clipboard(copy_text(self.detail.job))
            self.notify(f"Copied the error of {self.detail.job.label}.", markup=False)


def facts(detail: JobDetail, now: datetime) -> Text:
    """The record's state as label/value lines; platform text is kept verbatim."""
    job = detail.job
    text = Text()

    def line(name: str, value: str | Text, style: str = "") -> None:
        text.append(f"{name:<13}", "dim")
        if isinstance(value, Text):
            text.append_text(value)
        else:
            # Continuation lines of a multi-line platform message stay aligned.
            text.append(value.replace("\n", "\n" + " " * 13), style)
        text.append("\n")

    line("record", f"{job.entity.label} {job.label} ({job.record_id})", "bold")
    line("platform", job.platform)
    if job.customer:
        line("customer", job.customer)
    if job.amount is not None:
        line("amount", money(job.amount, job.currency))
    line("status", status(job.status))
    if job.error_message:
        line("message", job.error_message, ERROR)
    if job.error_code or job.http_status:
        line("code", f"{job.error_code or '—'}   HTTP {job.http_status or '—'}")
    if job.error_class:
        line("our class", job.error_class)
    if detail.hint:
        line("hint", detail.hint, "italic")
    line("last attempt", f"{stamp(job.last_attempt_at)}  ({ago(job.last_attempt_at, now)})")
    if job.next_attempt_at:
        line("next attempt",
             f"{stamp(job.next_attempt_at)}  ({until(job.next_attempt_at, now)})")
    # `job.attempts` starts again at 0 on a retry or a success; the history does not.
    line("attempts", f"{detail.total_attempts} in all (rate-limit waits included); "
         f"{job.attempts} of {MAX_ATTEMPTS} in this round")
    line("remote id", " ".join(part for part in (
        job.remote_id or "— not linked",
        f"number {detail.remote_number}" if detail.remote_number else "",
        f"version {detail.remote_version}" if detail.remote_version else "") if part))
    if job.blocked_by:
        line("blocked by", job.blocked_by, WARNING)
    text.rstrip()
    return text
