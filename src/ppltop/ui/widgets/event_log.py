"""The log pane: warnings and events, bounded."""

from __future__ import annotations

from textual.widgets import RichLog

from ...view.live import LOG_LINES


class EventLog(RichLog):
    DEFAULT_CSS = """
    EventLog {
        border: round $primary;
        border-title-color: $primary;
        height: 1fr;
        min-height: 4;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=LOG_LINES, wrap=True, markup=True, **kwargs)
        self.border_title = "Log"
        self._shown = 0

    def show(self, entries: list[tuple[str, str]], total: int) -> None:
        """Write entries not yet shown; `total` counts every entry ever logged."""
        new = total - self._shown
        if new <= 0:
            return
        for level, message in entries[-new:]:
            text = message.replace("[", r"\[")
            self.write(f"[b]{level}[/b]: {text}" if level != "info" else text)
        self._shown = total
