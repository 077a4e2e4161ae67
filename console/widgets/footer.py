"""The footer, rebuilt only when the screen's keys change.

Textual's footer recomposes (a widget per key, each styled: ~10 ms, far more under load)
whenever the focus moves or a screen is shown, although a screen's keys are mostly the same
before and after. This one compares what it would show first, and keeps the screen's keys
while a text line (the query line, a prompt) has the focus: there printable keys type, so
Textual drops them from the footer and puts them back on `enter`, two rebuilds per query
for keys that come back unchanged; the line's own keys are in its placeholder.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer, Input

Shown = tuple[tuple[str, str, str, bool], ...]


class KeyFooter(Footer):
    def __init__(self) -> None:
        super().__init__()
        self._shown: Shown | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self._shown is not None and isinstance(screen.focused, Input):
            return
        shown = tuple((binding.key, self.app.get_key_display(binding), binding.description,
                       enabled)
                      for _, binding, enabled, _ in screen.active_bindings.values()
                      if binding.show)
        if shown != self._shown or not self._bindings_ready:
            self._shown = shown
            super().bindings_changed(screen)
