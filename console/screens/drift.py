"""The drift view: what the last audit of each connection found differing between a synced
record and its object on the platform, both values side by side; `enter` opens the record.

`syncdesk audit` runs the audit (and the weekly sync, with `[engine] weekly_audit = true`);
this screen only reads what it stored, so a read-only console shows it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual import on
from textual.widget import Widget
from textual.widgets import DataTable, Static

from engine import AuditRun, DriftRow

from ..format import ago, count, plain
from ..keymap import bind
from ..widgets.table import Row
from .base import ListScreen
from .detail import DetailScreen

COLUMNS: list[tuple[str, str, int | None]] = [
    ("connection", "platform", 12),
    ("record", "record", 28),
    ("field", "field", 9),
    ("ledger", "ledger", 22),
    ("platform", "platform", 22),
    ("found", "found", 8),
]


class DriftScreen(ListScreen):
    TITLE = "Drift"
    BINDINGS = [bind("back")]
    COLUMNS = COLUMNS
    NARROW = ("record", "field", "ledger", "platform")
    TABLE_ID = "drift"

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, DriftRow] = {}
        """The differences shown, by row key."""
        self.runs: list[AuditRun] = []
        """Each audited connection's last run, for the line above the table."""

    def above_table(self) -> Sequence[Widget]:
        return [Static(id="audits")]

    async def read(self) -> None:
        service = self.syncdesk.service
        self.runs = await service.audit_runs()
        self.found = {f"{d.connection_id}\x1f{d.entity.value}\x1f{d.record_id}\x1f"
                      f"{d.field.value}": d for d in await service.drift()}

    def tick(self, now: datetime) -> None:
        super().tick(now)
        self.query_one("#audits", Static).update(self.summary(now))

    def summary(self, now: datetime) -> Text:
        """One line per audited connection: when, how many compared, how many differ. A
        narrow terminal cuts a line short rather than wrapping it, so every connection keeps
        its line in the four the view gives them."""
        if not self.runs:
            return Text("No audit has run yet: `syncdesk audit` compares every synced "
                        "record with its platform.")
        return Text("\n".join(
            f"{run.platform} · {run.tenant_name}: audited {ago(run.ran_at, now)}, "
            f"{count(run.compared, 'record')} compared, "
            + (f"{run.differing:,} differ" if run.differing else "all agree")
            for run in self.runs))

    def rows(self, now: datetime) -> list[Row]:
        return [(key, [
            plain(d.platform),
            plain(f"{d.entity.label} {d.label}"),
            plain(d.field.value, "bold"),
            plain(d.ledger),
            plain(d.platform_value, "bold yellow"),
            Text(ago(d.found_at, now)),
        ]) for key, d in self.found.items()]

    @on(DataTable.RowSelected, "#drift")
    def _open(self, event: DataTable.RowSelected) -> None:
        drift = self.found.get(str(event.row_key.value))
        if drift is not None and drift.job_id is not None:
            self.app.push_screen(DetailScreen(drift.job_id))
