"""The title line on top of every screen but the dashboard (whose header has the same
words): the run, the label, the split, the group or filter, partial or not
(`view.screen_title`). Textual shows a screen's TITLE and SUB_TITLE only in a Header, which
these screens have no room for: this one line says what the screen shows."""

from __future__ import annotations

from textual.widgets import Static

from ...view.screen_title import live_title


class TitleLine(Static):
    DEFAULT_CSS = """
    TitleLine {
        dock: top;
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground;
        text-style: bold;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)

    def show(self, text: str) -> str:
        """Show `text`; returns it (the screen's sub-title, for the command palette)."""
        self.update(text)
        return text

    def show_live(self, live, label: str | None = None, shows: str = "") -> str:
        """The title of a `LiveRun` and one of its labels (`live_title`), this screen's
        TITLE first."""
        return self.show(live_title(self.screen.TITLE or "", live, label, shows))
