"""One connection on the dashboard: its health line and its counts per entity and status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from engine import ConnectionSummary, DayBudget, Entity

from ..format import ERROR, OK, STATUS_STYLE, WARNING, ago, span, until
from .table import Row, Table

COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("synced", "synced", ("synced",)),
    ("pending", "pending", ("pending", "in_flight")),
    ("failed", "failed", ("failed",)),
    ("blocked", "blocked", ("blocked",)),
    ("skipped", "skipped", ("skipped",)),
    ("broken_link", "broken", ("broken_link",)),
    ("uncertain", "uncertain", ("uncertain",)),
)
"""Column key, label, and the job statuses the column counts (and opens)."""

_STATUSES = {key: statuses for key, _, statuses in COLUMNS}

PARKED_WINDOW = timedelta(minutes=10)
"""How far back a parked connection's 429s are counted, to say why it waits."""


def parked(connections: Sequence[ConnectionSummary], now: datetime) -> bool:
    return any(c.parked_until is not None and c.parked_until > now for c in connections)


class ConnectionPanel(Vertical, can_focus=False):
    """Shows one `ConnectionSummary`; `enter` on a cell asks to open those records."""

    class OpenRecords(Message):
        """The user picked an entity (and maybe a status column) of this connection."""

        def __init__(self, summary: ConnectionSummary, entity: Entity,
                     statuses: tuple[str, ...]) -> None:
            super().__init__()
            self.summary = summary
            """The connection the records belong to."""
            self.entity = entity
            """Which kind of record."""
            self.statuses = statuses
            """The statuses of the picked column; empty for every status."""

    def __init__(self, summary: ConnectionSummary, position: int, now: datetime,
                 rate_limited: int = 0, day_budget: DayBudget | None = None) -> None:
        super().__init__(id=f"connection-{summary.id}", classes="panel")
        self.summary = summary
        self.position = position
        self.rate_limited = rate_limited
        """429s in the last `PARKED_WINDOW`: why the connection is parked."""
        self.day_budget = day_budget
        """Today's quota against the waiting work, where the platform has a daily limit."""
        self._now = now
        self._health: Text | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="health")
        yield Table([("entity", "", 12), *((key, label, None) for key, label, _ in COLUMNS)],
                    classes="counts")

    def on_mount(self) -> None:
        self.query_one(Table).cursor_type = "cell"
        self.show(self.summary, self._now)

    @property
    def table(self) -> Table:
        return self.query_one(Table)

    def show(self, summary: ConnectionSummary, now: datetime) -> None:
        """Update in place: the health line and the cells whose count changed."""
        self.summary = summary
        # Content, not a str: a tenant named "Builders [/Line/0] Inc" is not markup.
        self.border_title = Content(
            f"{self.position} · {summary.platform} · {summary.tenant_name}")
        line = health(summary, now, self.rate_limited, self.day_budget)
        if line != self._health:
            # Its height can change (a narrow terminal wraps it): a layout, so only when the
            # words changed, not on every tick of the clock.
            self._health = line
            self.query_one(".health", Static).update(line)
        rows: list[Row] = []
        by_entity = {counts.entity: counts for counts in summary.counts}
        for entity in Entity:
            counts = by_entity.get(entity)
            cells = [Text(entity.label + "s", style="bold")]
            for key, _, statuses in COLUMNS:
                n = sum(counts[s] for s in statuses) if counts else 0
                cells.append(Text(f"{n:,}", style=STATUS_STYLE[key] if n else "dim",
                                  justify="right"))
            rows.append((entity.value, cells))
        self.table.sync(rows)

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        row, column = event.cell_key.row_key.value, event.cell_key.column_key.value
        if row is None or column is None:
            return
        self.post_message(self.OpenRecords(self.summary, Entity(row),
                                           _STATUSES.get(column, ())))


def health(summary: ConnectionSummary, now: datetime, rate_limited: int = 0,
           day: DayBudget | None = None) -> Text:
    """The connection's state, quota, token life, last success and how far behind it is;
    when parked, for how long more and why (`rate_limited` 429s in `PARKED_WINDOW`); with a
    daily quota, what is left of it against what the waiting records need (`day`)."""
    text = Text()
    state = {
        "active": ("● connected", OK),
        "paused": ("‖ paused", WARNING),
        "needs_reconnect": ("✖ needs reconnecting", f"bold {ERROR}"),
        "disconnected": ("○ disconnected", "dim"),
    }.get(summary.state, (summary.state, ""))
    text.append(*state)
    if summary.parked_until is not None and summary.parked_until > now:
        why = (f": 429 ×{rate_limited} in {span(PARKED_WINDOW.total_seconds())}"
               if rate_limited else "")
        text.append(f"  rate-limited, parked {until(summary.parked_until, now)}{why}",
                    WARNING)
    if summary.state_reason:
        text.append(f" ({summary.state_reason})", "dim")
    readings = [(summary.minute_remaining, "min")]
    if day is None:
        readings.append((summary.day_remaining, "day"))
    quota = [f"{n:,}/{unit}" for n, unit in readings if n is not None]
    if quota:
        text.append("  quota left " + " ".join(quota))
    if summary.refresh_expires_at is not None:
        days = (summary.refresh_expires_at - now).total_seconds() / 86400
        text.append(f"  token {int(days)}d left" if days > 0 else "  token expired",
                    WARNING if days < 7 else "")
    text.append(f"\nlast sync {ago(summary.last_success_at, now)}")
    if summary.oldest_pending_at is not None:
        text.append(f"  behind {span((now - summary.oldest_pending_at).total_seconds())}",
                    WARNING)
    else:
        text.append("  up to date", OK)
    if day is not None:
        # Beside how far behind: whether today's quota can carry what is waiting.
        text.append(f"  {day.left:,} of {day.per_day:,} calls left today")
        if day.records:
            text.append(f"; {day.records:,} record{'s' if day.records != 1 else ''} "
                        f"need{'s' if day.records == 1 else ''} ~{day.calls:,}",
                        "" if day.enough else WARNING)
    return text
