"""A table that renders only the rows on screen, fetching them a page at a time.

Textual's DataTable holds every row as widgets' data and freezes past ~100k rows; this one
asks a `fetch(start, count)` callback for the visible rows only (the core pages them from
numpy arrays), so 20,000 examples or a million tokens cost the same to show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..keys import keys


@dataclass
class Column:
    title: str
    width: int
    key: str | None = None
    """Sort key passed back to the owner; None: not sortable."""
    align: str = "right"
    hide_rank: int = 0
    """0: always shown; when the table is narrower than its columns, those with the highest
    rank are hidden first (secondary figures give way at 80 columns)."""
    grow: bool = False
    """Takes the width the other columns leave (`width` is its least): a text preview."""

    def __post_init__(self) -> None:
        # the header is never cut: a sortable column keeps a cell for its ▲/▼ mark
        self.width = max(self.width, cell_len(self.title) + (self.key is not None))


TABLE_BINDINGS = [
    *keys("Move",
          Binding("up,k", "move(-1)", "Up", show=False, id="ppltop.table.up",
                  tooltip="Previous row"),
          Binding("down,j", "move(1)", "Down", show=False, id="ppltop.table.down",
                  tooltip="Next row"),
          Binding("pageup", "page(-1)", "Page up", show=False, id="ppltop.table.page_up",
                  tooltip="Previous page"),
          Binding("pagedown", "page(1)", "Page down", show=False,
                  id="ppltop.table.page_down", tooltip="Next page"),
          Binding("home", "jump(0)", "First", show=False, id="ppltop.table.home",
                  tooltip="First row"),
          Binding("end", "jump(-1)", "Last", show=False, id="ppltop.table.end",
                  tooltip="Last row")),
    *keys("Rows",
          Binding("enter", "select", "Open", id="ppltop.table.open",
                  tooltip="Open the row under the cursor"),
          Binding("s", "next_sort", "Sort", id="ppltop.table.sort",
                  tooltip="Sort by the next sortable column"),
          Binding("r", "reverse", "Reverse", show=False, id="ppltop.table.reverse",
                  tooltip="Reverse the sort order")),
]
"""Every table's keys: moving, opening the row, sorting (each with an id, for keymaps)."""


class PagedTable(ScrollView, can_focus=True):
    """Rows come from `fetch(start, count) -> list[list[str]]`; `row_count` says how many."""

    DEFAULT_CSS = """
    PagedTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    PagedTable > .paged-table--header { text-style: bold; color: $primary; }
    PagedTable > .paged-table--cursor { background: $accent 40%; }
    PagedTable:focus > .paged-table--cursor { background: $accent; color: $background; }
    """

    COMPONENT_CLASSES = {"paged-table--header", "paged-table--cursor"}

    BINDINGS = TABLE_BINDINGS

    class Selected(Message):
        """Enter on a row."""

        def __init__(self, table: PagedTable, row: int) -> None:
            super().__init__()
            self.table = table
            self.row = row

    class SortChanged(Message):
        def __init__(self, table: PagedTable, key: str, descending: bool) -> None:
            super().__init__()
            self.table = table
            self.key = key
            self.descending = descending

    def __init__(self, columns: list[Column], fetch: Callable[[int, int], list[list[str]]],
                 sort_key: str | None = None, descending: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.columns = columns
        self.fetch = fetch
        self.row_count = 0
        self.cursor = 0
        self.sort_key = sort_key
        self.descending = descending
        self._page: tuple[int, list[list[str]]] = (0, [])

    # -- data ------------------------------------------------------------------------
    def set_row_count(self, count: int, keep_cursor: bool = True) -> None:
        self.row_count = count
        if not keep_cursor:
            self.cursor = 0
        self.cursor = max(0, min(self.cursor, count - 1))
        self._page = (0, [])
        self.virtual_size = Size(self._width_of_shown(), count + 1)
        self.refresh()

    def invalidate(self) -> None:
        """Rows changed (new data or another order): fetch again on the next render."""
        self._page = (0, [])
        self.refresh()

    def _rows(self, start: int, count: int) -> list[list[str]]:
        count = max(0, min(count, self.row_count - start))
        first, rows = self._page
        if not (first <= start and start + count <= first + len(rows)):
            first = max(0, start - count)
            rows = self.fetch(first, 3 * count)
            self._page = (first, rows)
        return rows[start - first:start - first + count]

    # -- rendering -------------------------------------------------------------------
    def shown_columns(self) -> list[int]:
        """Indices of the columns that fit the table's width, hiding by `hide_rank`."""
        shown = list(range(len(self.columns)))
        width = self.size.width or 10_000
        by_rank = sorted((i for i in shown if self.columns[i].hide_rank),
                         key=lambda i: (-self.columns[i].hide_rank, -i))
        for index in by_rank:
            if sum(self.columns[i].width + 1 for i in shown) - 1 <= width:
                break
            shown.remove(index)
        return shown

    def on_resize(self) -> None:
        self.virtual_size = Size(self._width_of_shown(), self.row_count + 1)

    def _width_of_shown(self) -> int:
        """Cells the shown columns take, one between each two."""
        return sum(self.columns[i].width + 1 for i in self.shown_columns()) - 1

    def _shown_widths(self) -> list[tuple[int, int]]:
        """(column index, width) of the columns shown, a growing one widened to fill."""
        shown = self.shown_columns()
        spare = max(0, (self.size.width or 0) - self._width_of_shown())
        return [(i, self.columns[i].width + (spare if self.columns[i].grow else 0))
                for i in shown]

    def _format(self, cells: list[str]) -> str:
        """One row, each cell cut or padded to its column's width in terminal cells (a CJK
        character takes two); hidden columns left out."""
        out = []
        for column, width, cell in ((self.columns[i], w, cells[i])
                                    for i, w in self._shown_widths() if i < len(cells)):
            cell = set_cell_size(cell, min(cell_len(cell), width))
            pad = " " * (width - cell_len(cell))
            out.append(pad + cell if column.align == "right" else cell + pad)
        return " ".join(out)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            titles = []
            for c in self.columns:
                mark = ""
                if c.key is not None and c.key == self.sort_key:
                    mark = "▼" if self.descending else "▲"
                titles.append(c.title + mark)
            style = self.get_component_rich_style("paged-table--header")
            return Strip([Segment(set_cell_size(self._format(titles), width), style)]
                         ).apply_style(self.rich_style)
        scroll_y = int(self.scroll_offset.y)
        row = scroll_y + y - 1
        if row >= self.row_count:
            return Strip.blank(width, self.rich_style)
        visible = max(1, self.size.height - 1)
        page_start = scroll_y
        rows = self._rows(page_start, visible)
        index = row - page_start
        if index >= len(rows):
            return Strip.blank(width, self.rich_style)
        text = set_cell_size(self._format(rows[index]), width)
        style = (self.get_component_rich_style("paged-table--cursor") if row == self.cursor
                 else Style())
        return Strip([Segment(text, style)]).apply_style(self.rich_style)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Sorting keys only where a column can be sorted."""
        if action in ("next_sort", "reverse"):
            return any(c.key is not None for c in self.columns)
        return True

    # -- movement --------------------------------------------------------------------
    def _visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    def move_to(self, row: int) -> None:
        if self.row_count == 0:
            return
        self.cursor = max(0, min(row, self.row_count - 1))
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + self._visible_rows():
            self.scroll_to(y=self.cursor - self._visible_rows() + 1, animate=False)
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * self._visible_rows())

    def action_jump(self, where: int) -> None:
        self.move_to(0 if where == 0 else self.row_count - 1)

    def action_select(self) -> None:
        if self.row_count:
            self.post_message(self.Selected(self, self.cursor))

    def action_next_sort(self) -> None:
        keys = [c.key for c in self.columns if c.key is not None]
        if not keys:
            return
        position = keys.index(self.sort_key) if self.sort_key in keys else -1
        self.sort_key = keys[(position + 1) % len(keys)]
        self.post_message(self.SortChanged(self, self.sort_key, self.descending))
        self.refresh()

    def action_reverse(self) -> None:
        if self.sort_key is None:
            return
        self.descending = not self.descending
        self.post_message(self.SortChanged(self, self.sort_key, self.descending))
        self.refresh()
