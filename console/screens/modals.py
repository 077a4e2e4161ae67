"""Small modal screens: confirm a wide action, ask for one value, list the keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..keymap import bind
from ..widgets.table import Row, Table


class ConfirmScreen(ModalScreen[bool]):
    """Asks before a wide or destructive action; `Cancel` has the focus, so enter is safe."""

    BINDINGS = [bind("back", "cancel")]

    def __init__(self, question: str, scope: str, action: str) -> None:
        super().__init__()
        self.question = question
        """What will happen, with the exact count."""
        self.scope = scope
        """Which records or connection, in words."""
        self.action = action
        """The label of the confirming button."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.question), classes="question")
            yield Static(Text(self.scope), classes="scope")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.action, id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)


class PromptScreen(ModalScreen[str | None]):
    """Asks for one value; dismisses with the stripped text, or None when cancelled."""

    BINDINGS = [bind("back", "cancel")]

    def __init__(self, question: str, placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.question), classes="question")
            yield Input(placeholder=self.placeholder)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class HelpLine:
    section: str
    key: str
    description: str
    explain: str


class HelpScreen(ModalScreen[None]):
    """The keys of the screen it was opened from: its own actions first, each with one line
    of explanation, then what works everywhere, then moving around. `q`, `?`, `esc` close."""

    BINDINGS = [bind("back", "close"), Binding("question_mark,q", "close", show=False)]

    def __init__(self, title: str, lines: Iterable[HelpLine]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)

    @property
    def keys(self) -> list[tuple[str, str]]:
        """(key, description) in the order shown."""
        return [(line.key, line.description) for line in self.lines]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label(Text(f"Keys — {self.title_text}  (q, ? or esc closes)"),
                        classes="question")
            yield Table([("key", "key", 8), ("action", "action", 17), ("does", "", None)])

    def on_mount(self) -> None:
        rows: list[Row] = []
        section = None
        for index, line in enumerate(self.lines):
            if line.section != section:
                section = line.section
                heading = Text(section, style="bold underline")
                rows.append((f"section-{index}", [Text(""), heading, Text("")]))
            rows.append((str(index), [Text(line.key, style="bold"),
                                      Text(line.description, style="bold"),
                                      Text(line.explain)]))
        table = self.query_one(Table)
        table.sync(rows)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
