"""Every key the console speaks, by binding id: the one table a keymap file overrides.

Screens build their `BINDINGS` with `bind(id, action)`, so a binding's default keys and
description live here only. A user keymap (id -> keys, loaded by the CLI from the config
file) is handed to `App.set_keymap`; the CLI can check its ids against `KEYS`.
Bindings marked `writes` change the store: a read-only console hides and refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    keys: str
    description: str
    show: bool = True
    writes: bool = False
    """The action changes the store (refused by a read-only console)."""


KEYS: dict[str, Key] = {
    # app-wide
    "quit": Key("q,ctrl+q", "Quit", show=False),
    "palette": Key("ctrl+p,colon", "Commands", show=False),
    "help": Key("question_mark", "Help"),
    "notifications": Key("n", "Notifications"),
    "live": Key("p", "Pause/resume live", show=False),
    "connections": Key("o", "Connections"),
    "overview": Key("0", "Overview", show=False),
    "platform_1": Key("1", "Platform 1", show=False),
    "platform_2": Key("2", "Platform 2", show=False),
    "platform_3": Key("3", "Platform 3", show=False),
    "platform_4": Key("4", "Platform 4", show=False),
    "back": Key("escape", "Back"),
    # tables
    "cursor_down": Key("j", "Down", show=False),
    "cursor_up": Key("k", "Up", show=False),
    "top": Key("g", "Top", show=False),
    "bottom": Key("G", "Bottom", show=False),
    # record view
    "search": Key("slash", "Search"),
    "clear_search": Key("escape", "Clear search"),
    "status_filter": Key("f", "Status"),
    "class_filter": Key("e", "Error class"),
    "sort": Key("s", "Sort"),
    "mark": Key("space", "Mark", writes=True),
    "mark_all": Key("A", "Mark all", show=False, writes=True),
    "clear_marks": Key("U", "Unmark", show=False, writes=True),
    "retry": Key("r", "Retry", writes=True),
    "retry_matching": Key("R", "Retry all", writes=True),
    "copy": Key("c", "Copy"),
    # failure detail
    "resync": Key("y", "Resync", writes=True),
    "relink": Key("l", "Re-link", writes=True),
    # notifications
    "read_all": Key("m", "All read"),
    # connections
    "connect": Key("a", "Connect", writes=True),
    "toggle_connection": Key("t", "Pause/resume", writes=True),
    "disconnect": Key("D", "Disconnect", writes=True),
    "purge": Key("X", "Purge", writes=True),
    "map_accounts": Key("m", "Accounts"),
}

WRITES = frozenset(binding_id for binding_id, key in KEYS.items() if key.writes)
"""Binding ids (equal to their action names) that a read-only console refuses."""


def bind(binding_id: str, action: str | None = None, *, priority: bool = False) -> Binding:
    """The binding `binding_id` from the table; its action defaults to the id."""
    key = KEYS[binding_id]
    return Binding(key.keys, action or binding_id, key.description, show=key.show,
                   id=binding_id, priority=priority)

