"""Every key the console speaks, by binding id: the one table a keymap file overrides.

Screens build their `BINDINGS` with `bind(id, action)`, so a binding's default keys,
description and one-line explanation live here only. A user keymap (id -> keys, loaded by
the CLI from the config file) is handed to `App.set_keymap`; the CLI can check its ids
against `KEYS`. Bindings marked `writes` change the store: a read-only console hides them
and answers their keys with "read-only: …".
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    keys: str
    description: str
    explain: str
    """One line for the help screen: what the key does, and to what."""
    show: bool = True
    writes: bool = False
    """The action changes the store (refused by a read-only console)."""
    navigation: bool = False
    """Moves around rather than acts: listed after the screen's own actions in help."""


KEYS: dict[str, Key] = {
    # app-wide
    "quit": Key("q,ctrl+q", "Quit", "Leave the console (the engine keeps running)", show=False,
                navigation=True),
    "palette": Key("ctrl+p,colon", "Commands", "Search every command by name", show=False,
                   navigation=True),
    "help": Key("question_mark", "Help", "This list of keys", navigation=True),
    "notifications": Key("n", "Notifications", "The feed of problems, newest first",
                         navigation=True),
    "live": Key("p", "Pause/resume live", "Freeze the screen to read it; again to follow",
                show=False),
    "connections": Key("o", "Connections", "Connect, pause, purge; map accounts",
                       navigation=True),
    "problems": Key("exclamation_mark", "Problems", "Everything that needs a person, grouped "
                    "by platform, class, code and message", navigation=True),
    "drift": Key("d", "Drift", "What the last audit found differing between the ledger and "
                 "the platforms, both values side by side", show=False, navigation=True),
    "overview": Key("0", "Overview", "Back to the overview", show=False, navigation=True),
    "platform_1": Key("1", "Platform 1", "The first connection on the overview", show=False,
                      navigation=True),
    "platform_2": Key("2", "Platform 2", "The second connection", show=False, navigation=True),
    "platform_3": Key("3", "Platform 3", "The third connection", show=False, navigation=True),
    "platform_4": Key("4", "Platform 4", "The fourth connection", show=False, navigation=True),
    "back": Key("escape", "Back", "Close this screen", navigation=True),
    # tables
    "cursor_down": Key("j", "Down", "Next row (also down arrow)", show=False, navigation=True),
    "cursor_up": Key("k", "Up", "Previous row (also up arrow)", show=False, navigation=True),
    "top": Key("g", "Top", "First row", show=False, navigation=True),
    "bottom": Key("G", "Bottom", "Last row", show=False, navigation=True),
    "goto_row": Key("colon", "Go to row", "Jump to row N of the listing (:N, then enter)",
                    show=False, navigation=True),
    # record view
    "search": Key("slash", "Filter", "Query: status:failed class:duplicate code:6240 since:2d "
                  "text"),
    "clear_search": Key("escape", "Clear filter", "Empty the query line and clear its filter",
                        show=False),  # the line says so; the footer stays as it was
    "status_filter": Key("f", "Status", "Cycle the status: failed, pending, blocked, …"),
    "class_filter": Key("e", "Error class", "Cycle the error-class filter"),
    "sort": Key("s", "Sort", "Cycle the order: recent, label, amount, tries"),
    "mark": Key("space", "Mark", "Mark or unmark the row (or group) under the cursor",
                writes=True),
    "mark_all": Key("A", "Mark all", "Mark every match of the filter, loaded or not",
                    show=False, writes=True),
    "clear_marks": Key("U", "Unmark", "Clear every mark", show=False, writes=True),
    "retry": Key("r", "Retry", "Send the marked rows again, else the cursor row",
                 writes=True),
    "retry_matching": Key("R", "Retry all", "Send every match (or the group) again; asks first",
                          writes=True),
    "copy": Key("c", "Copy", "Copy the record and its error (works over SSH)"),
    # failure detail
    "resync": Key("y", "Resync", "Push it again (an invoice with its payments)",
                  writes=True),
    "relink": Key("l", "Re-link", "Find it on the platform by number, or re-create",
                  writes=True),
    # notifications
    "read_all": Key("m", "All read", "Mark every notification read", writes=True),
    # connections
    "connect": Key("a", "Connect", "Connect a platform (OAuth in a browser)", writes=True),
    "toggle_connection": Key("t", "Pause/resume", "Pause or resume syncing this connection",
                             writes=True),
    "disconnect": Key("D", "Disconnect", "Stop syncing; links stay (asks first)", writes=True),
    "purge": Key("X", "Purge", "Revoke; delete its links and jobs (asks first)",
                 writes=True),
    "map_accounts": Key("m", "Accounts", "Mappings: accounts, taxes, payment methods, "
                        "classes, picked from the platform's lists"),
}

WRITES = frozenset(binding_id for binding_id, key in KEYS.items() if key.writes)
"""Binding ids (equal to their action names) that a read-only console refuses."""


def bind(binding_id: str, action: str | None = None, *, priority: bool = False) -> Binding:
    """The binding `binding_id` from the table; its action defaults to the id."""
    key = KEYS[binding_id]
    return Binding(key.keys, action or binding_id, key.description, show=key.show,
                   id=binding_id, priority=priority, tooltip=key.explain)
