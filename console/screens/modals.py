"""Small modal screens: confirm a wide action, ask for one value, pick one from a platform's
list, list the keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine import Choice

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


class PickerScreen(ModalScreen[str | None]):
    """Picks one entry of a platform's own list; dismisses with its value, or None.

    There is no free text: what is typed only filters the list (by value, name or detail),
    and enter takes the highlighted entry, so nothing the platform does not know can be
    chosen. The current value starts highlighted. With a current value, the list also offers
    to remove it: that entry dismisses with ''."""

    BINDINGS = [bind("back", "cancel"),
                Binding("down", "move(1)", show=False), Binding("up", "move(-1)", show=False)]

    REMOVE = "— remove this mapping (leave it unmapped)"

    def __init__(self, question: str, choices: Iterable[Choice],
                 current: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.choices = [*choices, *([Choice("", self.REMOVE)] if current else [])]
        self.current = current
        self.shown: list[Choice] = []
        """The entries the filter leaves, in the list's order."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.question), classes="question")
            yield Input(placeholder=f"type to filter {len(self.choices)} entries")
            yield OptionList()

    def on_mount(self) -> None:
        self._show("")
        self.query_one(Input).focus()

    def _show(self, typed: str) -> None:
        words = typed.casefold().split()
        self.shown = [choice for choice in self.choices
                      if all(word in _label(choice).casefold() for word in words)]
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(Option(Text(_label(choice)), id=str(index))
                            for index, choice in enumerate(self.shown))
        values = [choice.value for choice in self.shown]
        if values:
            options.highlighted = values.index(self.current) if self.current in values else 0

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show(event.value)

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if self.shown:
            options.highlighted = ((options.highlighted or 0) + step) % len(self.shown)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        highlighted = self.query_one(OptionList).highlighted
        if highlighted is not None and self.shown:
            self.dismiss(self.shown[highlighted].value)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.shown[event.option_index].value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _label(choice: Choice) -> str:
    return choice.name if not choice.value else str(choice)


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
