"""How times, money and external text are shown. Relative times use the service's clock."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from rich.text import Text

from engine import ConnectionSummary, JobRow

PLATFORMS = ("quickbooks", "xero", "wave", "freshbooks")

STATUS_STYLE = {
    "synced": "green",
    "pending": "cyan",
    "in_flight": "cyan",
    "failed": "bold red",
    "blocked": "yellow",
    "skipped": "magenta",
    "broken_link": "bold magenta",
    "uncertain": "bold yellow",
}


def plain(value: object, style: str = "") -> Text:
    """External or user text as a cell: never parsed as markup (`[/Line/0]` stays text)."""
    return Text("" if value is None else str(value), style=style, no_wrap=True)


def status(value: str) -> Text:
    return Text(value.replace("_", " "), style=STATUS_STYLE.get(value, ""))


def span(seconds: float) -> str:
    """A duration in its largest whole unit: 45s, 12m, 3h, 9d."""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    return f"{span((now - moment).total_seconds())} ago"


def until(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    seconds = (moment - now).total_seconds()
    return f"in {span(seconds)}" if seconds > 0 else "due now"


def stamp(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None:
        return ""
    return f"{amount:,} {currency or ''}".strip()


def count(n: int, noun: str) -> str:
    """`count(1, "record")` -> "1 record", `count(2000, "record")` -> "2,000 records"."""
    return f"{n:,} {noun}{'s' * (n != 1)}"


def describe(connection: ConnectionSummary) -> str:
    """How a connection is named in messages: "quickbooks · Acme Builders"."""
    return f"{connection.platform} · {connection.tenant_name}"


def copy_text(job: JobRow) -> str:
    """What `c` copies: which record, where, and its error verbatim."""
    text = f"{job.entity.label} {job.label} ({job.record_id}) on {job.platform}: {job.status}"
    if job.error_message:
        text += f" [{job.error_class}/{job.error_code}] {job.error_message}"
    return text
