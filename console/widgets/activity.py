"""A line that shows what long command is running, with an indeterminate progress bar."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar


class Activity(Horizontal):
    """Hidden while idle; `show(text)` reveals it, `show("")` hides it again."""

    def compose(self) -> ComposeResult:
        yield Label()
        yield ProgressBar(total=None, show_eta=False, show_percentage=False)

    def show(self, text: str) -> None:
        self.query_one(Label).update(Text(text))  # names a connection: not markup
        self.display = bool(text)
