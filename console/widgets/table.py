"""A keyboard table: DataTable plus j/k/g/G, with rows set by key and updated in place."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from ..keymap import bind

Row = tuple[str, Sequence[Text]]
"""A row's key and its cells, in column order."""
Columns = Sequence[tuple[str, str, int | None]]
"""Each column's key, label, and width (None: fit the content)."""

NARROW_BELOW = 100
"""Terminal width (columns) below which a table shows only its `narrow` columns."""


class Table(DataTable[Text]):
    """Rows are keyed; `sync()` changes only what changed, so live refreshes do not flicker."""

    BINDINGS = [
        bind("cursor_down"),
        bind("cursor_up"),
        bind("top", "scroll_top"),
        bind("bottom", "scroll_bottom"),
    ]

    def __init__(self, columns: Columns, *, narrow: Collection[str] = (),
                 id: str | None = None, classes: str | None = None) -> None:
        """`columns`: every column a row has a cell for; `narrow`: the keys of those kept
        below `NARROW_BELOW` columns (none: the table is never narrowed)."""
        super().__init__(cursor_type="row", id=id, classes=classes)
        self.all_columns = columns
        self.narrow_keys = narrow
        self.spec = columns
        """The columns shown."""
        self._keys: list[str] = []
        self._look: tuple[object, ...] | None = None

    def notify_style_update(self) -> None:
        """Keep the drawn rows when what they are drawn with is the same. A kept screen
        shown again has every style applied again (for a theme changed meanwhile), and a
        data table then draws every cell again through rich: ~100 ms for the problems
        queue, on each `!`, for the same picture."""
        if not self.is_mounted:  # its component styles are set up as it mounts
            super().notify_style_update()
            return
        look = (self.rich_style, self.has_focus, self.app.theme,
                *(self.get_component_rich_style(name, partial=True)
                  for name in sorted(self.COMPONENT_CLASSES)))
        if look == self._look:
            Widget.notify_style_update(self)
            return
        self._look = look
        super().notify_style_update()

    def on_mount(self) -> None:
        if not self.columns:
            self._add_columns()

    def _add_columns(self) -> None:
        for key, label, width in self.spec:
            self.add_column(label, key=key, width=width)

    @property
    def narrow(self) -> bool:
        return self.spec is not self.all_columns

    def fit(self, width: int) -> bool:
        """Narrow the table (or widen it back) for a terminal `width` columns wide; True if
        that changed the columns, and the rows (dropped) must be `sync`ed again."""
        narrow = bool(self.narrow_keys) and width < NARROW_BELOW
        if narrow == self.narrow:
            return False
        self.spec = ([c for c in self.all_columns if c[0] in self.narrow_keys] if narrow
                     else self.all_columns)
        self._keys = []
        self.clear(columns=True)
        self._add_columns()
        return True

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            row_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return row_key.value

    def sync(self, rows: Sequence[Row]) -> None:
        """Show exactly `rows`: update cells in place when the keys are the same, append when
        they only grew, else rebuild and keep the cursor on the same key where it still is."""
        if self.narrow:
            shown = [i for i, column in enumerate(self.all_columns) if column in self.spec]
            rows = [(key, [cells[i] for i in shown]) for key, cells in rows]
        keys = [key for key, _ in rows]
        fit = [width is None for _, _, width in self.spec]
        columns = [key for key, _, _ in self.spec]
        with self.app.batch_update():
            if keys[: len(self._keys)] == self._keys:
                for key, cells in rows[: len(self._keys)]:
                    for column, cell, resize in zip(columns, cells, fit, strict=True):
                        if self.get_cell(key, column) != cell:
                            self.update_cell(key, column, cell, update_width=resize)
                for key, cells in rows[len(self._keys):]:
                    self.add_row(*cells, key=key)
            else:
                self._rebuild(rows)
        self._keys = keys

    def _rebuild(self, rows: Sequence[Row]) -> None:
        current, index = self.cursor_key, self.cursor_row
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if current is not None and current in self.rows:
            index = self.get_row_index(current)
        if rows:
            self.move_cursor(row=min(index, len(rows) - 1), animate=False, scroll=True)
