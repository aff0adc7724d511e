"""Line breaking for narrow panes: figures flowed between whole segments, values wrapped
between words or after a path's `/`, never inside a number or a word when it fits.

Pure functions (no widget) so that each rule is tested on its own; `FlowLine` is the Static
that re-flows its segments whenever its width changes.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from textual.widgets import Static

SEPARATOR = "   "
"""Between the segments of one flowed line (three spaces, as the panes had)."""
_BREAKS = re.compile(r"(?<=[/,])|(?= )")
"""Where a value may break: after `/` or `,`, or before a space (the space is dropped)."""


def flow(segments: list[str], width: int, separator: str = SEPARATOR) -> list[str]:
    """`segments` joined by `separator`, broken only between segments so that each line
    fits `width` cells (a segment wider than `width` gets a line of its own)."""
    lines: list[str] = []
    for segment in (s for s in segments if s):
        if lines and cell_len(lines[-1]) + cell_len(separator) + cell_len(segment) <= width:
            lines[-1] += separator + segment
        else:
            lines.append(segment)
    return lines or [""]


def wrap_value(text: str, width: int, indent: int = 0) -> list[str]:
    """`text` in lines of at most `width` cells, broken between words or after `/` and `,`
    (paths and lists); only a piece longer than a whole line is cut inside. Lines after the
    first of a paragraph start with `indent` spaces (a hanging indent)."""
    width = max(width, 1)
    indent = indent if indent < width // 2 else 0
    lines: list[str] = []
    for paragraph in text.split("\n"):
        own: list[str] = []
        line, room = "", width
        for piece in _BREAKS.split(paragraph):
            candidate = line + piece
            if cell_len(candidate) <= room or not line.strip():
                line = candidate
            else:
                own.append(line.rstrip())
                line, room = piece.lstrip(), width - indent
            while cell_len(line) > room:  # one piece longer than a line: cut it
                own.append(line[:room])
                line, room = line[room:], width - indent
        own.append(line.rstrip())
        lines += [own[0], *(" " * indent + more for more in own[1:])]
    return lines


class FlowLine(Static):
    """A line of figures that flows onto more lines when the pane is too narrow for it."""

    DEFAULT_CSS = """
    FlowLine { height: auto; width: 100%; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.segments: list[str] = []
        self._lines = 1

    @property
    def text(self) -> str:
        """What is shown, line breaks included (for tests)."""
        return "\n".join(flow(self.segments, self._width()))

    def _width(self) -> int:
        return self.size.width or 80

    def set_segments(self, segments: list[str]) -> None:
        """Show `segments`; the layout is redone only when the number of lines changes
        (most updates change a figure, not the shape: fewer bytes over SSH)."""
        self.segments = list(segments)
        lines = flow(self.segments, self._width())
        self.update("\n".join(lines), layout=len(lines) != self._lines)
        self._lines = len(lines)

    def on_resize(self) -> None:
        self.set_segments(self.segments)
