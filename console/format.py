"""How times, money and external text are shown. Relative times use the service's clock."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from rich.text import Text

from engine import ConnectionSummary, JobRow

OK = "#5faf5f"
WARNING = "#d7af00"
ERROR = "#ff5f5f"
"""Colours of the xterm 256-colour cube, used instead of ANSI names: "red" drifts with the
terminal's palette and falls to near-black under NO_COLOR's greys; these stay readable."""

STATUS_STYLE = {
    "synced": OK,
    "pending": "#00afd7",
    "in_flight": "#5fd7ff",
    "failed": f"bold {ERROR}",
    "blocked": WARNING,
    "skipped": "#8787af",
    "broken_link": "bold #d75fd7",
    "uncertain": "bold #ff8700",
}
"""Colours of the xterm 256-colour cube, so that over SSH (no COLORTERM) each status keeps
a colour of its own instead of collapsing onto one nearest red or magenta."""

STATUS_GLYPH = {
    "synced": "✔",
    "pending": "○",
    "in_flight": "◐",
    "failed": "✖",
    "blocked": "⊘",
    "skipped": "↷",
    "broken_link": "✂",
    "uncertain": "?",
}
"""Each status is also a shape: it reads under NO_COLOR and to colour-blind eyes."""

OTHER_STATES = {
    "retrying": ("↻", "bold #5fd7ff"),
    "retry": ("↻", "#00afd7"),
    "rate_limited": ("⧗", WARNING),
}
"""Glyph and colour of what is shown like a status but is none: a row the console follows
after a retry (`retrying`), and attempt outcomes (`retry`: a transient failure or timeout,
tried again; `rate_limited`: a 429 wait)."""


def plain(value: object, style: str = "") -> Text:
    """External or user text as a cell: never parsed as markup (`[/Line/0]` stays text)."""
    return Text("" if value is None else str(value), style=style, no_wrap=True)


def status(value: str) -> Text:
    """A job status (or attempt outcome) as its glyph and words, in its colour."""
    glyph, style = OTHER_STATES.get(value, (STATUS_GLYPH.get(value), STATUS_STYLE.get(value)))
    words = "retrying…" if value == "retrying" else value.replace("_", " ")
    return Text(f"{glyph} {words}" if glyph else words, style=style or "")


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
