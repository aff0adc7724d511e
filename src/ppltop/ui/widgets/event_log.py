"""The log pane: warnings and events, bounded, wrapped to the pane's width."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import RichLog

from ...view.live import LOG_LINES


class EventLog(RichLog):
    DEFAULT_CSS = """
    EventLog {
        border: round $primary;
        border-title-color: $primary;
        height: 1fr;
        min-height: 4;
        overflow-x: hidden;
        padding: 0 0 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        # min_width=1: RichLog otherwise renders at least 78 cells wide, which a pane beside
        # the figures never is, and cuts every line behind a horizontal scrollbar
        super().__init__(max_lines=LOG_LINES, wrap=True, min_width=1, **kwargs)
        self.border_title = "Log"
        self._shown = 0
        self._entries: deque[Text] = deque(maxlen=LOG_LINES)
        self._width = 0

    def show(self, entries: list[tuple[str, str]], total: int) -> None:
        """Write entries not yet shown; `total` counts every entry ever logged."""
        new = total - self._shown
        if new <= 0:
            return
        for level, message in entries[-new:]:
            line = Text(message) if level == "info" else Text.assemble((level, "bold"),
                                                                       ": ", message)
            self._entries.append(line)
            self.write(line)
        self._shown = total

    def next_run(self) -> None:
        """The next split of the run logs from its first entry on, under the last one's."""
        self._shown = 0

    @property
    def text(self) -> str:
        """The lines as shown, wrapped (for tests)."""
        return "\n".join(strip.text.rstrip() for strip in self.lines)

    def on_resize(self) -> None:
        """RichLog wraps a line once, when written: wrap them all again at the new width."""
        width = self.scrollable_content_region.width
        if width != self._width and self._entries:
            self._width = width
            self.clear()
            for line in self._entries:
                self.write(line)

