"""The "terminal too small" screen: covers everything while the terminal is smaller than
the layout needs, and goes away when it grows again; scoring goes on underneath."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Static

MIN_WIDTH = 80
MIN_HEIGHT = 24
"""The smallest terminal every pane is laid out for (the README's "usable at 80x24")."""


def too_small(size: Size) -> bool:
    return size.width < MIN_WIDTH or size.height < MIN_HEIGHT


class TooSmallScreen(Screen[None]):
    """Says the minimum size and the current one; the app pops it when the terminal grows."""

    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; background: $background; }
    TooSmallScreen #too-small-message {
        width: 100%;
        height: auto;
        text-align: center;
        color: $warning;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(self._text(self.app.size), id="too-small-message")

    def show_size(self, size: Size) -> None:
        """Update the current size in the message (called on every resize)."""
        self.query_one("#too-small-message", Static).update(self._text(size))

    @staticmethod
    def _text(size: Size) -> str:
        return (f"Terminal too small: {size.width}x{size.height}\n"
                f"ppltop needs at least {MIN_WIDTH}x{MIN_HEIGHT}.\n"
                "Enlarge the window; scoring goes on meanwhile (q quits).")
