"""One example's tokens, colored by surprisal (or rank bucket, or entropy), with a cursor.

A `ScrollView` on the line API: the text is laid out once per width into lines of spans,
and only the visible lines are rendered. What is laid out are the core's token groups
(`token_groups`): the tokens of one CJK character or emoji form one cell, colored by the
group's figures; the cursor still steps token by token (the group stays highlighted and the
detail panel names the token's part). Widths are terminal cells, so wide characters align and
long lines wrap, never run off the edge. Newlines, tabs and control characters are shown
(`↵`, `→`, `␀`...); whitespace-only tokens (indentation) are quiet dots, not colored blocks;
chat-template tokens (role markers, end-of-turn tokens, their newlines) and special tokens are
styled as template; tokens that do not count toward the loss are dimmed.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...view.color_scale import BITS_PER_STEP, MODES, RANK_STEPS, scale_step
from ...view.document import SCORED, Document
from ..document_layout import column_of_group, group_at_column, layout
from ..surprisal_styles import SurprisalStyles, legend_text

# the help screen's legend
__all__ = ["BITS_PER_STEP", "MODES", "RANK_STEPS", "DocumentView", "legend_line"]


class DocumentView(ScrollView, can_focus=True):
    """Shows a `Document`; `cursor` is a token position."""

    DEFAULT_CSS = """
    DocumentView { height: 1fr; padding: 0 1; }
    DocumentView > .document--unscored { color: $text-muted; text-style: dim; }
    DocumentView > .document--template { text-style: italic; color: $secondary; }
    DocumentView > .document--whitespace { color: $text-muted; }
    DocumentView > .document--cursor { text-style: reverse bold; }
    """

    COMPONENT_CLASSES = {"document--unscored", "document--template", "document--whitespace",
                         "document--cursor"}

    BINDINGS = [
        Binding("left,h", "move(-1)", "Prev token", show=False, id="ppltop.doc.left",
                tooltip="Cursor to the previous token"),
        Binding("right,l", "move(1)", "Next token", show=False, id="ppltop.doc.right",
                tooltip="Cursor to the next token"),
        Binding("up,k", "line(-1)", "Line up", show=False, id="ppltop.doc.up",
                tooltip="Cursor one line up"),
        Binding("down,j", "line(1)", "Line down", show=False, id="ppltop.doc.down",
                tooltip="Cursor one line down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="ppltop.doc.page_up",
                tooltip="Cursor one page up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="ppltop.doc.page_down",
                tooltip="Cursor one page down"),
        Binding("home", "edge(0)", "Start", show=False, id="ppltop.doc.home",
                tooltip="Cursor to the first token"),
        Binding("end", "edge(1)", "End", show=False, id="ppltop.doc.end",
                tooltip="Cursor to the last token"),
    ]

    mode: reactive[str] = reactive("surprisal")
    """How tokens are colored: surprisal, rank (GLTR buckets) or entropy."""

    class CursorMoved(Message):
        def __init__(self, view: DocumentView, position: int) -> None:
            super().__init__()
            self.view = view
            self.position = position

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.document: Document | None = None
        self.cursor = 0
        self._lines: list[list[tuple[int, str]]] = []
        """Per line: (group, text) spans."""
        self._group_line: np.ndarray = np.zeros(0, dtype=np.int32)
        """Per group: the line it starts on."""
        self._layout_width = -1
        self._styles: SurprisalStyles | None = None

    # -- content ----------------------------------------------------------------------
    def show_document(self, document: Document, cursor: int = 0) -> None:
        self.document = document
        self._layout_width = -1
        self._relayout()
        self.move_to(cursor)

    def _relayout(self) -> None:
        width = max(10, self.scrollable_content_region.width)
        if self.document is None or width == self._layout_width:
            return
        self._layout_width = width
        lines, group_line = layout(self.document.groups, width)
        self._lines = lines
        self._group_line = group_line
        self.virtual_size = Size(width, len(lines))
        self.refresh()

    def _line_of(self, position: int) -> int:
        return int(self._group_line[int(self.document.groups.group[position])])

    def on_resize(self) -> None:
        self._relayout()
        self._scroll_to_cursor()

    def watch_mode(self) -> None:
        self.refresh()

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda _: self._forget_styles(), init=False)

    def _forget_styles(self) -> None:
        self._styles = None
        self.refresh()

    # -- colors -----------------------------------------------------------------------
    def _palette(self) -> SurprisalStyles:
        if self._styles is None:
            self._styles = SurprisalStyles.from_theme(self.app.theme_variables)
        return self._styles

    def _scale_styles(self) -> list[Style]:
        return self._palette().scale

    def group_step(self, g: int) -> int | None:
        """The scale step a scored group is colored with in the current mode."""
        if self.document is None:
            return None
        return scale_step(self.document, g, self.mode, len(self._scale_styles()) - 1)

    def legend(self) -> str:
        return legend_text(self.mode)

    def legend_segments(self) -> list[tuple[str, Style]]:
        return self._palette().legend_segments(self.mode)

    # -- rendering --------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._layout_width and width >= 10:  # a scrollbar came or went
            self._relayout()
        line_no = int(self.scroll_offset.y) + y
        # the theme's background and text color under every cell: an unstyled cell would
        # show the terminal's own background (dark in a light theme)
        base = self.rich_style
        if self.document is None or line_no >= len(self._lines):
            return Strip.blank(width, base)
        groups = self.document.groups
        cursor_group = int(groups.group[self.cursor]) if len(self.document) else -1
        cursor_style = self.get_component_rich_style("document--cursor")
        segments = []
        for g, text in self._lines[line_no]:
            style = self._group_style(g)
            if g == cursor_group:
                style = style + cursor_style
            segments.append(Segment(text, style))
        return Strip(segments).extend_cell_length(width).crop(0, width).apply_style(base)

    def _group_style(self, g: int) -> Style:
        groups = self.document.groups
        if groups.is_template_group(g):
            return self.get_component_rich_style("document--template")
        if groups.whitespace[g]:
            return self.get_component_rich_style("document--whitespace")
        unscored = self.get_component_rich_style("document--unscored")
        if self.mode == "diff" and self.document.group_kind(g) == SCORED:
            delta = self.document.group_delta_bits
            diff_style = None if delta is None else self._palette().diff_style(delta[g])
            return diff_style if diff_style is not None else unscored
        step = self.group_step(g)
        return self._scale_styles()[step] if step is not None else unscored

    # -- cursor -----------------------------------------------------------------------
    def move_to(self, position: int) -> None:
        if self.document is None or len(self.document) == 0:
            return
        self.cursor = int(max(0, min(position, len(self.document) - 1)))
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(self, self.cursor))

    def _scroll_to_cursor(self) -> None:
        if self.document is None or not len(self._group_line):
            return
        line = self._line_of(self.cursor)
        top = int(self.scroll_offset.y)
        height = max(1, self.scrollable_content_region.height)
        if line < top:
            self.scroll_to(y=line, animate=False)
        elif line >= top + height:
            self.scroll_to(y=line - height + 1, animate=False)

    def _token_at(self, line: int, column: int) -> int:
        """The first token of the group drawn at `column` of `line`."""
        g = group_at_column(self._lines[max(0, min(line, len(self._lines) - 1))], column)
        return self.cursor if g is None else int(self.document.groups.bounds[g])

    def _column_of_cursor(self) -> int:
        return column_of_group(self._lines[self._line_of(self.cursor)],
                               int(self.document.groups.group[self.cursor]))

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_line(self, delta: int) -> None:
        if not self._lines:
            return
        line = self._line_of(self.cursor) + delta
        while 0 <= line < len(self._lines) and not self._lines[line]:
            line += delta
        if 0 <= line < len(self._lines):
            self.move_to(self._token_at(line, self._column_of_cursor()))

    def action_page(self, direction: int) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        if not self._lines:
            return
        line = self._line_of(self.cursor) + direction * height
        line = max(0, min(line, len(self._lines) - 1))
        while 0 < line < len(self._lines) - 1 and not self._lines[line]:
            line += direction
        self.move_to(self._token_at(line, self._column_of_cursor()))

    def action_edge(self, end: int) -> None:
        if self.document is not None:
            self.move_to(len(self.document) - 1 if end else 0)


def legend_line(view: DocumentView, tail: str) -> Text:
    """The view's colors, what they mean, then `tail` (the screen's own keys)."""
    text = Text()
    for label, style in view.legend_segments():
        text.append(label, style)
    text.append(f"  {view.legend()} · {tail}")
    return text
