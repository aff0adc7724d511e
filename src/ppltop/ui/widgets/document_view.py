"""One example's tokens, colored by surprisal (or rank bucket, or entropy), with a cursor.

A `ScrollView` on the line API: the text is laid out once per width into lines of token
spans, and only the visible lines are rendered. Newlines and tabs in tokens are shown
(`↵`, `→`); tokens that do not count toward the loss are dimmed; special tokens are shown
by name in italics.
"""

from __future__ import annotations

import math

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.color import Color
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...core.document import SCORED, Document

MODES = ("surprisal", "rank", "entropy", "diff")
DIFF_NEUTRAL_BITS = 0.5
"""Diff mode: changes smaller than this are left uncolored."""
STRONG_DIFF_BITS = 4.0
"""Diff mode: changes at least this large are shown in bold."""
BITS_PER_STEP = 2.0
"""Surprisal and entropy: one color step per 2 bits (8 steps cover 0 to 16+ bits)."""
RANK_STEPS = (0, 3, 5, 7)
"""Rank buckets (top 10/100/1000/beyond) use these steps of the theme's scale."""


def visible_text(piece: str) -> list[tuple[str, bool]]:
    """Split a token's text into (text, ends_line) parts with whitespace made visible."""
    parts, current = [], ""
    for ch in piece:
        if ch == "\n":
            parts.append((current + "↵", True))
            current = ""
        elif ch == "\t":
            current += "→"
        elif ch == "\r":
            current += "␍"
        else:
            current += ch
    if current or not parts:
        parts.append((current if current else "∅", False))
    return parts


class DocumentView(ScrollView, can_focus=True):
    """Shows a `Document`; `cursor` is a token position."""

    DEFAULT_CSS = """
    DocumentView { height: 1fr; padding: 0 1; }
    DocumentView > .document--unscored { color: $text-muted; text-style: dim; }
    DocumentView > .document--special { text-style: italic; color: $secondary; }
    DocumentView > .document--cursor { text-style: reverse bold; }
    """

    COMPONENT_CLASSES = {"document--unscored", "document--special", "document--cursor"}

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
        def __init__(self, view: "DocumentView", position: int) -> None:
            super().__init__()
            self.view = view
            self.position = position

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.document: Document | None = None
        self.cursor = 0
        self._lines: list[list[tuple[int, str]]] = []
        self._token_line: np.ndarray = np.zeros(0, dtype=np.int32)
        self._layout_width = -1
        self._styles: dict | None = None

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
        lines: list[list[tuple[int, str]]] = [[]]
        used = 0
        token_line = np.zeros(len(self.document), dtype=np.int32)
        for index, piece in enumerate(self.document.pieces):
            placed = False
            for text, ends_line in visible_text(piece):
                while text:
                    room = width - used
                    if len(text) > room and used > 0:  # wrap before the token
                        lines.append([])
                        used = 0
                        continue
                    chunk, text = text[:room], text[room:]
                    if not placed:
                        token_line[index] = len(lines) - 1
                        placed = True
                    lines[-1].append((index, chunk))
                    used += len(chunk)
                if ends_line:
                    lines.append([])
                    used = 0
        self._lines = lines
        self._token_line = token_line
        self.virtual_size = Size(width, len(lines))
        self.refresh()

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
    def _scale_styles(self) -> list[Style]:
        if self._styles is None:
            variables = self.app.theme_variables
            styles = []
            step = 0
            while f"surprisal-{step}" in variables:
                bg = Color.parse(variables[f"surprisal-{step}"])
                fg = "#000000" if bg.brightness > 0.5 else "#ffffff"
                styles.append(Style(bgcolor=bg.rich_color, color=fg))
                step += 1
            diff = {}
            for key in ("diff-better", "diff-worse"):
                if key in variables:
                    bg = Color.parse(variables[key])
                    fg = "#000000" if bg.brightness > 0.5 else "#ffffff"
                    diff[key] = Style(bgcolor=bg.rich_color, color=fg)
            self._styles = {"scale": styles or [Style()], "diff": diff}
        return self._styles["scale"]

    def _diff_style(self, position: int) -> Style | None:
        doc = self.document
        delta = doc.delta_bits
        if delta is None or not math.isfinite(float(delta[position])):
            return None
        self._scale_styles()
        d = float(delta[position])
        if abs(d) < DIFF_NEUTRAL_BITS:
            return Style()
        style = self._styles["diff"].get("diff-better" if d < 0 else "diff-worse", Style())
        return style + Style(bold=True) if abs(d) >= STRONG_DIFF_BITS else style

    def step_of(self, position: int) -> int | None:
        """The scale step a scored token is colored with in the current mode."""
        doc = self.document
        if doc is None or doc.kind[position] != SCORED:
            return None
        top = len(self._scale_styles()) - 1
        if self.mode == "rank":
            bucket = int(doc.rank_buckets()[position])
            return min(RANK_STEPS[bucket], top)
        value = doc.bits[position] if self.mode == "surprisal" else doc.entropy_bits[position]
        if not math.isfinite(float(value)):
            return top
        return int(min(top, max(0, value // BITS_PER_STEP)))

    def legend(self) -> str:
        if self.mode == "rank":
            return "rank of the target (GLTR buckets)"
        if self.mode == "diff":
            return (f"Δ surprisal vs the reference; |Δ| < {DIFF_NEUTRAL_BITS} bits uncolored, "
                    "bold ≥ 4 bits")
        return f"{self.mode} in bits"

    def legend_segments(self) -> list[tuple[str, Style]]:
        styles = self._scale_styles()
        if self.mode == "diff":
            diff = self._styles["diff"]
            return [(" better ", diff.get("diff-better", Style())),
                    (" worse ", diff.get("diff-worse", Style()))]
        if self.mode == "rank":
            labels = ["top10", "top100", "top1000", "beyond"]
            return [(f" {label} ", styles[min(step, len(styles) - 1)])
                    for label, step in zip(labels, RANK_STEPS)]
        return [(f" {int(i * BITS_PER_STEP)}{'+' if i == len(styles) - 1 else ''} ", style)
                for i, style in enumerate(styles)]

    # -- rendering --------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        line_no = int(self.scroll_offset.y) + y
        if self.document is None or line_no >= len(self._lines):
            return Strip.blank(width, Style.null())
        doc = self.document
        scale = self._scale_styles()
        unscored = self.get_component_rich_style("document--unscored")
        special = self.get_component_rich_style("document--special")
        cursor_style = self.get_component_rich_style("document--cursor")
        segments = []
        for index, text in self._lines[line_no]:
            if self.mode == "diff" and doc.kind[index] == SCORED:
                diff_style = self._diff_style(index)
                step = 0 if diff_style is not None else None
                style = diff_style if diff_style is not None else unscored
            else:
                step = self.step_of(index)
                style = scale[step] if step is not None else unscored
            if doc.special[index]:
                style = style + special if step is None else style + Style(italic=True)
            if index == self.cursor:
                style = style + cursor_style
            segments.append(Segment(text, style))
        return Strip(segments).extend_cell_length(width, Style.null()).crop(0, width)

    # -- cursor -----------------------------------------------------------------------
    def move_to(self, position: int) -> None:
        if self.document is None or len(self.document) == 0:
            return
        self.cursor = int(max(0, min(position, len(self.document) - 1)))
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(self, self.cursor))

    def _scroll_to_cursor(self) -> None:
        if self.document is None or not len(self._token_line):
            return
        line = int(self._token_line[self.cursor])
        top = int(self.scroll_offset.y)
        height = max(1, self.scrollable_content_region.height)
        if line < top:
            self.scroll_to(y=line, animate=False)
        elif line >= top + height:
            self.scroll_to(y=line - height + 1, animate=False)

    def _token_at(self, line: int, column: int) -> int:
        line = max(0, min(line, len(self._lines) - 1))
        used = 0
        spans = self._lines[line]
        for index, text in spans:
            used += len(text)
            if used > column:
                return index
        return spans[-1][0] if spans else self.cursor

    def _column_of_cursor(self) -> int:
        line = int(self._token_line[self.cursor])
        used = 0
        for index, text in self._lines[line]:
            if index == self.cursor:
                return used
            used += len(text)
        return 0

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_line(self, delta: int) -> None:
        if not self._lines:
            return
        line = int(self._token_line[self.cursor]) + delta
        while 0 <= line < len(self._lines) and not self._lines[line]:
            line += delta
        if 0 <= line < len(self._lines):
            self.move_to(self._token_at(line, self._column_of_cursor()))

    def action_page(self, direction: int) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        if not self._lines:
            return
        line = int(self._token_line[self.cursor]) + direction * height
        line = max(0, min(line, len(self._lines) - 1))
        while 0 < line < len(self._lines) - 1 and not self._lines[line]:
            line += direction
        self.move_to(self._token_at(line, self._column_of_cursor()))

    def action_edge(self, end: int) -> None:
        if self.document is not None:
            self.move_to(len(self.document) - 1 if end else 0)
