"""The query line `/` opens: `status:failed,blocked class:duplicate code:6240 since:2d text`.

The grammar is the engine's (`JobFilter.parse`, the CLI's `--query` too); this widget only
completes it: a key from its first letters, then the key's values (the last one after a comma
for `status:`). `right` (or `end`) takes the suggestion; `esc` empties the line, which clears
the filter it applied. A query that does not parse is answered on the error line under it,
naming the bad token, and the line stays open to correct it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, Static

from engine import JOB_STATUSES, QUERY_KEYS, Entity, ErrorClass, JobFilter, QueryError

from .._names import PLATFORM_NAMES
from ..format import ERROR
from ..keymap import bind

VALUES: dict[str, tuple[str, ...]] = {
    "status": JOB_STATUSES,
    "class": tuple(c.value for c in ErrorClass),
    "platform": PLATFORM_NAMES,
    "entity": tuple(e.value for e in Entity),
    "since": ("30m", "2h", "1d", "2d", "1w"),
    "doubt": ("yes", "no"),
}
"""What each key completes to (codes are the platforms' own: not completed)."""


def complete(value: str) -> str | None:
    """`value` with its last token completed, or None when nothing fits."""
    head, _, token = value.rpartition(" ")
    key, colon, partial = token.partition(":")
    if not token:
        return None
    if not colon:
        keys = [k for k in QUERY_KEYS if k.startswith(token.lower())]
        return f"{head} {keys[0]}:".lstrip() if keys else None
    before, comma, last = partial.rpartition(",")
    options = [v for v in VALUES.get(key.lower(), ()) if v.startswith(last.lower())]
    if not options or options[0] == last:
        return None
    done = f"{key}:{before}{comma}{options[0]}"
    return f"{head} {done}".lstrip()


class QuerySuggester(Suggester):
    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return complete(value)


class QueryInput(Input):
    BINDINGS = [bind("clear_search", "clear")]

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Submitted(self, ""))


class FilterBar(Vertical):
    """Posts `Applied` with the parsed filter (None: the line was emptied)."""

    class Applied(Message):
        def __init__(self, query: str, where: JobFilter | None) -> None:
            super().__init__()
            self.query = query
            self.where = where

    def __init__(self, clock: Callable[[], datetime], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        """`since:2d` is two days before this clock's now."""

    def compose(self) -> ComposeResult:
        yield QueryInput(placeholder="status:failed class:duplicate code:6240 since:2d text; "
                         "esc clears", suggester=QuerySuggester(), id="search")
        yield Static(id="query-error")

    def on_mount(self) -> None:
        self.display = False
        self.query_one("#query-error").display = False

    def open(self, query: str) -> None:
        self.display = True
        line = self.query_one(QueryInput)
        line.value = query
        line.cursor_position = len(query)
        line.focus()

    def close(self) -> None:
        self.display = False
        self.query_one("#query-error").display = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        query = event.value.strip()
        try:
            where = JobFilter.parse(query, now=self.clock()) if query else None
        except QueryError as error:
            line = self.query_one("#query-error", Static)
            line.update(Text(str(error), style=ERROR, no_wrap=True, overflow="ellipsis"))
            line.display = True
            return
        self.post_message(self.Applied(query, where))
